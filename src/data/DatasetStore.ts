/**
 * D4RL-layout HDF5 files (`observations`, `actions`, `rewards`, `terminals`, `timeouts`, optional
 * `next_observations`, `infos/*`, `metadata/*`) read and written with h5wasm, validated on load, written atomically
 * (`Files.replaceAtomically`); also the list of every dataset in a file with its shape and dtype.
 */
import { stat } from "node:fs/promises"
import { Context, Effect, Layer, Result, Schema } from "effect"
import h5wasm from "h5wasm/node"
import type { Dataset as H5Dataset, File as H5File, Group as H5Group, Metadata as H5Metadata } from "h5wasm/node"
import { attempt, Io, NotFound, replaceAtomically } from "../services/Files.ts"
import * as OfflineDataset from "./OfflineDataset.ts"

/** HDF5 (h5wasm) could not open the file, or could not read a key's data: not HDF5, truncated or corrupted. */
export class NotHdf5 extends Schema.TaggedError<NotHdf5>()("NotHdf5", { detail: Schema.String }) {
  override get message(): string {
    return `not a readable HDF5 file: ${this.detail}`
  }
}

/** Why a dataset could not be read or written: the file, or one of its keys (`OfflineDataset.DatasetIssue`). */
export const DatasetErrorReason = Schema.Union([
  NotFound,
  NotHdf5,
  Io,
  OfflineDataset.MissingKey,
  OfflineDataset.WrongShape,
  OfflineDataset.WrongDtype,
  OfflineDataset.NonFinite,
  OfflineDataset.LengthMismatch
])
export type DatasetErrorReason = typeof DatasetErrorReason.Type

/** A failed read or write of the dataset file at `path`; the message names the file, the key and the defect. */
export class DatasetError extends Schema.TaggedError<DatasetError>()("DatasetError", {
  path: Schema.String,
  reason: DatasetErrorReason
}) {
  override get message(): string {
    return `dataset ${this.path}: ${this.reason.message}`
  }
}

/** One dataset of an HDF5 file: its path below the root, its shape and a numpy-style dtype name. */
export interface KeyInfo {
  readonly key: string
  readonly shape: ReadonlyArray<number>
  /** `float32`, `int64`, `bool` (h5py's 2-member enum), `string`, `big-endian float64`, ... */
  readonly dtype: string
}

/** Options of `DatasetStore.write`. */
export interface WriteOptions {
  /** gzip level 0–9 (0: no filter, contiguous storage). Default 4, h5py's `compression="gzip"`. */
  readonly compression?: number
}

