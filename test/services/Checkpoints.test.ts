import { assert, describe, layer } from "@effect/vitest"
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import * as Safetensors from "../../src/domain/Safetensors.ts"
import { type Checkpoint, CheckpointError, Checkpoints } from "../../src/services/Checkpoints.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "dgrl-checkpoints-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const bitsOf = (data: Safetensors.TensorData): Array<number> =>
  Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))

const checkpoint = (step: number, first: number): Checkpoint => ({
  header: {
    format: "dgrl-checkpoint/1",
    architecture: { kind: "mlp", widths: [3, 8, 2], activation: "silu" },
    config: { lr: 0.0003, schedule: "cosine", nested: { beta: null, flags: [true, false] } },
    step,
    rng: { seed: 42, counter: 1234 },
    createdBy: "Checkpoints.test"
  },
  tensors: [
    {
      name: "layer0.weight",
      shape: [2, 3],
      data: new Float32Array(Uint32Array.from([0x7fc00001, 0x7f800001, 0xff800000, 0x80000000, 0x00000001, first]).buffer)
    },
    { name: "layer0.bias", shape: [3], data: Float32Array.from([0.1, -0.2, 0.3]) }
  ]
})

/** A safetensors file carrying `header` (any JSON) as the checkpoint header. */
const rawCheckpoint = (header: unknown): Uint8Array =>
  Safetensors.encode([{ name: "w", shape: [1], data: Float32Array.from([1]) }], { header: JSON.stringify(header) })

const loadError = (path: string) =>
  Effect.gen(function*() {
    const checkpoints = yield* Checkpoints
    const error = yield* Effect.flip(checkpoints.load(path))
    assert.instanceOf(error, CheckpointError)
    assert.strictEqual(error.path, path)
    assert.include(error.message, path)
    return error
  })

