/**
 * Offline RL datasets in the D4RL layout (Fu et al. 2020, `Farama-Foundation/D4RL`), in memory, and the pure
 * transforms the IQL family applies before training: `qlearning_dataset`, IQL reward scaling, action clipping, the
 * random hold-out, observation statistics and concatenation (as IQL's and SWG's reference code do).
 */
import { Result, Schema } from "effect"
import * as Rng from "../domain/Rng.ts"

/** Element storage HDF5 numeric datasets map to. */
export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array

/** A row-major n-d array: `data.length` is the product of `shape` (a scalar has shape `[]`). */
export interface Tensor {
  readonly data: NumericArray
  readonly shape: ReadonlyArray<number>
}

/** A `metadata/*` entry: a string, a numeric scalar, or an array (D4RL stores policy weights there). */
export type MetadataValue = string | number | Tensor

/**
 * A dataset of N steps in D4RL's layout. Row i is (s_i, a_i, r_i, terminal_i, timeout_i, s'_i); all arrays are
 * row-major. `terminals`/`timeouts` hold 0/1. `nextObservations` is absent for files without `next_observations`
 * (D4RL's maze2d); `qlearningTransitions` then pairs s_i with s_{i+1} as D4RL does.
 */
export interface OfflineDataset {
  /** N, the number of steps. */
  readonly size: number
  readonly observationDim: number
  readonly actionDim: number
  /** [N, observationDim] */
  readonly observations: Float32Array
  /** [N, actionDim] */
  readonly actions: Float32Array
  /** [N] */
  readonly rewards: Float32Array
  /** [N] 1 where the episode ended in a true terminal state (mask = 1 − terminal). */
  readonly terminals: Uint8Array
  /** [N] 1 where the episode was cut by the time limit (not terminal). */
  readonly timeouts: Uint8Array
  /** [N, observationDim] when the file has `next_observations`. */
  readonly nextObservations?: Float32Array | undefined
  /** `infos/<key>`: per-step arrays of shape [N, ...]; keys are paths below `infos/` (e.g. `"qpos"`, `"goal"`). */
  readonly infos: Readonly<Record<string, Tensor>>
  /** `metadata/<key>`: keys are paths below `metadata/` (e.g. `"algorithm"`, `"policy/fc0/weight"`). */
  readonly metadata: Readonly<Record<string, MetadataValue>>
}

/** The fields `make` needs; `size` is `rewards.length`, missing timeouts/infos/metadata are empty. */
export interface OfflineDatasetInput {
  readonly observationDim: number
  readonly actionDim: number
  readonly observations: Float32Array
  readonly actions: Float32Array
  readonly rewards: Float32Array
  readonly terminals: Uint8Array
  readonly timeouts?: Uint8Array | undefined
  readonly nextObservations?: Float32Array | undefined
  readonly infos?: Readonly<Record<string, Tensor>> | undefined
  readonly metadata?: Readonly<Record<string, MetadataValue>> | undefined
}

/** Builds a dataset from its arrays (no checks: use `validate`). */
export const make = (input: OfflineDatasetInput): OfflineDataset => ({
  size: input.rewards.length,
  observationDim: input.observationDim,
  actionDim: input.actionDim,
  observations: input.observations,
  actions: input.actions,
  rewards: input.rewards,
  terminals: input.terminals,
  timeouts: input.timeouts ?? new Uint8Array(input.rewards.length),
  ...(input.nextObservations === undefined ? {} : { nextObservations: input.nextObservations }),
  infos: input.infos ?? {},
  metadata: input.metadata ?? {}
})

// ---------------------------------------------------------------------------------------------------------------
// Issues: what can be wrong with a dataset's contents (the store adds NotFound / NotHdf5 / Io)

/** A required key (`observations`, `actions`, `rewards`, `terminals`, `timeouts`) is absent. */
export class MissingKey extends Schema.TaggedError<MissingKey>()("MissingKey", { key: Schema.String }) {
  override get message(): string {
    return `key "${this.key}" is missing`
  }
}

/** The key's rank or trailing dimensions are wrong; `expected` describes the shape, e.g. `"[N, 17]"`. */
export class WrongShape extends Schema.TaggedError<WrongShape>()("WrongShape", {
  key: Schema.String,
  expected: Schema.String,
  actual: Schema.Array(Schema.Number)
}) {
  override get message(): string {
    return `key "${this.key}" has shape [${this.actual.join(", ")}], expected ${this.expected}`
  }
}