/** Reads and writes D4RL-layout HDF5 datasets on the local file system. */
export class DatasetStore extends Context.Service<DatasetStore, {
  /**
   * Reads and validates the file at `path`. Floats (f32 or f64) become Float32Array (D4RL's `qlearning_dataset`
   * casts to float32 too); h5py bools (enum int8) and integer flags become 0/1 Uint8Array; rewards, terminals and
   * timeouts may be [N] or [N, 1] (D4RL squeezes them). Keys outside the D4RL layout are ignored, as are
   * `metadata/*` entries that are neither strings, numeric scalars nor numeric arrays.
   */
  readonly read: (path: string) => Effect.Effect<OfflineDataset.OfflineDataset, DatasetError>
  /**
   * Validates `ds` and writes it in D4RL's layout (gzip-chunked float32 arrays, flags as int8 like h5py's `|b1`,
   * `metadata/*` as scalar datasets), to a temp file in the target's directory that is then renamed over `path`.
   */
  readonly write: (
    path: string,
    ds: OfflineDataset.OfflineDataset,
    options?: WriteOptions
  ) => Effect.Effect<void, DatasetError>
  /** Every dataset in the HDF5 file at `path`, depth first, whatever its layout (nothing is validated). */
  readonly keys: (path: string) => Effect.Effect<Array<KeyInfo>, DatasetError>
}>()("dgrl/services/DatasetStore") {
  static readonly layer: Layer.Layer<DatasetStore> = Layer.effect(
    DatasetStore,
    Effect.gen(function*() {
      const module = yield* Effect.promise(() => h5wasm.ready)

      const read = Effect.fn("DatasetStore.read")(
        function*(path: string) {
          return yield* withFile(path, (file) => h5Call(() => decode(module, file), (detail) => new NotHdf5({ detail })))
        },
        atPath
      )

      const write = Effect.fn("DatasetStore.write")(
        function*(path: string, ds: OfflineDataset.OfflineDataset, options?: WriteOptions) {
          yield* Effect.fromResult(OfflineDataset.validate(ds))
          const level = options?.compression ?? DEFAULT_GZIP_LEVEL
          if (!Number.isInteger(level) || level < 0 || level > 9) {
            return yield* new Io({ detail: `gzip level must be an integer in 0..9, got ${level}` })
          }
          yield* replaceAtomically(path, (temp) =>
            Effect.acquireUseRelease(
              openFile(temp, "w", () => new Io({ detail: `HDF5 could not create ${temp}` })),
              (file) => h5Call(() => encode(file, ds, level), (detail) => new Io({ detail })),
              closeFile
            ))
        },
        atPath
      )

      const keys = Effect.fn("DatasetStore.keys")(
        function*(path: string) {
          return yield* withFile(path, (file) =>
            Effect.sync(() =>
              datasetsBelow(file, "").map((e): KeyInfo => ({ key: e.key, shape: e.shape, dtype: dtypeName(e.md) }))
            ))
        },
        atPath
      )

      return DatasetStore.of({ read, write, keys })
    })
  )
}

// internal: effects

type H5Module = Awaited<typeof h5wasm.ready>

const DEFAULT_GZIP_LEVEL = 4

const atPath = <A>(effect: Effect.Effect<A, DatasetErrorReason>, path: string): Effect.Effect<A, DatasetError> =>
  Effect.mapError(effect, (reason) => new DatasetError({ path, reason }))

/** Opens the regular file at `path` read-only for `use`, and closes it. */
const withFile = <A, E>(
  path: string,
  use: (file: H5File) => Effect.Effect<A, E>
): Effect.Effect<A, E | NotFound | Io | NotHdf5> =>
  Effect.gen(function*() {
    const info = yield* attempt(`cannot stat ${path}`, () => stat(path))
    if (!info.isFile()) return yield* new NotHdf5({ detail: "not a regular file" })
    return yield* Effect.acquireUseRelease(
      openFile(path, "r", () => new NotHdf5({ detail: "HDF5 could not open it (not HDF5, or truncated)" })),
      use,
      closeFile
    )
  })

/** Runs synchronous h5wasm code returning a Result; a throw (h5wasm signals some failures so) becomes `onThrow`. */
const h5Call = <A, E>(
  run: () => Result.Result<A, E>,
  onThrow: (detail: string) => E
): Effect.Effect<A, E> =>
  Effect.try({ try: run, catch: (cause) => onThrow(cause instanceof Error ? cause.message : String(cause)) }).pipe(
    Effect.flatMap(Effect.fromResult)
  )

/** h5wasm does not throw on a failed open: the file id is negative. */
const openFile = <E>(path: string, mode: "r" | "w", onFail: () => E): Effect.Effect<H5File, E> =>
  Effect.try({ try: () => new h5wasm.File(path, mode), catch: onFail }).pipe(
    Effect.filterOrFail((file) => file.file_id >= 0n, onFail)
  )

const closeFile = (file: H5File): Effect.Effect<void> => Effect.ignore(Effect.try(() => file.close()))

// internal: HDF5 types

// HDF5 type classes (H5T_class_t).
const H5T_INTEGER = 0
const H5T_FLOAT = 1
const H5T_STRING = 3
const H5T_ENUM = 8
const CLASS_NAMES: Readonly<Record<number, string>> = {
  2: "time",
  4: "bitfield",
  5: "opaque",
  6: "compound",
  7: "reference",
  9: "vlen",
  10: "array"
}