describe("Checkpoints", () => {
  layer(Checkpoints.layer)((it) => {
    it.effect("round-trips header and tensor bits, leaving only the target file", () =>
      Effect.gen(function*() {
        const checkpoints = yield* Checkpoints
        const dir = yield* tempDir
        const path = join(dir, "runs", "a", "step-12.safetensors")
        const saved = checkpoint(12, 0x40490fdb)
        yield* checkpoints.save(path, saved)
        const loaded = yield* checkpoints.load(path)
        assert.deepStrictEqual(loaded.header, saved.header)
        assert.deepStrictEqual(loaded.tensors.map((t) => [t.name, t.shape]), [["layer0.weight", [2, 3]], ["layer0.bias", [3]]])
        loaded.tensors.forEach((t, i) => {
          assert.instanceOf(t.data, Float32Array)
          assert.deepStrictEqual(bitsOf(t.data), bitsOf(saved.tensors[i].data))
        })
        assert.deepStrictEqual(yield* Effect.promise(() => readdir(join(dir, "runs", "a"))), ["step-12.safetensors"])
      }))

    it.effect("overwrites an existing checkpoint and leaves no temp files", () =>
      Effect.gen(function*() {
        const checkpoints = yield* Checkpoints
        const dir = yield* tempDir
        const path = join(dir, "latest.safetensors")
        yield* checkpoints.save(path, checkpoint(1, 1))
        yield* checkpoints.save(path, checkpoint(2, 2))
        const loaded = yield* checkpoints.load(path)
        assert.strictEqual(loaded.header.step, 2)
        assert.deepStrictEqual(Array.from(new Uint32Array(loaded.tensors[0].data.buffer)).slice(5), [2])
        assert.deepStrictEqual(yield* Effect.promise(() => readdir(dir)), ["latest.safetensors"])
      }))

    it.effect("reports a truncated file as Corrupted", () =>
      Effect.gen(function*() {
        const checkpoints = yield* Checkpoints
        const dir = yield* tempDir
        const path = join(dir, "truncated.safetensors")
        yield* checkpoints.save(path, checkpoint(3, 3))
        const bytes = yield* Effect.promise(() => readFile(path))
        yield* Effect.promise(() => writeFile(path, bytes.subarray(0, bytes.length - 5)))
        const error = yield* loadError(path)
        assert.strictEqual(error.reason._tag, "Corrupted")
        if (error.reason._tag === "Corrupted") assert.strictEqual(error.reason.issue, "DataLengthMismatch")
        assert.include(error.message, "truncated")
      }))

    it.effect("reports corrupted header bytes as Corrupted", () =>
      Effect.gen(function*() {
        const checkpoints = yield* Checkpoints
        const dir = yield* tempDir
        const path = join(dir, "garbled.safetensors")
        yield* checkpoints.save(path, checkpoint(3, 3))
        const bytes = yield* Effect.promise(() => readFile(path))
        bytes[8] = 0x78
        yield* Effect.promise(() => writeFile(path, bytes))
        const error = yield* loadError(path)
        assert.strictEqual(error.reason._tag, "Corrupted")
        if (error.reason._tag === "Corrupted") assert.strictEqual(error.reason.issue, "InvalidHeader")
      }))

    it.effect("rejects headers that fail the schema, naming the field", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const valid = checkpoint(0, 0).header
        const { rng: _, ...noRng } = valid
        const cases = [
          ["negative-step", { ...valid, step: -1 }, /\["step"\]/],
          ["no-rng", noRng, /Missing key at \["rng"\]/],
          ["wrong-format", { ...valid, format: "dgrl-checkpoint/2" }, /\["format"\]/],
          ["fractional-counter", { ...valid, rng: { seed: 1, counter: 0.5 } }, /\["rng"\]\["counter"\]/]
        ] as const
        for (const [name, header, field] of cases) {
          const path = join(dir, `${name}.safetensors`)
          yield* Effect.promise(() => writeFile(path, rawCheckpoint(header)))
          const error = yield* loadError(path)
          assert.strictEqual(error.reason._tag, "InvalidHeader", name)
          assert.match(error.message, field)
        }
        const bare = join(dir, "bare.safetensors")
        yield* Effect.promise(() => writeFile(bare, Safetensors.encode([], { other: "x" })))
        const error = yield* loadError(bare)
        assert.strictEqual(error.reason._tag, "InvalidHeader")
        assert.include(error.message, "__metadata__")
      }))

    it.effect("refuses to save an invalid header and keeps the old file", () =>
      Effect.gen(function*() {
        const checkpoints = yield* Checkpoints
        const dir = yield* tempDir
        const path = join(dir, "keep.safetensors")
        yield* checkpoints.save(path, checkpoint(5, 5))
        const before = yield* Effect.promise(() => readFile(path))
        const bad = checkpoint(6, 6)
        const error = yield* Effect.flip(checkpoints.save(path, { ...bad, header: { ...bad.header, step: -1 } }))
        assert.strictEqual(error.reason._tag, "InvalidHeader")
        assert.include(error.message, "step")
        assert.deepStrictEqual(yield* Effect.promise(() => readFile(path)), before)
        assert.deepStrictEqual(yield* Effect.promise(() => readdir(dir)), ["keep.safetensors"])
      }))

    it.effect("reports a missing file as NotFound", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const path = join(dir, "nope", "missing.safetensors")
        const error = yield* loadError(path)
        assert.strictEqual(error.reason._tag, "NotFound")
        assert.strictEqual(error.message, `checkpoint ${path}: no such file`)
      }))

    it.effect("fails with Io when the parent is a file, creating nothing", () =>
      Effect.gen(function*() {
        const checkpoints = yield* Checkpoints
        const dir = yield* tempDir
        const parent = join(dir, "plain-file")
        yield* Effect.promise(() => writeFile(parent, "not a directory"))
        const path = join(parent, "model.safetensors")
        const error = yield* Effect.flip(checkpoints.save(path, checkpoint(1, 1)))
        assert.strictEqual(error.reason._tag, "Io")
        assert.include(error.message, path)
        assert.deepStrictEqual(yield* Effect.promise(() => readdir(dir)), ["plain-file"])
        assert.strictEqual(yield* Effect.promise(() => readFile(parent, "utf8")), "not a directory")
      }))

    it.effect("removes the temp file when the final rename fails", () =>
      Effect.gen(function*() {
        const checkpoints = yield* Checkpoints
        const dir = yield* tempDir
        const path = join(dir, "occupied")
        yield* Effect.promise(() => mkdir(path))
        yield* Effect.promise(() => writeFile(join(path, "inside"), "kept"))
        const error = yield* Effect.flip(checkpoints.save(path, checkpoint(1, 1)))
        assert.strictEqual(error.reason._tag, "Io")
        assert.include(error.message, "rename")
        assert.deepStrictEqual(yield* Effect.promise(() => readdir(dir)), ["occupied"])
        assert.strictEqual(yield* Effect.promise(() => readFile(join(path, "inside"), "utf8")), "kept")
      }))
  })
})
