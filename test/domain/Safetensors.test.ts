import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import * as Safetensors from "../../src/domain/Safetensors.ts"

const u64 = (n: number): Array<number> => Array.from({ length: 8 }, (_, i) => Math.floor(n / 2 ** (8 * i)) % 256)

const ascii = (text: string): Array<number> => Array.from(text, (c) => c.charCodeAt(0))

/** A file from a literal header text (unpadded, as older writers produce) and raw data bytes. */
const fileOf = (header: string, data: ReadonlyArray<number> = []): Uint8Array => {
  const json = new TextEncoder().encode(header)
  return Uint8Array.from([...u64(json.length), ...json, ...data])
}

const entry = (dtype: string, shape: ReadonlyArray<number>, begin: number, end: number) => ({
  dtype,
  shape,
  data_offsets: [begin, end]
})

const failureOf = (bytes: Uint8Array): Safetensors.SafetensorsIssue => {
  const result = Safetensors.decode(bytes)
  if (Result.isSuccess(result)) return assert.fail(`expected a failure, decoded ${result.success.tensors.length} tensors`)
  return result.failure
}

const successOf = (bytes: Uint8Array): Safetensors.SafetensorsFile => {
  const result = Safetensors.decode(bytes)
  if (Result.isFailure(result)) return assert.fail(`expected success, got ${result.failure._tag}: ${result.failure.message}`)
  return result.success
}

const bitsOf = (data: Safetensors.TensorData): Array<number> =>
  Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))

const sample = (): Uint8Array =>
  Safetensors.encode([
    { name: "w", shape: [2, 3], data: Float32Array.from([1, -0, NaN, 1e-45, -Infinity, 3.5]) },
    { name: "b", shape: [3], data: Float32Array.from([0.25, 2, -8]) }
  ], { note: "sample" })

const tensorSpec = fc.record({
  name: fc.string({ unit: "binary", maxLength: 12 }).filter((name) => name !== "__metadata__"),
  shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 })
}).chain(({ name, shape }) =>
  fc.array(fc.integer({ min: 0, max: 0xffffffff }), {
    minLength: shape.reduce((n, d) => n * d, 1),
    maxLength: shape.reduce((n, d) => n * d, 1)
  }).map((bits) => ({ name, shape, bits }))
)