const isH5pyBool = (md: H5Metadata): boolean =>
  md.type === H5T_ENUM && md.enum_type !== undefined && md.enum_type.nmembers === 2 &&
  md.enum_type.members.FALSE === 0 && md.enum_type.members.TRUE === 1

/** A numpy-style name for a dataset's element type, e.g. `float32`, `uint8`, `bool` (h5py's enum), `string`. */
const dtypeName = (md: H5Metadata): string => {
  const order = md.littleEndian || md.size === 1 ? "" : "big-endian "
  if (md.type === H5T_FLOAT) return `${order}float${md.size * 8}`
  if (md.type === H5T_INTEGER) return `${order}${md.signed ? "int" : "uint"}${md.size * 8}`
  if (md.type === H5T_ENUM) return isH5pyBool(md) ? "bool" : `${order}enum of ${md.size * 8}-bit integers`
  if (md.type === H5T_STRING) return "string"
  return CLASS_NAMES[md.type] ?? `HDF5 type class ${md.type}`
}

const isNativeOrder = (md: H5Metadata): boolean => md.littleEndian || md.size === 1
const isFloat = (md: H5Metadata): boolean => md.type === H5T_FLOAT && (md.size === 4 || md.size === 8) && isNativeOrder(md)
const isIntegerLike = (md: H5Metadata): boolean =>
  (md.type === H5T_INTEGER || (md.type === H5T_ENUM && md.enum_type?.type === H5T_INTEGER)) &&
  [1, 2, 4, 8].includes(md.size) && isNativeOrder(md)
const isNumeric = (md: H5Metadata): boolean => isFloat(md) || isIntegerLike(md)

/** Reads a numeric dataset's elements, checking HDF5's status (h5wasm's `.value` ignores read failures). */
const readNumeric = (
  module: H5Module,
  file: H5File,
  key: string,
  md: H5Metadata
): Result.Result<OfflineDataset.NumericArray, NotHdf5> => {
  const nbytes = md.size * md.total_size
  const pointer = module._malloc(Math.max(1, nbytes))
  if (pointer === 0) return Result.fail(new NotHdf5({ detail: `out of wasm memory reading key "${key}"` }))
  const status = module.get_dataset_data(file.file_id, `/${key}`, null, null, null, BigInt(pointer))
  const bytes = module.HEAPU8.slice(pointer, pointer + nbytes)
  module._free(pointer)
  if (status < 0) return Result.fail(new NotHdf5({ detail: `HDF5 could not read key "${key}" (corrupted or truncated data)` }))
  return Result.succeed(typedView(bytes.buffer, md))
}

const typedView = (buffer: ArrayBuffer, md: H5Metadata): OfflineDataset.NumericArray => {
  if (md.type === H5T_FLOAT) return md.size === 4 ? new Float32Array(buffer) : new Float64Array(buffer)
  switch (md.size) {
    case 1:
      return md.signed ? new Int8Array(buffer) : new Uint8Array(buffer)
    case 2:
      return md.signed ? new Int16Array(buffer) : new Uint16Array(buffer)
    case 4:
      return md.signed ? new Int32Array(buffer) : new Uint32Array(buffer)
    default:
      return md.signed ? new BigInt64Array(buffer) : new BigUint64Array(buffer)
  }
}

const toFloat32 = (data: OfflineDataset.NumericArray): Float32Array =>
  data instanceof Float32Array ? data : data instanceof Float64Array ? Float32Array.from(data) : new Float32Array(0)

const toFlags = (data: OfflineDataset.NumericArray): Uint8Array => {
  const out = new Uint8Array(data.length)
  for (let i = 0; i < data.length; i++) out[i] = data[i] ? 1 : 0
  return out
}

// internal: decoding

/** A dataset found in the file: its path below the root, its h5wasm handle, metadata and shape. */
interface Entry {
  readonly key: string
  readonly dataset: H5Dataset
  readonly md: H5Metadata
  readonly shape: ReadonlyArray<number>
}

