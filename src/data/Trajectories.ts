/**
 * Sub-trajectory data for Policy-Guided Diffusion (Jackson et al. 2024, §4 "trajectory diffusion";
 * reference code `EmptyJackson/policy-guided-diffusion`, `environments/dataset.py`, `util/data.py`).
 *
 * Every step of an offline dataset becomes one row [s_t, ã_t, r_t, d_t] with ã_t = atanh(clip(a_t, ±0.999))
 * (actions in pre-tanh space) and d_t the terminal flag (not the timeout). Windows of H rows are cut from
 * each episode: every `stride` steps from its start, plus the window that ends on a terminal step. No window
 * holds a terminal or a timeout before its last row, and none ends in a timeout. Each channel is normalised
 * by its mean and standard deviation over the training windows' rows (a zero std becomes 1). A share of whole
 * episodes is held out for validation. `decode` inverts a (generated) window into its H − 1 transitions
 * (s_t, a_t, r_t, d_t, s_{t+1}): the next state is read off the next row.
 *
 * Choices where the reference is loose: the stride counts from each episode's start (the reference strides
 * over the concatenated list of valid starts, which shifts the phase from one episode to the next), and
 * episodes are split as `OfflineDataset.episodes` splits them (terminal, timeout, or an observation jump).
 */
import { Result, Schema } from "effect"
import * as Rng from "../domain/Rng.ts"
import * as OfflineDataset from "./OfflineDataset.ts"

/** |a| is clipped to this before atanh, so pre-tanh actions stay within ±3.8. */
export const ACTION_CLIP = 0.999

/** Windowing and hold-out options (defaults: the reference's training settings). */
export interface WindowOptions {
  /** H, rows per window (reference `trajectory_length`: 32). */
  readonly length: number
  /** Steps between window starts within an episode (reference `dataset_stride`: 8). */
  readonly stride: number
  /** Share of episodes held out for validation (reference: 0.05), ⌊episodes·share⌋ of them. */
  readonly holdoutShare: number
}

export const defaultWindows: WindowOptions = { length: 32, stride: 8, holdoutShare: 0.05 }

/** Column layout of a row: observation, action, reward, done. */
export interface Channels {
  readonly observationDim: number
  readonly actionDim: number
}

/** Columns per row: |S| + |A| + 2. */
export const channelCount = (c: Channels): number => c.observationDim + c.actionDim + 2
export const actionColumn = (c: Channels): number => c.observationDim
export const rewardColumn = (c: Channels): number => c.observationDim + c.actionDim
export const doneColumn = (c: Channels): number => c.observationDim + c.actionDim + 1

/** Per-channel affine normalisation x ↦ (x − mean)/std, each [channels]. */
export interface Normalisation {
  readonly mean: Float64Array
  readonly std: Float64Array
}

/** A set of windows: `data` is [count·length, channels] row-major (row w·length + t is step t of window w). */
export interface Windows {
  readonly channels: Channels
  readonly length: number
  readonly count: number
  readonly data: Float32Array
  /** The dataset step each window starts at, [count]. */
  readonly starts: Int32Array
}

/** Normalised training and validation windows, and the statistics both were normalised with. */
export interface TrajectoryData {
  readonly channels: Channels
  readonly train: Windows
  readonly validation: Windows
  readonly normalisation: Normalisation
  /** Indices (into `OfflineDataset.episodes`) of the held-out episodes, ascending. */
  readonly heldOutEpisodes: ReadonlyArray<number>
}