describe("Safetensors", () => {
  it("round-trips every bit of random f32 patterns, shapes, names and metadata", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(tensorSpec, { selector: (t) => t.name, maxLength: 6 }),
        fc.dictionary(fc.string({ unit: "binary", maxLength: 8 }), fc.string({ unit: "binary", maxLength: 16 })),
        (specs, metadata) => {
          const tensors = specs.map(({ name, shape, bits }) => ({
            name,
            shape,
            data: new Float32Array(Uint32Array.from(bits).buffer)
          }))
          const bytes = Safetensors.encode(tensors, metadata)
          const headerLength = new DataView(bytes.buffer).getBigUint64(0, true)
          assert.strictEqual(Number(headerLength) % 8, 0)
          const decoded = successOf(bytes)
          assert.deepStrictEqual(decoded.tensors.map((t) => t.name), specs.map((s) => s.name))
          decoded.tensors.forEach((t, i) => {
            assert.instanceOf(t.data, Float32Array)
            assert.deepStrictEqual(t.shape, specs[i].shape)
            assert.deepStrictEqual(Array.from(new Uint32Array(t.data.buffer)), specs[i].bits)
          })
          assert.deepStrictEqual(Object.entries(decoded.metadata).sort(), Object.entries(metadata).sort())
        }
      ),
      { numRuns: 200 }
    )
  })

  it("decodes a hand-built file with known bytes", () => {
    const header = JSON.stringify({
      a: entry("F32", [2], 0, 8),
      c: entry("F64", [1, 1], 12, 20),
      b: entry("I32", [], 8, 12),
      __metadata__: { k: "v" }
    })
    const data = [
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, // F32 1, -2
      0xff, 0xff, 0xff, 0xff, // I32 -1
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xbf // F64 -1
    ]
    const file = successOf(fileOf(header, data))
    assert.deepStrictEqual(file.metadata, { k: "v" })
    assert.deepStrictEqual(file.tensors.map((t) => [t.name, t.shape]), [["a", [2]], ["b", []], ["c", [1, 1]]])
    assert.instanceOf(file.tensors[0].data, Float32Array)
    assert.deepStrictEqual(Array.from(file.tensors[0].data), [1, -2])
    assert.instanceOf(file.tensors[1].data, Int32Array)
    assert.deepStrictEqual(Array.from(file.tensors[1].data), [-1])
    assert.instanceOf(file.tensors[2].data, Float64Array)
    assert.deepStrictEqual(Array.from(file.tensors[2].data), [-1])
  })

  it("encodes to the byte layout of the spec", () => {
    const bytes = Safetensors.encode([{ name: "x", shape: [2], data: Float32Array.from([1, -2]) }], { k: "v" })
    const json = `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}`
    assert.strictEqual(json.length, 79)
    const expected = [...u64(80), ...ascii(json), 0x20, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]
    assert.deepStrictEqual(Array.from(bytes), expected)
  })

  it("keeps -0, NaN payloads and denormals in F64 and I32 tensors", () => {
    const f64 = new Float64Array(new BigUint64Array([0x7ff0000000000001n, 0x8000000000000000n, 1n]).buffer)
    const i32 = Int32Array.from([-2147483648, 0, 2147483647])
    const file = successOf(Safetensors.encode([
      { name: "f64", shape: [3], data: f64 },
      { name: "i32", shape: [3], data: i32 }
    ], {}))
    assert.deepStrictEqual(bitsOf(file.tensors[0].data), bitsOf(f64))
    assert.deepStrictEqual(Array.from(file.tensors[1].data), [-2147483648, 0, 2147483647])
  })

  it("copies a tensor that is a view into a larger buffer", () => {
    const view = new Float32Array(Float32Array.from([9, 1, 2, 9]).buffer, 4, 2)
    const file = successOf(Safetensors.encode([{ name: "v", shape: [2], data: view }], {}))
    assert.deepStrictEqual(Array.from(file.tensors[0].data), [1, 2])
  })

  it("decodes from a Node Buffer or an offset view into tensors that own their bytes", () => {
    const bytes = sample()
    const padded = new Uint8Array(bytes.length + 3)
    padded.set(bytes, 1)
    for (const input of [Buffer.from(bytes), padded.subarray(1, 1 + bytes.length)]) {
      const [w, b] = successOf(input).tensors
      assert.strictEqual(w.data.buffer.byteLength, 24)
      assert.strictEqual(b.data.buffer.byteLength, 12)
      assert.deepStrictEqual(Array.from(b.data), [0.25, 2, -8])
    }
  })

  it("rejects duplicate and reserved names and mismatched shapes when encoding", () => {
    const data = Float32Array.from([1])
    assert.throws(() => Safetensors.encode([{ name: "a", shape: [1], data }, { name: "a", shape: [1], data }], {}), /"a"/)
    assert.throws(() => Safetensors.encode([{ name: "__metadata__", shape: [1], data }], {}), /reserved/)
    assert.throws(() => Safetensors.encode([{ name: "a", shape: [2], data }], {}), /shape \[2\]/)
  })

  it("fails on every prefix truncation of a valid file", () => {
    const bytes = sample()
    const dataStart = 8 + 152
    assert.strictEqual(bytes.length, dataStart + 36)
    for (let length = 0; length < bytes.length; length++) {
      const issue = failureOf(bytes.subarray(0, length))
      const expected = length < 8 ? "FileTooShort" : length < dataStart ? "HeaderOutOfBounds" : "DataLengthMismatch"
      assert.strictEqual(issue._tag, expected, `prefix of ${length} bytes: ${issue.message}`)
    }
  })

  it("never throws on random corruption of the length prefix and header", () => {
    const bytes = sample()
    const dataStart = 8 + 152
    const tags = new Set<string>()
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: dataStart - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6
        }),
        (edits) => {
          const corrupted = bytes.slice()
          for (const [index, value] of edits) corrupted[index] = value
          const result = Safetensors.decode(corrupted)
          if (Result.isFailure(result)) {
            tags.add(result.failure._tag)
            assert.isAbove(result.failure.message.length, 0)
          }
        }
      ),
      { numRuns: 2000 }
    )
    assert.isTrue(tags.has("HeaderOutOfBounds") && tags.has("InvalidHeader"), [...tags].join(","))
  })

  describe("names what is wrong", () => {
    const w = entry("F32", [1], 0, 4)
    const cases: ReadonlyArray<readonly [string, Uint8Array, Safetensors.SafetensorsIssue["_tag"], RegExp]> = [
      ["5-byte file", new Uint8Array(5), "FileTooShort", /5 bytes/],
      ["header length past the end", Uint8Array.from([...u64(1000), ...ascii("{}")]), "HeaderOutOfBounds", /1000/],
      ["header not JSON", fileOf(`{"w": `), "InvalidHeader", /valid JSON/],
      ["header an array", fileOf(`[1, 2]`), "InvalidHeader", /Expected object/],
      ["metadata value not a string", fileOf(JSON.stringify({ __metadata__: { k: 1 } })), "InvalidMetadata", /"k"/],
      ["missing dtype", fileOf(JSON.stringify({ w: { shape: [1], data_offsets: [0, 4] } }), [0, 0, 0, 0]), "InvalidEntry", /"w".*dtype/],
      ["shape not an array", fileOf(JSON.stringify({ w: { ...w, shape: "1" } }), [0, 0, 0, 0]), "InvalidEntry", /"w".*shape/],
      ["negative dimension", fileOf(JSON.stringify({ w: { ...w, shape: [-1] } })), "InvalidEntry", /"w".*shape/],
      ["one offset", fileOf(JSON.stringify({ w: { ...w, data_offsets: [0] } })), "InvalidEntry", /"w".*data_offsets/],
      ["entry not an object", fileOf(JSON.stringify({ w: 3 })), "InvalidEntry", /"w"/],
      ["unsupported dtype", fileOf(JSON.stringify({ w: entry("BF16", [2], 0, 4) }), [0, 0, 0, 0]), "UnsupportedDtype", /"w".*BF16/],
      ["span not shape × dtype", fileOf(JSON.stringify({ w: entry("F32", [1], 0, 8) }), Array(8).fill(0)), "SizeMismatch", /"w".*8 bytes.*needs 4/],
      ["offsets backwards", fileOf(JSON.stringify({ w: entry("F32", [1], 4, 0) }), Array(4).fill(0)), "SizeMismatch", /"w"/],
      ["overlapping tensors", fileOf(JSON.stringify({ a: w, b: w }), [0, 0, 0, 0]), "Overlap", /"b".*"a"/],
      ["hole before a tensor", fileOf(JSON.stringify({ w: entry("F32", [1], 4, 8) }), Array(8).fill(0)), "Gap", /"w".*0\.\.4/],
      ["truncated data", fileOf(JSON.stringify({ w }), [0, 0]), "DataLengthMismatch", /truncated/],
      ["trailing bytes", fileOf(JSON.stringify({ w }), Array(6).fill(0)), "DataLengthMismatch", /2 trailing/]
    ]
    for (const [what, bytes, tag, message] of cases) {
      it(what, () => {
        const issue = failureOf(bytes)
        assert.strictEqual(issue._tag, tag, issue.message)
        assert.match(issue.message, message)
      })
    }
  })
})
