/**
 * The safetensors format (https://github.com/huggingface/safetensors#format), by hand: tensor bytes are
 * copied, never read as numbers, so every bit survives. Typed arrays use host order: little-endian hosts only.
 */
import { Result, Schema } from "effect"

/** Element types this module reads; encode writes whichever matches the typed array. */
export type Dtype = "F32" | "F64" | "I32"

/** Tensor storage for the supported dtypes. */
export type TensorData = Float32Array | Float64Array | Int32Array

/** A named tensor: `data` holds the product of `shape` elements in row-major order. */
export interface Tensor<Data extends TensorData = TensorData> {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly data: Data
}

/** The contents of a safetensors file: tensors in data-section order, plus string metadata. */
export interface SafetensorsFile {
  readonly tensors: ReadonlyArray<Tensor>
  readonly metadata: Record<string, string>
}

/** What `decode` found wrong with a file; `message` names the tensor where one is at fault. */
export interface SafetensorsIssue {
  readonly _tag:
    | "FileTooShort"
    | "HeaderOutOfBounds"
    | "InvalidHeader"
    | "InvalidMetadata"
    | "InvalidEntry"
    | "UnsupportedDtype"
    | "SizeMismatch"
    | "Overlap"
    | "Gap"
    | "DataLengthMismatch"
  readonly message: string
}

const METADATA_KEY = "__metadata__"
const PREFIX_BYTES = 8
const ALIGNMENT = 8

const dtypes = {
  F32: { bytes: 4, make: (buffer: ArrayBuffer) => new Float32Array(buffer) },
  F64: { bytes: 8, make: (buffer: ArrayBuffer) => new Float64Array(buffer) },
  I32: { bytes: 4, make: (buffer: ArrayBuffer) => new Int32Array(buffer) }
} as const

const isDtype = (dtype: string): dtype is Dtype => Object.hasOwn(dtypes, dtype)

const dtypeOf = (data: TensorData): Dtype =>
  data instanceof Float32Array ? "F32" : data instanceof Float64Array ? "F64" : "I32"

const elementCount = (shape: ReadonlyArray<number>): number => shape.reduce((n, d) => n * d, 1)

/**
 * Encodes tensors (in the given order, contiguous) and metadata into safetensors bytes.
 * Throws a RangeError on caller bugs: a duplicate or reserved (`__metadata__`) name, or data
 * whose length is not the product of the shape.
 */
export const encode = (tensors: ReadonlyArray<Tensor>, metadata: Record<string, string>): Uint8Array => {
  const names = new Set<string>([METADATA_KEY])
  let offset = 0
  const entries = tensors.map((t) => {
    if (names.has(t.name)) throw new RangeError(`safetensors: duplicate or reserved tensor name "${t.name}"`)
    names.add(t.name)
    if (t.data.length !== elementCount(t.shape)) {
      throw new RangeError(`safetensors: tensor "${t.name}" has ${t.data.length} elements, shape [${t.shape}]`)
    }
    const begin = offset
    offset += t.data.byteLength
    return [t.name, { dtype: dtypeOf(t.data), shape: t.shape, data_offsets: [begin, offset] }] as const
  })
  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries([...entries, [METADATA_KEY, metadata]])))
  const headerLength = Math.ceil(json.length / ALIGNMENT) * ALIGNMENT
  const bytes = new Uint8Array(PREFIX_BYTES + headerLength + offset)
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerLength), true)
  bytes.set(json, PREFIX_BYTES)
  bytes.fill(0x20, PREFIX_BYTES + json.length, PREFIX_BYTES + headerLength)
  let position = PREFIX_BYTES + headerLength
  for (const { data } of tensors) {
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position)
    position += data.byteLength
  }
  return bytes
}

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const decodeHeaderJson = Schema.decodeUnknownResult(Schema.fromJsonString(Schema.Record(Schema.String, Schema.Unknown)))
const decodeMetadata = Schema.decodeUnknownResult(Schema.Record(Schema.String, Schema.String))
const decodeEntry = Schema.decodeUnknownResult(Schema.Struct({
  dtype: Schema.String,
  shape: Schema.Array(NonNegativeInt),
  data_offsets: Schema.Tuple([NonNegativeInt, NonNegativeInt])
}))

