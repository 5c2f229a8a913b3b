/**
 * Minibatches drawn from two transition sources, as Policy-Guided Diffusion trains its agents on synthetic
 * experience (Jackson et al., RLC 2024): of every batch of n rows, round(share·n) come from the synthetic transitions
 * and the rest from the real data, each drawn uniformly with replacement from its own source (the reference code's
 * default is 240 synthetic + 16 real of 256). Rows [0, n − k) are real, [n − k, n) synthetic. With no synthetic source, or a share
 * that rounds to 0 rows, a batch is exactly the single-source batch the agents always drew (the same indices from
 * the same key), so runs without synthetic data are unchanged.
 */
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import type { DeviceTransitions } from "./Critic.ts"

/** A second transition source and the share of every batch drawn from it (in [0, 1]). */
export interface Synthetic {
  readonly data: DeviceTransitions
  readonly share: number
}

/** Rows of a batch of `rows` drawn from the synthetic source: round(share·rows). */
export const syntheticRows = (rows: number, synthetic: Synthetic | undefined): number =>
  synthetic === undefined ? 0 : Math.round(Math.min(1, Math.max(0, synthetic.share)) * rows)

/** Which rows of each source one batch takes. */
export interface Plan {
  readonly rows: number
  /** Indices into the real source [rows − k, 1] (absent when k = rows). */
  readonly real: Tensor | undefined
  /** Indices into the synthetic source [k, 1] (absent when k = 0). */
  readonly synthetic: Tensor | undefined
  /** Where each part lands in the batch (absent when one source fills it). */
  readonly realRows: Tensor | undefined
  readonly syntheticRows: Tensor | undefined
}

const range = (B: TensorBackend, start: number, count: number): Tensor =>
  B.upload(Float32Array.from({ length: count }, (_, i) => start + i), count, 1)

/**
 * The indices of batch `step` (stream `key`): the real part from Rng.at(key, step) as a single-source batch would,
 * the synthetic part from the split stream "synthetic".
 */
export const plan = (B: TensorBackend, rows: number, realSize: number, key: RngKey, step: number, synthetic?: Synthetic): Plan => {
  const k = syntheticRows(rows, synthetic)
  if (k === 0) return { rows, real: B.randint(rows, 1, Rng.at(key, step), realSize), synthetic: undefined, realRows: undefined, syntheticRows: undefined }
  const fromSynthetic = B.randint(k, 1, Rng.at(Rng.split(key, "synthetic"), step), synthetic!.data.observations.rows)
  if (k === rows) return { rows, real: undefined, synthetic: fromSynthetic, realRows: undefined, syntheticRows: undefined }
  return {
    rows,
    real: B.randint(rows - k, 1, Rng.at(key, step), realSize),
    synthetic: fromSynthetic,
    realRows: range(B, 0, rows - k),
    syntheticRows: range(B, rows - k, k)
  }
}

/** The batch's rows of one field, taken from `real` and `synthetic` (the same field of each source) as `p` says. */
export const gather = (B: TensorBackend, p: Plan, real: Tensor, synthetic: Tensor | undefined): Tensor => {
  if (p.synthetic === undefined) return B.gatherRows(real, p.real!)
  if (p.real === undefined) return B.gatherRows(synthetic!, p.synthetic)
  return B.scope(() =>
    // Rows placed by scatter-adding each part into zeros at its own, disjoint positions: an exact concatenation.
    B.binary(
      "add",
      B.scatterAddRows(B.gatherRows(real, p.real!), p.realRows!, p.rows),
      B.scatterAddRows(B.gatherRows(synthetic!, p.synthetic!), p.syntheticRows!, p.rows)
    ))
}

export const dispose = (B: TensorBackend, p: Plan): void => {
  for (const t of [p.real, p.synthetic, p.realRows, p.syntheticRows]) if (t !== undefined) B.dispose(t)
}

/** The fields of DeviceTransitions. */
export type Field = keyof DeviceTransitions

/** A batch of `rows` transitions (the fields asked for; all five by default), drawn as `plan` says. */
export const sample = <F extends Field = Field>(
  B: TensorBackend,
  data: DeviceTransitions,
  rows: number,
  key: RngKey,
  step: number,
  synthetic?: Synthetic,
  fields: ReadonlyArray<F> = ["observations", "actions", "rewards", "masks", "nextObservations"] as Array<F>
): Pick<DeviceTransitions, F> => {
  const p = plan(B, rows, data.observations.rows, key, step, synthetic)
  const out = Object.fromEntries(fields.map((f) => [f, gather(B, p, data[f], synthetic?.data[f])])) as Pick<DeviceTransitions, F>
  dispose(B, p)
  return out
}