const entry = (key: string, dataset: H5Dataset): Entry => {
  const md = dataset.metadata
  return { key, dataset, md, shape: md.shape ?? [] }
}

/** Every dataset below `group`, keys relative to it ("qpos", "policy/fc0/weight"), depth first. */
const datasetsBelow = (group: H5Group, prefix: string): Array<Entry> => {
  const out: Array<Entry> = []
  for (const name of group.keys()) {
    const child = group.get(name)
    if (child instanceof h5wasm.Dataset) out.push(entry(`${prefix}${name}`, child))
    else if (child instanceof h5wasm.Group) out.push(...datasetsBelow(child, `${prefix}${name}/`))
  }
  return out
}

const FLOAT_KEYS = ["observations", "actions", "rewards"] as const
const FLAG_KEYS = ["terminals", "timeouts"] as const
const REQUIRED_KEYS = [...FLOAT_KEYS, ...FLAG_KEYS] as const
const NEXT = "next_observations"
const FLOATS = "float32 or float64 (little-endian)"
const FLAGS = "bool or an integer type"

type Issue = OfflineDataset.DatasetIssue | NotHdf5

/** The most common leading dimension among the core keys (ties: observations' length), so one bad key is blamed. */
const consensusLength = (entries: ReadonlyArray<Entry>): number => {
  const counts = new Map<number, number>()
  for (const e of entries) counts.set(e.shape[0], (counts.get(e.shape[0]) ?? 0) + 1)
  let best = entries[0].shape[0]
  for (const [n, c] of counts) if (c > (counts.get(best) ?? 0)) best = n
  return best
}

