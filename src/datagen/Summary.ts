/**
 * What a generated or inspected dataset holds: keys with shapes and dtypes, episodes split the D4RL way
 * (terminals | timeouts), return statistics and D4RL normalised scores (reference returns of d4rl/infos.py).
 */
import { Schema } from "effect"
import * as OfflineDataset from "../data/OfflineDataset.ts"
import * as Environment from "../env/Environment.ts"

/** One HDF5 dataset of the file. */
export const KeyInfo = Schema.Struct({
  key: Schema.String,
  shape: Schema.Array(Schema.Int),
  /** numpy-style name: float32, float64, int8, bool, string... */
  dtype: Schema.String
})
export type KeyInfo = typeof KeyInfo.Type

/** Mean, std (population), min and max. */
export const Statistics = Schema.Struct({
  mean: Schema.Finite,
  std: Schema.Finite,
  min: Schema.Finite,
  max: Schema.Finite
})
export type Statistics = typeof Statistics.Type

/** How the data's behaviour scores on the task, and how that was measured. */
export const BehaviourScore = Schema.Struct({
  /** Mean undiscounted return per task episode. */
  return: Schema.Finite,
  /** D4RL normalised score of `return`, in percent. */
  normalizedScore: Schema.Finite,
  /** E.g. "complete episodes of the data" or "20 evaluation episodes of the noisy controller to the goal". */
  source: Schema.String
})
export type BehaviourScore = typeof BehaviourScore.Type

/** A dataset's summary. */
export const DatasetSummary = Schema.Struct({
  name: Schema.String,
  path: Schema.String,
  /** The task of metadata/env_name (e.g. "hopper-v2"), when known. */
  task: Schema.optionalKey(Schema.String),
  size: Schema.Int,
  observationDim: Schema.Int,
  actionDim: Schema.Int,
  keys: Schema.Array(KeyInfo),
  terminals: Schema.Int,
  timeouts: Schema.Int,
  /** Episodes ending in a terminal or a timeout (maze2d: segments between targets). */
  episodes: Schema.Int,
  /** Rows after the last terminal/timeout (D4RL cuts the last episode at the dataset size). */
  unfinishedSteps: Schema.Int,
  /** Undiscounted returns of those episodes. */
  returns: Schema.optionalKey(Statistics),
  /** D4RL normalised scores of those returns (locomotion only: maze2d segments are not task episodes). */
  normalizedScores: Schema.optionalKey(Statistics),
  /** Mean reward per step over all rows. */
  meanReward: Schema.Finite,
  behaviour: Schema.optionalKey(BehaviourScore),
  /** Seconds the generation took (ARS training excluded), when generated. */
  seconds: Schema.optionalKey(Schema.Finite)
})
export type DatasetSummary = typeof DatasetSummary.Type

/** Statistics of a non-empty list. */
export const statistics = (xs: ReadonlyArray<number>): Statistics | undefined => {
  if (xs.length === 0) return undefined
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length
  const std = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length)
  return { mean, std, min: xs.reduce((m, x) => Math.min(m, x), Infinity), max: xs.reduce((m, x) => Math.max(m, x), -Infinity) }
}

