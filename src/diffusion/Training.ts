/**
 * The DDPM ε-loss on device-resident data (Ho et al. 2020, eq. 14; SWG eq. 17):
 *   t ~ U{0..T−1}, ε ~ N(0, I), z_t = √ᾱ_t·z₀ + σ_t·ε,  L = mean_batch Σ_dims (ε_θ(z_t, s, t) − ε)².
 * Minibatch indices, t and ε are all drawn on the device: a training step uploads nothing.
 */
import * as NoiseSchedule from "../domain/NoiseSchedule.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import type { Bound } from "../nn/Parameters.ts"
import type { Var } from "../nn/Tape.ts"
import * as EpsNetwork from "./EpsNetwork.ts"

/** √ᾱ_t and σ_t of every step as [T, 1] columns, gathered per sample during training; the steps 0…T−1 themselves. */
export interface NoiseTables {
  readonly steps: number
  readonly alpha: Tensor
  readonly sigma: Tensor
  readonly times: Tensor
}

export const noiseTables = (backend: TensorBackend, schedule: NoiseSchedule.Discrete): NoiseTables => {
  const { alpha, sigma } = NoiseSchedule.scales(schedule)
  return {
    steps: schedule.steps,
    alpha: backend.upload(Float32Array.from(alpha), schedule.steps, 1),
    sigma: backend.upload(Float32Array.from(sigma), schedule.steps, 1),
    times: backend.upload(Float32Array.from({ length: schedule.steps }, (_, i) => i), schedule.steps, 1)
  }
}

/** A dataset on the device: clean samples z₀ [N, D] and their conditions [N, C] (if any). */
export interface DiffusionData {
  readonly z0: Tensor
  readonly condition: Tensor | undefined
}

/** The ε-loss of a given batch z₀ [B, D] with conditions [B, C] (or none), noise drawn from `key`. */
export const epsLossOn = (
  p: Bound,
  config: EpsNetwork.EpsNetworkConfig,
  tables: NoiseTables,
  z0: Tensor,
  condition: Tensor | undefined,
  key: RngKey
): Var => {
  const B = p.tape.backend
  const t = B.randint(z0.rows, 1, Rng.at(Rng.split(key, "time"), key.offset), tables.steps)
  const eps = B.normal(z0.rows, z0.cols, Rng.at(Rng.split(key, "noise"), key.offset))
  const zt = B.binary("add", B.binary("mul", z0, B.gatherRows(tables.alpha, t)), B.binary("mul", eps, B.gatherRows(tables.sigma, t)))
  // The time embedding of the T steps, gathered by t (the same values as embedding t row by row).
  const time = { times: p.tape.leaf(tables.times), index: t }
  const prediction = EpsNetwork.apply(p, config, p.tape.leaf(zt), condition === undefined ? undefined : p.tape.leaf(condition), time)
  return p.tape.mseLoss(prediction, eps)
}

/** The ε-loss of one minibatch drawn from `data` with the stream `key` (moved per step by the caller). */
export const epsLoss = (
  p: Bound,
  config: EpsNetwork.EpsNetworkConfig,
  tables: NoiseTables,
  data: DiffusionData,
  batch: number,
  key: RngKey
): Var => {
  const drawn = minibatch(p.tape.backend, data, batch, key)
  return epsLossOn(p, config, tables, drawn.z0, drawn.condition, key)
}

/** `batch` rows of `data` drawn uniformly with replacement from the stream `key`: z₀ and its conditions. */
export const minibatch = (B: TensorBackend, data: DiffusionData, batch: number, key: RngKey): DiffusionData => {
  const index = B.randint(batch, 1, Rng.at(Rng.split(key, "index"), key.offset), data.z0.rows)
  return { z0: B.gatherRows(data.z0, index), condition: data.condition === undefined ? undefined : B.gatherRows(data.condition, index) }
}