const decode = (module: H5Module, file: H5File): Result.Result<OfflineDataset.OfflineDataset, Issue> => {
  // 1. presence: the five required keys, each a dataset
  const core = new Map<string, Entry>()
  for (const key of [...REQUIRED_KEYS, NEXT]) {
    const found = file.get(key)
    if (found instanceof h5wasm.Dataset) core.set(key, entry(key, found))
    else if (found instanceof h5wasm.Group) {
      return Result.fail(new OfflineDataset.WrongDtype({ key, expected: "a dataset", actual: "a group" }))
    } else if (key !== NEXT) return Result.fail(new OfflineDataset.MissingKey({ key }))
  }
  const get = (key: string): Entry => core.get(key)!
  const next = core.get(NEXT)

  // 2. element types
  for (const e of core.values()) {
    const isFlag = (FLAG_KEYS as ReadonlyArray<string>).includes(e.key)
    if (isFlag ? !isIntegerLike(e.md) : !isFloat(e.md)) {
      return Result.fail(
        new OfflineDataset.WrongDtype({ key: e.key, expected: isFlag ? FLAGS : FLOATS, actual: dtypeName(e.md) })
      )
    }
  }

  // 3. ranks and trailing dims
  const observationDim = get("observations").shape[1]
  for (const e of core.values()) {
    const matrix = e.key === "observations" || e.key === "actions" || e.key === NEXT
    const ok = matrix
      ? e.shape.length === 2 && (e.key !== NEXT || e.shape[1] === observationDim)
      : e.shape.length === 1 || (e.shape.length === 2 && e.shape[1] === 1)
    if (!ok) {
      const expected = e.key === NEXT && e.shape.length === 2
        ? `[N, ${observationDim}] (like observations)`
        : matrix
        ? `[N, ${e.key === "actions" ? "actionDim" : "observationDim"}]`
        : "[N] or [N, 1]"
      return Result.fail(new OfflineDataset.WrongShape({ key: e.key, expected, actual: [...e.shape] }))
    }
  }

  // 4. lengths
  const n = consensusLength([...core.values()])
  for (const e of core.values()) {
    if (e.shape[0] !== n) {
      return Result.fail(new OfflineDataset.LengthMismatch({ key: e.key, expected: n, actual: e.shape[0] }))
    }
  }

  // 5. infos/* and metadata/*
  const infosGroup = file.get("infos")
  const infoEntries = infosGroup instanceof h5wasm.Group ? datasetsBelow(infosGroup, "") : []
  for (const e of infoEntries) {
    const key = `infos/${e.key}`
    if (!isNumeric(e.md)) {
      return Result.fail(new OfflineDataset.WrongDtype({ key, expected: "a numeric type", actual: dtypeName(e.md) }))
    }
    if (e.shape.length === 0) return Result.fail(new OfflineDataset.WrongShape({ key, expected: "[N, ...]", actual: [] }))
    if (e.shape[0] !== n) return Result.fail(new OfflineDataset.LengthMismatch({ key, expected: n, actual: e.shape[0] }))
  }

  // 6. values, finiteness
  const floats: Record<string, Float32Array> = {}
  const flags: Record<string, Uint8Array> = {}
  for (const e of core.values()) {
    const values = readNumeric(module, file, e.key, e.md)
    if (Result.isFailure(values)) return Result.fail(values.failure)
    if ((FLAG_KEYS as ReadonlyArray<string>).includes(e.key)) {
      flags[e.key] = toFlags(values.success)
      continue
    }
    const data = toFloat32(values.success)
    const row = OfflineDataset.firstNonFiniteRow(data, e.shape.length === 2 ? e.shape[1] : 1)
    if (row >= 0) return Result.fail(new OfflineDataset.NonFinite({ key: e.key, index: row }))
    floats[e.key] = data
  }
  const infos: Record<string, OfflineDataset.Tensor> = {}
  for (const e of infoEntries) {
    const values = readNumeric(module, file, `infos/${e.key}`, e.md)
    if (Result.isFailure(values)) return Result.fail(values.failure)
    infos[e.key] = { data: values.success, shape: [...e.shape] }
  }
  const metadataGroup = file.get("metadata")
  const metadata: Record<string, OfflineDataset.MetadataValue> = {}
  for (const e of metadataGroup instanceof h5wasm.Group ? datasetsBelow(metadataGroup, "") : []) {
    const value = metadataValue(module, file, e)
    if (value === undefined) continue
    if (Result.isFailure(value)) return Result.fail(value.failure)
    metadata[e.key] = value.success
  }

  return Result.succeed(OfflineDataset.make({
    observationDim,
    actionDim: get("actions").shape[1],
    observations: floats.observations,
    actions: floats.actions,
    rewards: floats.rewards,
    terminals: flags.terminals,
    timeouts: flags.timeouts,
    nextObservations: next === undefined ? undefined : floats[NEXT],
    infos,
    metadata
  }))
}

/** A string, a numeric scalar (int64 and bools become numbers), a numeric array, or undefined (skipped). */
const metadataValue = (
  module: H5Module,
  file: H5File,
  e: Entry
): Result.Result<OfflineDataset.MetadataValue, NotHdf5> | undefined => {
  if (e.md.type === H5T_STRING) {
    const value = e.shape.length === 0 ? e.dataset.value : undefined
    return typeof value === "string" ? Result.succeed(value) : undefined
  }
  if (!isNumeric(e.md)) return undefined
  const values = readNumeric(module, file, `metadata/${e.key}`, e.md)
  if (Result.isFailure(values)) return Result.fail(values.failure)
  if (e.shape.length > 0) return Result.succeed({ data: values.success, shape: [...e.shape] })
  const scalar = values.success[0]
  if (scalar === undefined) return undefined // a null dataspace: nothing to keep
  return Result.succeed(typeof scalar === "bigint" ? Number(scalar) : scalar)
}

// internal: encoding

/** numpy-style type codes h5wasm understands (its parser ignores the byte count after the letter). */
const typeCode = (data: OfflineDataset.NumericArray): string => {
  if (data instanceof Float32Array) return "<f"
  if (data instanceof Float64Array) return "<d"
  if (data instanceof Int8Array) return "<b"
  if (data instanceof Uint8Array) return "<B"
  if (data instanceof Int16Array) return "<h"
  if (data instanceof Uint16Array) return "<H"
  if (data instanceof Int32Array) return "<i"
  if (data instanceof Uint32Array) return "<I"
  if (data instanceof BigInt64Array) return "<q"
  return "<Q"
}