/** The keys a dataset is written with by `DatasetStore` (floats f32, flags as h5py bools, metadata as given). */
export const keysOf = (ds: OfflineDataset.OfflineDataset): Array<KeyInfo> => {
  const n = ds.size
  const keys: Array<KeyInfo> = [
    { key: "observations", shape: [n, ds.observationDim], dtype: "float32" },
    { key: "actions", shape: [n, ds.actionDim], dtype: "float32" },
    { key: "rewards", shape: [n], dtype: "float32" },
    { key: "terminals", shape: [n], dtype: "bool" },
    { key: "timeouts", shape: [n], dtype: "bool" }
  ]
  if (ds.nextObservations !== undefined) keys.push({ key: "next_observations", shape: [n, ds.observationDim], dtype: "float32" })
  for (const [key, tensor] of Object.entries(ds.infos)) {
    keys.push({ key: `infos/${key}`, shape: [...tensor.shape], dtype: dtypeOf(tensor.data) })
  }
  for (const [key, value] of Object.entries(ds.metadata)) {
    keys.push({
      key: `metadata/${key}`,
      shape: typeof value === "object" ? [...value.shape] : [],
      dtype: typeof value === "string"
        ? "string"
        : typeof value === "number"
        ? Number.isSafeInteger(value) && !Object.is(value, -0) ? "int64" : "float64"
        : dtypeOf(value.data)
    })
  }
  return keys.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

/** numpy's name of a typed array's element type. */
export const dtypeOf = (data: OfflineDataset.NumericArray): string =>
  data instanceof Float32Array
    ? "float32"
    : data instanceof Float64Array
    ? "float64"
    : data instanceof Int8Array
    ? "int8"
    : data instanceof Uint8Array
    ? "uint8"
    : data instanceof Int16Array
    ? "int16"
    : data instanceof Uint16Array
    ? "uint16"
    : data instanceof Int32Array
    ? "int32"
    : data instanceof Uint32Array
    ? "uint32"
    : data instanceof BigInt64Array
    ? "int64"
    : "uint64"

/**
 * Summarises `ds`. Episodes end at terminals or timeouts (D4RL's sequence_dataset); `task` (default
 * metadata/env_name) gives normalised scores for locomotion tasks ("-v2").
 */
export const summarize = (
  ds: OfflineDataset.OfflineDataset,
  options: {
    readonly name: string
    readonly path: string
    readonly keys?: ReadonlyArray<KeyInfo>
    readonly behaviour?: BehaviourScore
    readonly seconds?: number
  }
): DatasetSummary => {
  const envName = ds.metadata.env_name
  const task = typeof envName === "string" ? envName : undefined
  const returns: Array<number> = []
  let ret = 0
  let last = -1
  let terminals = 0
  let timeouts = 0
  let rewardSum = 0
  for (let i = 0; i < ds.size; i++) {
    ret += ds.rewards[i]
    rewardSum += ds.rewards[i]
    terminals += ds.terminals[i]
    timeouts += ds.timeouts[i]
    if (ds.terminals[i] !== 0 || ds.timeouts[i] !== 0) {
      returns.push(ret)
      ret = 0
      last = i
    }
  }
  const returnStats = statistics(returns)
  const scored = task !== undefined && Environment.isScoredTask(task) && task.endsWith("-v2") ? task : undefined
  const scoreStats = scored === undefined
    ? undefined
    : statistics(returns.map((r) => Environment.normalizedScore(scored, r)))
  return {
    name: options.name,
    path: options.path,
    ...(task === undefined ? {} : { task }),
    size: ds.size,
    observationDim: ds.observationDim,
    actionDim: ds.actionDim,
    keys: [...(options.keys ?? keysOf(ds))],
    terminals,
    timeouts,
    episodes: returns.length,
    unfinishedSteps: ds.size - 1 - last,
    ...(returnStats === undefined ? {} : { returns: returnStats }),
    ...(scoreStats === undefined ? {} : { normalizedScores: scoreStats }),
    meanReward: ds.size === 0 ? 0 : rewardSum / ds.size,
    ...(options.behaviour === undefined ? {} : { behaviour: options.behaviour }),
    ...(options.seconds === undefined ? {} : { seconds: options.seconds })
  }
}

/** The behaviour score stored in metadata/behavior/* at generation, if any. */
export const behaviourFromMetadata = (ds: OfflineDataset.OfflineDataset): BehaviourScore | undefined => {
  const r = ds.metadata["behavior/return"]
  const score = ds.metadata["behavior/normalized_score"]
  const source = ds.metadata["behavior/source"]
  return typeof r === "number" && typeof score === "number" && typeof source === "string"
    ? { return: r, normalizedScore: score, source }
    : undefined
}

/** metadata/behavior/* entries for a behaviour score. */
export const behaviourMetadata = (b: BehaviourScore): Record<string, OfflineDataset.MetadataValue> => ({
  "behavior/return": b.return,
  "behavior/normalized_score": b.normalizedScore,
  "behavior/source": b.source
})