/** The key's element type is wrong (e.g. an integer or string where floats belong). */
export class WrongDtype extends Schema.TaggedError<WrongDtype>()("WrongDtype", {
  key: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message(): string {
    return `key "${this.key}" has dtype ${this.actual}, expected ${this.expected}`
  }
}

/** Row `index` of the key holds a NaN or an infinity. */
export class NonFinite extends Schema.TaggedError<NonFinite>()("NonFinite", {
  key: Schema.String,
  index: Schema.Number
}) {
  override get message(): string {
    return `key "${this.key}" has a non-finite value (NaN or ±Inf) in row ${this.index}`
  }
}

/** The key has `actual` rows where `expected` (N, the length of `observations`) were due. */
export class LengthMismatch extends Schema.TaggedError<LengthMismatch>()("LengthMismatch", {
  key: Schema.String,
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `key "${this.key}" has ${this.actual} rows, expected ${this.expected} (the length of observations)`
  }
}

/** A content problem found by `validate` (and by the store's reader). */
export const DatasetIssue = Schema.Union([MissingKey, WrongShape, WrongDtype, NonFinite, LengthMismatch])
export type DatasetIssue = typeof DatasetIssue.Type

/** The first row of `data` ([rows, width]) holding a NaN or ±Inf, or −1. */
export const firstNonFiniteRow = (data: Float32Array | Float64Array, width: number): number => {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return width > 0 ? Math.floor(i / width) : 0
  return -1
}

const checkFloats = (key: string, data: Float32Array, rows: number, width: number): DatasetIssue | undefined => {
  if (data.length !== rows * width) {
    return width > 0 && data.length % width === 0
      ? new LengthMismatch({ key, expected: rows, actual: data.length / width })
      : new WrongShape({ key, expected: `[${rows}, ${width}]`, actual: [data.length] })
  }
  const row = firstNonFiniteRow(data, width)
  return row >= 0 ? new NonFinite({ key, index: row }) : undefined
}

const checkFlags = (key: string, data: Uint8Array, rows: number): DatasetIssue | undefined => {
  if (data.length !== rows) return new LengthMismatch({ key, expected: rows, actual: data.length })
  for (let i = 0; i < data.length; i++) {
    if (data[i] > 1) return new WrongDtype({ key, expected: "bool (0/1)", actual: `uint8 holding ${data[i]}` })
  }
  return undefined
}

/**
 * Checks an in-memory dataset the way the store checks a file: array lengths against N and the dims, finite
 * observations/actions/rewards/next observations, 0/1 flags, per-step infos ([N, ...]) and tensor shapes.
 */
export const validate = (ds: OfflineDataset): Result.Result<OfflineDataset, DatasetIssue> => {
  const n = ds.size
  const issue =
    (ds.rewards.length !== n ? new LengthMismatch({ key: "rewards", expected: n, actual: ds.rewards.length }) : undefined) ??
      checkFloats("observations", ds.observations, n, ds.observationDim) ??
      checkFloats("actions", ds.actions, n, ds.actionDim) ??
      checkFloats("rewards", ds.rewards, n, 1) ??
      checkFlags("terminals", ds.terminals, n) ??
      checkFlags("timeouts", ds.timeouts, n) ??
      (ds.nextObservations === undefined
        ? undefined
        : checkFloats("next_observations", ds.nextObservations, n, ds.observationDim)) ??
      checkTensors("infos", ds.infos, n) ??
      checkTensors("metadata", ds.metadata, undefined)
  return issue === undefined ? Result.succeed(ds) : Result.fail(issue)
}

const checkTensors = (
  group: string,
  entries: Readonly<Record<string, MetadataValue>>,
  rows: number | undefined
): DatasetIssue | undefined => {
  for (const [name, value] of Object.entries(entries)) {
    if (typeof value !== "object") continue
    const key = `${group}/${name}`
    if (value.data.length !== elementCount(value.shape)) {
      return new WrongShape({ key, expected: `${elementCount(value.shape)} elements`, actual: [value.data.length] })
    }
    if (rows !== undefined) {
      if (value.shape.length === 0) return new WrongShape({ key, expected: `[${rows}, ...]`, actual: [] })
      if (value.shape[0] !== rows) return new LengthMismatch({ key, expected: rows, actual: value.shape[0] })
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Rows

/** The product of a shape's dims (1 for a scalar). */
export const elementCount = (shape: ReadonlyArray<number>): number => shape.reduce((n, d) => n * d, 1)

const allocLike = (like: NumericArray, length: number): NumericArray => {
  if (like instanceof Float32Array) return new Float32Array(length)
  if (like instanceof Float64Array) return new Float64Array(length)
  if (like instanceof Int8Array) return new Int8Array(length)
  if (like instanceof Uint8Array) return new Uint8Array(length)
  if (like instanceof Int16Array) return new Int16Array(length)
  if (like instanceof Uint16Array) return new Uint16Array(length)
  if (like instanceof Int32Array) return new Int32Array(length)
  if (like instanceof Uint32Array) return new Uint32Array(length)
  if (like instanceof BigInt64Array) return new BigInt64Array(length)
  return new BigUint64Array(length)
}

const bytesOf = (data: NumericArray): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength)

/** Copies the rows `rows` (indices, each `width` elements) of `source` into a new array of the same kind, bit-exact. */
export const gatherRows = <A extends NumericArray>(source: A, width: number, rows: ArrayLike<number>): A => {
  const out = allocLike(source, rows.length * width) as A
  const rowBytes = width * source.BYTES_PER_ELEMENT
  const from = bytesOf(source)
  const to = bytesOf(out)
  // Copy runs of consecutive indices at once (qlearning and sorted splits are mostly runs).
  for (let k = 0; k < rows.length;) {
    const first = rows[k]
    let length = 1
    while (k + length < rows.length && rows[k + length] === first + length) length++
    to.set(from.subarray(first * rowBytes, (first + length) * rowBytes), k * rowBytes)
    k += length
  }
  return out
}

/** Concatenates same-kind arrays bit-exactly. */
const concatArrays = <A extends NumericArray>(parts: ReadonlyArray<A>): A => {
  const out = allocLike(parts[0], parts.reduce((n, p) => n + p.length, 0)) as A
  const to = bytesOf(out)
  let offset = 0
  for (const part of parts) {
    to.set(bytesOf(part), offset)
    offset += part.byteLength
  }
  return out
}

const rowWidth = (tensor: Tensor): number => elementCount(tensor.shape.slice(1))

/**
 * The dataset restricted to `rows` (indices into [0, N), in the given order), every per-step array including
 * `infos/*` gathered bit-exactly; metadata is kept.
 */
export const selectRows = (ds: OfflineDataset, rows: ArrayLike<number>): OfflineDataset => {
  const infos: Record<string, Tensor> = {}
  for (const [key, tensor] of Object.entries(ds.infos)) {
    infos[key] = { data: gatherRows(tensor.data, rowWidth(tensor), rows), shape: [rows.length, ...tensor.shape.slice(1)] }
  }
  return make({
    observationDim: ds.observationDim,
    actionDim: ds.actionDim,
    observations: gatherRows(ds.observations, ds.observationDim, rows),
    actions: gatherRows(ds.actions, ds.actionDim, rows),
    rewards: gatherRows(ds.rewards, 1, rows),
    terminals: gatherRows(ds.terminals, 1, rows),
    timeouts: gatherRows(ds.timeouts, 1, rows),
    nextObservations: ds.nextObservations === undefined
      ? undefined
      : gatherRows(ds.nextObservations, ds.observationDim, rows),
    infos,
    metadata: ds.metadata
  })
}

// ---------------------------------------------------------------------------------------------------------------
// D4RL qlearning_dataset

/** Options of `qlearningTransitions`. */
export interface QlearningOptions {
  /** D4RL's `terminate_on_end` (default false): keep the timeout step of each episode instead of dropping it. */
  readonly terminateOnEnd?: boolean
}

/**
 * D4RL's `qlearning_dataset(env, dataset, terminate_on_end=False)`: for i in 0..N−2, skip step i when
 * `timeouts[i]` (unless `terminateOnEnd`), else emit (s_i, a_i, r_i, s'_i, terminal_i). The last step N−1 is
 * always dropped, as D4RL's `range(N-1)` does. s'_i is `next_observations[i]` when the dataset has it and
 * s_{i+1} otherwise; D4RL always uses s_{i+1}, which differs only on terminal steps, where s_{i+1} starts the next
 * episode and the mask 1 − terminal zeroes the bootstrap anyway. Terminals are not set on timeout steps (D4RL
 * appends `done_bool` only). Infos are carried along row by row; `timeouts` of the result are those of kept steps.
 */
export const qlearningTransitions = (ds: OfflineDataset, options: QlearningOptions = {}): OfflineDataset => {
  const terminateOnEnd = options.terminateOnEnd ?? false
  const kept: Array<number> = []
  for (let i = 0; i < ds.size - 1; i++) {
    if (!terminateOnEnd && ds.timeouts[i] !== 0) continue
    kept.push(i)
  }
  const selected = selectRows(ds, kept)
  const nextObservations = ds.nextObservations === undefined
    ? gatherRows(ds.observations, ds.observationDim, kept.map((i) => i + 1))
    : selected.nextObservations
  return { ...selected, nextObservations }
}

// ---------------------------------------------------------------------------------------------------------------
// Episodes and rewards

/** Steps [start, end) of one episode, its undiscounted return and how it ended. */
export interface Episode {
  readonly start: number
  readonly end: number
  readonly return: number
  /** The last step is terminal. */
  readonly terminal: boolean
  /** The last step is a timeout. */
  readonly timeout: boolean
}

/** IQL's threshold on ‖s_{i+1} − s'_i‖ above which consecutive steps belong to different episodes. */
export const DISCONTINUITY_THRESHOLD = 1e-6

/** Whether step i ends an episode: terminal, timeout, last step, or (with next observations) s_{i+1} ≠ s'_i. */
const endsEpisode = (ds: OfflineDataset, i: number): boolean => {
  if (i === ds.size - 1 || ds.terminals[i] !== 0 || ds.timeouts[i] !== 0) return true
  const next = ds.nextObservations
  if (next === undefined) return false
  const d = ds.observationDim
  let sq = 0
  for (let k = 0; k < d; k++) {
    const diff = ds.observations[(i + 1) * d + k] - next[i * d + k]
    sq += diff * diff
  }
  return Math.sqrt(sq) > DISCONTINUITY_THRESHOLD
}

/**
 * Splits the steps into episodes, ending one on a terminal, a timeout, an observation discontinuity
 * (‖s_{i+1} − s'_i‖ > 1e-6, when next observations exist: IQL's `split_into_trajectories`) or the last step.
 * Returns are summed in f64.
 */
export const episodes = (ds: OfflineDataset): ReadonlyArray<Episode> => {
  const out: Array<Episode> = []
  let start = 0
  let ret = 0
  for (let i = 0; i < ds.size; i++) {
    ret += ds.rewards[i]
    if (endsEpisode(ds, i)) {
      out.push({ start, end: i + 1, return: ret, terminal: ds.terminals[i] !== 0, timeout: ds.timeouts[i] !== 0 })
      start = i + 1
      ret = 0
    }
  }
  return out
}

/** The smallest and largest episode return (both 0 for an empty dataset). */
export const returnRange = (ds: OfflineDataset): { readonly min: number; readonly max: number } => {
  const all = episodes(ds)
  if (all.length === 0) return { min: 0, max: 0 }
  let min = Infinity
  let max = -Infinity
  for (const e of all) {
    min = Math.min(min, e.return)
    max = Math.max(max, e.return)
  }
  return { min, max }
}

/** Replaces the rewards. */
const withRewards = (ds: OfflineDataset, rewards: Float32Array): OfflineDataset => ({ ...ds, rewards })

/**
 * IQL's locomotion reward scaling r ← r·scale/(max_return − min_return), scale 1000, with the returns of
 * `episodes`. Apply it to `qlearningTransitions(ds)` to match IQL/SWG (dropped timeout steps then show up as
 * observation discontinuities). A dataset whose returns are all equal is returned unchanged.
 */
export const iqlRewardScaling = (ds: OfflineDataset, scale = 1000): OfflineDataset => {
  const { min, max } = returnRange(ds)
  if (!(max > min)) return ds
  const factor = scale / (max - min)
  return withRewards(ds, ds.rewards.map((r) => r * factor))
}

/** IQL's antmaze reward shift r ← r − 1. */
export const antmazeRewardShift = (ds: OfflineDataset): OfflineDataset =>
  withRewards(ds, ds.rewards.map((r) => r - 1))

/** The action bound IQL-family code clips dataset actions to, so atanh / log-probs stay finite. */
export const ACTION_CLIP = 1 - 1e-5

/** Clips every action to [−bound, bound] (in f32, as numpy clips a float32 array). */
export const clipActions = (ds: OfflineDataset, bound = ACTION_CLIP): OfflineDataset => {
  const b = Math.fround(bound)
  return { ...ds, actions: ds.actions.map((a) => Math.min(b, Math.max(-b, a))) }
}

// ---------------------------------------------------------------------------------------------------------------
// Hold-out, statistics, concatenation

/** A random permutation of [0, n) (Fisher–Yates on Philox words of `key`). */
export const permutation = (n: number, key: Rng.RngKey): Uint32Array => {
  const out = new Uint32Array(n)
  for (let i = 0; i < n; i++) out[i] = i
  const words = new Uint32Array(4)
  for (let i = n - 1; i > 0; i--) {
    Rng.philox(i, key.offset, key.seed, key.stream, words)
    const j = Rng.wordToInt(words[0], i + 1)
    const t = out[i]
    out[i] = out[j]
    out[j] = t
  }
  return out
}

/**
 * A random split: `train` gets ⌊N·fraction⌋ steps (Python's `int(N * ratio)`), `holdout` the rest, chosen by a
 * permutation drawn from `key`; each part keeps the original step order. SWG holds out 5 %: `split(ds, 0.95, key)`.
 */
export const split = (
  ds: OfflineDataset,
  fraction: number,
  key: Rng.RngKey
): { readonly train: OfflineDataset; readonly holdout: OfflineDataset } => {
  const order = permutation(ds.size, key)
  const cut = Math.min(ds.size, Math.max(0, Math.floor(ds.size * fraction)))
  const ascending = (a: number, b: number) => a - b
  return {
    train: selectRows(ds, order.slice(0, cut).sort(ascending)),
    holdout: selectRows(ds, order.slice(cut).sort(ascending))
  }
}

/** Per-dimension mean and standard deviation (population, ddof 0) of the observations, each [observationDim]. */
export interface ObservationStatistics {
  readonly mean: Float32Array
  readonly std: Float32Array
}

/** Mean and std of the observations over all N steps, accumulated in f64 (numpy's `mean(0)`, `std(0)`). */
export const observationStatistics = (ds: OfflineDataset): ObservationStatistics => {
  const d = ds.observationDim
  const sum = new Float64Array(d)
  for (let i = 0; i < ds.observations.length; i++) sum[i % d] += ds.observations[i]
  const mean = sum.map((s) => s / Math.max(1, ds.size))
  const sq = new Float64Array(d)
  for (let i = 0; i < ds.observations.length; i++) sq[i % d] += (ds.observations[i] - mean[i % d]) ** 2
  return { mean: Float32Array.from(mean), std: Float32Array.from(sq, (s) => Math.sqrt(s / Math.max(1, ds.size))) }
}

/** Observations and next observations mapped to (s − mean)/(std + epsilon) (TD3+BC / CORL uses epsilon 1e-3). */
export const normalizeObservations = (
  ds: OfflineDataset,
  stats: ObservationStatistics,
  epsilon = 1e-3
): OfflineDataset => {
  const d = ds.observationDim
  const apply = (xs: Float32Array) => xs.map((x, i) => (x - stats.mean[i % d]) / (stats.std[i % d] + epsilon))
  return {
    ...ds,
    observations: apply(ds.observations),
    nextObservations: ds.nextObservations === undefined ? undefined : apply(ds.nextObservations)
  }
}

/**
 * Concatenates datasets step-wise (D4RL's medium-expert is medium followed by expert). Next observations are kept
 * when every part has them; an info key is kept when every part has it with the same trailing shape and kind;
 * metadata is the first part's. Throws a RangeError on caller bugs: no parts, or differing dims.
 */
export const concat = (parts: ReadonlyArray<OfflineDataset>): OfflineDataset => {
  if (parts.length === 0) throw new RangeError("OfflineDataset.concat: no datasets")
  const first = parts[0]
  for (const p of parts) {
    if (p.observationDim !== first.observationDim || p.actionDim !== first.actionDim) {
      throw new RangeError(
        `OfflineDataset.concat: dims (${p.observationDim}, ${p.actionDim}) differ from (${first.observationDim}, ${first.actionDim})`
      )
    }
  }
  const nexts = parts.map((p) => p.nextObservations)
  const infos: Record<string, Tensor> = {}
  for (const [key, tensor] of Object.entries(first.infos)) {
    const trailing = tensor.shape.slice(1).join(",")
    const all = parts.map((p) => p.infos[key])
    if (
      all.every((t) =>
        t !== undefined && t.shape.slice(1).join(",") === trailing && t.data.constructor === tensor.data.constructor
      )
    ) {
      infos[key] = {
        data: concatArrays(all.map((t) => t.data)),
        shape: [all.reduce((n, t) => n + t.shape[0], 0), ...tensor.shape.slice(1)]
      }
    }
  }
  return make({
    observationDim: first.observationDim,
    actionDim: first.actionDim,
    observations: concatArrays(parts.map((p) => p.observations)),
    actions: concatArrays(parts.map((p) => p.actions)),
    rewards: concatArrays(parts.map((p) => p.rewards)),
    terminals: concatArrays(parts.map((p) => p.terminals)),
    timeouts: concatArrays(parts.map((p) => p.timeouts)),
    nextObservations: nexts.every((x): x is Float32Array => x !== undefined) ? concatArrays(nexts) : undefined,
    infos,
    metadata: first.metadata
  })
}
