/**
 * The result file of one evaluated (task, method, seed): `<resultsDir>/<task>/<method>[-rho<ρ>]-seed<k>.json`,
 * written by `Offline.evaluate` and read back, through this one Schema, by `evaluate` (to resume) and `Results`.
 */
import { Effect, Schema } from "effect"
import { StageInput } from "../services/Checkpoints.ts"
import { type FileError, readJson, writeJsonAtomically } from "../services/Files.ts"

/** One evaluated (task, method, seed). */
export const OfflineResult = Schema.Struct({
  task: Schema.String,
  method: Schema.String,
  seed: Schema.Int,
  /** D4RL-normalised score (×100), or null for tasks without reference scores. */
  normalizedScore: Schema.NullOr(Schema.Finite),
  /** Mean undiscounted return over the episodes. */
  returnMean: Schema.Finite,
  episodes: Schema.Int,
  /** Guidance scale ρ, for SWG runs. */
  guidanceScale: Schema.optionalKey(Schema.Finite),
  /**
   * Share of the action entries the policy chose within `SATURATION_MARGIN` of the ±1 action bound
   * over all steps of all episodes (for method "data": of the dataset's actions). A policy whose
   * share is far above the data's is pinned to the clip: a symptom of samples pushed out of range.
   */
  clipShare: Schema.optionalKey(Schema.Finite),
  /**
   * The checkpoints the method acted with, by file name and SHA-256 (StageInputs.ts): a result whose model has been
   * retrained since is stale. Absent for the data and in files written before they were recorded.
   */
  checkpoints: Schema.optionalKey(Schema.Array(StageInput))
})
export type OfflineResult = typeof OfflineResult.Type

/** How close to ±1 an action entry must be to count as saturated. */
export const SATURATION_MARGIN = 1e-3

/** Counts action entries within `SATURATION_MARGIN` of ±1. */
export const saturated = (actions: ArrayLike<number>): number => {
  let n = 0
  for (let i = 0; i < actions.length; i++) if (Math.abs(actions[i]) >= 1 - SATURATION_MARGIN) n++
  return n
}

/** Where the result of (task, method, seed) goes; `rho` for a guidance-scale sweep (`-rho<ρ>` in the name). */
export const pathOf = (resultsDir: string, task: string, method: string, seed: number, rho?: number): string =>
  `${resultsDir}/${task}/${method}${rho === undefined ? "" : `-rho${rho}`}-seed${seed}.json`

/** Reads and decodes a result file; a field of the wrong type is a `FileError` naming the file and the field. */
export const read = (path: string): Effect.Effect<OfflineResult, FileError> => readJson(path, OfflineResult)

/** Reads a result file, or `undefined` when there is none. */
export const readIfExists = (path: string): Effect.Effect<OfflineResult | undefined, FileError> =>
  read(path).pipe(
    Effect.map((r): OfflineResult | undefined => r),
    Effect.catchIf((e) => e.reason._tag === "NotFound", () => Effect.succeed(undefined))
  )

/** Writes a result file atomically. */
export const write = (path: string, result: OfflineResult): Effect.Effect<void, FileError> =>
  writeJsonAtomically(path, Schema.encodeSync(OfflineResult)(result))