/** h5py's bool on disk as h5wasm can write it: int8 0/1 (h5py reads it back as int8). */
const BOOL_CODE = "|b1"

/** Target bytes per chunk: h5py's `guess_chunk` aims for tens of KiB to 1 MiB. */
const CHUNK_BYTES = 1 << 18

const encode = (file: H5File, ds: OfflineDataset.OfflineDataset, level: number): Result.Result<void, Io> => {
  const groups = new Set<string>()
  const ensureGroups = (name: string): Result.Result<void, Io> => {
    const parts = name.split("/").slice(0, -1)
    for (let k = 1; k <= parts.length; k++) {
      const group = parts.slice(0, k).join("/")
      if (groups.has(group)) continue
      file.create_group(group)
      if (!(file.get(group) instanceof h5wasm.Group)) {
        return Result.fail(new Io({ detail: `HDF5 could not create group "${group}"` }))
      }
      groups.add(group)
    }
    return Result.void
  }
  const put = (
    name: string,
    data: OfflineDataset.NumericArray | string,
    shape: ReadonlyArray<number>,
    dtype: string | undefined
  ): Result.Result<void, Io> => {
    const made = ensureGroups(name)
    if (Result.isFailure(made)) return made
    if (typeof data === "string") file.create_dataset({ name, data })
    else {
      const chunked = level > 0 && shape.length > 0 && shape.every((d) => d > 0)
      const rowBytes = data.BYTES_PER_ELEMENT * OfflineDataset.elementCount(shape.slice(1))
      const rows = Math.min(shape[0], Math.max(1, Math.floor(CHUNK_BYTES / Math.max(1, rowBytes))))
      file.create_dataset({
        name,
        data,
        shape: [...shape],
        dtype: dtype ?? typeCode(data),
        ...(chunked ? { chunks: [rows, ...shape.slice(1)], compression: "gzip" as const, compression_opts: level } : {})
      })
    }
    // h5wasm reports a failed create on stderr only (HDF5-DIAG): check the dataset exists.
    return file.get(name) instanceof h5wasm.Dataset
      ? Result.void
      : Result.fail(new Io({ detail: `HDF5 could not create dataset "${name}"` }))
  }

  const n = ds.size
  const steps: Array<() => Result.Result<void, Io>> = [
    () => put("observations", ds.observations, [n, ds.observationDim], undefined),
    () => put("actions", ds.actions, [n, ds.actionDim], undefined),
    () => put("rewards", ds.rewards, [n], undefined),
    () => put("terminals", ds.terminals, [n], BOOL_CODE),
    () => put("timeouts", ds.timeouts, [n], BOOL_CODE)
  ]
  const next = ds.nextObservations
  if (next !== undefined) steps.push(() => put(NEXT, next, [n, ds.observationDim], undefined))
  for (const [key, tensor] of Object.entries(ds.infos)) {
    steps.push(() => put(`infos/${key}`, tensor.data, tensor.shape, undefined))
  }
  for (const [key, value] of Object.entries(ds.metadata)) {
    steps.push(() =>
      typeof value === "string"
        ? put(`metadata/${key}`, value, [], undefined)
        : typeof value === "number"
        ? put(`metadata/${key}`, scalarData(value), [], undefined)
        : put(`metadata/${key}`, value.data, value.shape, undefined)
    )
  }
  for (const step of steps) {
    const done = step()
    if (Result.isFailure(done)) return done
  }
  return Result.void
}

/** Integers that survive int64 (not −0) are stored as int64 like numpy's default int; other numbers as float64. */
const scalarData = (value: number): BigInt64Array | Float64Array =>
  Number.isSafeInteger(value) && !Object.is(value, -0) ? BigInt64Array.of(BigInt(value)) : Float64Array.of(value)