/** The dataset has no episode long enough for one window (or only timeouts end the long ones). */
export class TrajectoriesTooShort extends Schema.TaggedError<TrajectoriesTooShort>()("TrajectoriesTooShort", {
  /** Which part had no window: "dataset" or "training split". */
  part: Schema.String,
  windowLength: Schema.Int,
  episodes: Schema.Int,
  longestEpisode: Schema.Int
}) {
  override get message(): string {
    return `the ${this.part} has no window of ${this.windowLength} steps: ${this.episodes} episodes, the longest ` +
      `${this.longestEpisode} steps (a window may not cross an episode end nor end in a timeout); ` +
      `use a shorter window or a dataset with longer episodes`
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Windows

/**
 * First steps of the windows of one episode [start, end): start + k·stride while the window fits, plus the
 * window ending on the episode's last step when that step is terminal; a window whose last step is a timeout
 * is dropped. Sorted, without duplicates.
 */
export const episodeWindowStarts = (episode: OfflineDataset.Episode, length: number, stride: number): Array<number> => {
  const last = episode.end - length
  if (last < episode.start) return []
  const starts = new Set<number>()
  for (let s = episode.start; s <= last; s += stride) starts.add(s)
  if (episode.terminal) starts.add(last)
  // Only the window ending on the episode's last step can end in a timeout (episodes end at every timeout).
  if (episode.timeout) starts.delete(last)
  return [...starts].sort((a, b) => a - b)
}

/** Rows [s, ã, r, d] of the steps `starts[w] + t` (t < length), not normalised: [count·length, channels]. */
export const rawWindows = (ds: OfflineDataset.OfflineDataset, starts: ReadonlyArray<number>, length: number): Windows => {
  const channels: Channels = { observationDim: ds.observationDim, actionDim: ds.actionDim }
  const c = channelCount(channels)
  const data = new Float32Array(starts.length * length * c)
  const [so, sa] = [ds.observationDim, ds.actionDim]
  starts.forEach((start, w) => {
    for (let t = 0; t < length; t++) {
      const i = start + t
      const row = (w * length + t) * c
      data.set(ds.observations.subarray(i * so, (i + 1) * so), row)
      for (let k = 0; k < sa; k++) {
        const a = Math.min(ACTION_CLIP, Math.max(-ACTION_CLIP, ds.actions[i * sa + k]))
        data[row + so + k] = Math.atanh(a)
      }
      data[row + so + sa] = ds.rewards[i]
      data[row + so + sa + 1] = ds.terminals[i]
    }
  })
  return { channels, length, count: starts.length, data, starts: Int32Array.from(starts) }
}

/** Mean and population std of each channel over all rows, in f64; a zero std becomes 1. */
export const statistics = (w: Windows): Normalisation => {
  const c = channelCount(w.channels)
  const rows = w.count * w.length
  const mean = new Float64Array(c)
  for (let i = 0; i < w.data.length; i++) mean[i % c] += w.data[i]
  for (let k = 0; k < c; k++) mean[k] /= Math.max(1, rows)
  const sq = new Float64Array(c)
  for (let i = 0; i < w.data.length; i++) sq[i % c] += (w.data[i] - mean[i % c]) ** 2
  const std = sq.map((s) => {
    const v = Math.sqrt(s / Math.max(1, rows))
    return v === 0 ? 1 : v
  })
  return { mean, std }
}

/** (x − mean)/std per channel. */
export const normalise = (w: Windows, n: Normalisation): Windows => {
  const c = channelCount(w.channels)
  return { ...w, data: w.data.map((x, i) => (x - n.mean[i % c]) / n.std[i % c]) }
}

/** x·std + mean per channel, in f64, of a row-major [rows, channels] block. */
export const unnormalise = (data: ArrayLike<number>, n: Normalisation): Float64Array => {
  const c = n.mean.length
  return Float64Array.from({ length: data.length }, (_, i) => data[i] * n.std[i % c] + n.mean[i % c])
}

const longest = (episodes: ReadonlyArray<OfflineDataset.Episode>) =>
  episodes.reduce((m, e) => Math.max(m, e.end - e.start), 0)

/**
 * Windows of the dataset, split by episode into training and validation (⌊episodes·holdoutShare⌋ episodes
 * drawn by a permutation from `key`), both normalised with the training windows' statistics. Fails with
 * `TrajectoriesTooShort` when the training split has no window.
 */
export const build = (
  ds: OfflineDataset.OfflineDataset,
  options: WindowOptions,
  key: Rng.RngKey
): Result.Result<TrajectoryData, TrajectoriesTooShort> => {
  const episodes = OfflineDataset.episodes(ds)
  const held = Math.floor(episodes.length * options.holdoutShare)
  const order = OfflineDataset.permutation(episodes.length, key)
  const heldOut = new Set(Array.from(order.subarray(0, held)))
  const trainStarts: Array<number> = []
  const validationStarts: Array<number> = []
  episodes.forEach((e, i) => {
    const starts = episodeWindowStarts(e, options.length, options.stride)
    ;(heldOut.has(i) ? validationStarts : trainStarts).push(...starts)
  })
  if (trainStarts.length === 0) {
    const part = validationStarts.length > 0 ? "training split" : "dataset"
    return Result.fail(new TrajectoriesTooShort({
      part, windowLength: options.length, episodes: episodes.length, longestEpisode: longest(episodes)
    }))
  }
  const train = rawWindows(ds, trainStarts, options.length)
  const normalisation = statistics(train)
  return Result.succeed({
    channels: train.channels,
    train: normalise(train, normalisation),
    validation: normalise(rawWindows(ds, validationStarts, options.length), normalisation),
    normalisation,
    heldOutEpisodes: [...heldOut].sort((a, b) => a - b)
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

/** Transitions (s_t, a_t, r_t, d_t, s_{t+1}) decoded from windows, row-major per field. */
export interface Transitions {
  readonly size: number
  readonly observations: Float32Array
  readonly actions: Float32Array
  readonly rewards: Float32Array
  readonly terminals: Uint8Array
  readonly nextObservations: Float32Array
}

/**
 * The H − 1 transitions of each of `count` normalised windows in `data` ([count·length, channels]):
 * unnormalise, a = tanh(ã), d = 1[d > 0.5], s' = the next row's state. The last row only supplies s'.
 */
export const decode = (data: ArrayLike<number>, count: number, length: number, channels: Channels, n: Normalisation): Transitions => {
  const c = channelCount(channels)
  const raw = unnormalise(data, n)
  const [so, sa] = [channels.observationDim, channels.actionDim]
  const size = count * (length - 1)
  const out: Transitions = {
    size,
    observations: new Float32Array(size * so),
    actions: new Float32Array(size * sa),
    rewards: new Float32Array(size),
    terminals: new Uint8Array(size),
    nextObservations: new Float32Array(size * so)
  }
  for (let w = 0; w < count; w++) {
    for (let t = 0; t < length - 1; t++) {
      const j = w * (length - 1) + t
      const row = (w * length + t) * c
      const next = row + c
      for (let k = 0; k < so; k++) {
        out.observations[j * so + k] = raw[row + k]
        out.nextObservations[j * so + k] = raw[next + k]
      }
      for (let k = 0; k < sa; k++) out.actions[j * sa + k] = Math.tanh(raw[row + so + k])
      out.rewards[j] = raw[row + so + sa]
      out.terminals[j] = raw[row + so + sa + 1] > 0.5 ? 1 : 0
    }
  }
  return out
}