const issue = (_tag: SafetensorsIssue["_tag"], message: string): Result.Result<never, SafetensorsIssue> =>
  Result.fail({ _tag, message })

const oneLine = (error: Schema.SchemaError): string => error.message.replace(/\n\s*/g, " ")

interface Entry {
  readonly name: string
  readonly dtype: Dtype
  readonly shape: ReadonlyArray<number>
  readonly begin: number
  readonly end: number
}

const checkEntry = (name: string, raw: unknown): Result.Result<Entry, SafetensorsIssue> => {
  const decoded = decodeEntry(raw)
  if (Result.isFailure(decoded)) return issue("InvalidEntry", `tensor "${name}": ${oneLine(decoded.failure)}`)
  const { dtype, shape, data_offsets: [begin, end] } = decoded.success
  if (!isDtype(dtype)) return issue("UnsupportedDtype", `tensor "${name}": unsupported dtype ${dtype}`)
  const size = elementCount(shape) * dtypes[dtype].bytes
  if (end - begin !== size) {
    return issue(
      "SizeMismatch",
      `tensor "${name}": data_offsets [${begin}, ${end}] span ${end - begin} bytes, ${dtype} [${shape}] needs ${size}`
    )
  }
  return Result.succeed({ name, dtype, shape, begin, end })
}

/** Decodes safetensors bytes; never throws, and reports the first problem found as a `SafetensorsIssue`. */
export const decode = (bytes: Uint8Array): Result.Result<SafetensorsFile, SafetensorsIssue> => {
  if (bytes.length < PREFIX_BYTES) {
    return issue("FileTooShort", `file is ${bytes.length} bytes, shorter than the 8-byte header length`)
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, PREFIX_BYTES).getBigUint64(0, true)
  if (headerLength > BigInt(bytes.length - PREFIX_BYTES)) {
    return issue("HeaderOutOfBounds", `header length ${headerLength} runs past the end of the ${bytes.length}-byte file`)
  }
  const dataStart = PREFIX_BYTES + Number(headerLength)
  const text = new TextDecoder().decode(bytes.subarray(PREFIX_BYTES, dataStart))
  const header = decodeHeaderJson(text)
  if (Result.isFailure(header)) return issue("InvalidHeader", `invalid header: ${oneLine(header.failure)}`)
  let metadata: Record<string, string> = {}
  const entries: Array<Entry> = []
  for (const [name, raw] of Object.entries(header.success)) {
    if (name === METADATA_KEY) {
      const decoded = decodeMetadata(raw)
      if (Result.isFailure(decoded)) return issue("InvalidMetadata", `__metadata__: ${oneLine(decoded.failure)}`)
      metadata = { ...decoded.success }
      continue
    }
    const entry = checkEntry(name, raw)
    if (Result.isFailure(entry)) return Result.fail(entry.failure)
    entries.push(entry.success)
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end)
  let expected = 0
  let previous = "start of data"
  for (const entry of entries) {
    if (entry.begin < expected) {
      return issue("Overlap", `tensor "${entry.name}" at [${entry.begin}, ${entry.end}] overlaps ${previous}`)
    }
    if (entry.begin > expected) {
      return issue("Gap", `tensor "${entry.name}" starts at ${entry.begin}, leaving bytes ${expected}..${entry.begin} unused`)
    }
    expected = entry.end
    previous = `tensor "${entry.name}"`
  }
  const dataLength = bytes.length - dataStart
  if (dataLength !== expected) {
    const what = dataLength < expected ? "truncated" : `${dataLength - expected} trailing bytes`
    return issue("DataLengthMismatch", `data section is ${dataLength} bytes, offsets need ${expected} (${what})`)
  }
  const tensors = entries.map(({ name, dtype, shape, begin, end }): Tensor => ({
    name,
    shape,
    data: dtypes[dtype].make(new Uint8Array(bytes.subarray(dataStart + begin, dataStart + end)).buffer)
  }))
  return Result.succeed({ tensors, metadata })
}
