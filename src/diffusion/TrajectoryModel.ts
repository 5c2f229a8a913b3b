/**
 * The trajectory model of Policy-Guided Diffusion (Jackson et al. 2024, §4; reference
 * `EmptyJackson/policy-guided-diffusion`, `diffusion/diffusion.py`, `models/diffusion.py`): the temporal
 * U-Net as EDM's network F over normalised sub-trajectories [batch·H, |S| + |A| + 2], trained with Adam on
 * the EDM loss under a warm-up + cosine learning rate (from 0.1·lr to lr over the first 10 % of the steps,
 * then a cosine to 0), with an EMA of the weights (0.995, updated every 10 steps) that sampling uses.
 */
import { Schema } from "effect"
import * as Config from "../domain/Config.ts"
import { Activations } from "../domain/Ops.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Model from "../nn/Model.ts"
import type { Bound } from "../nn/Parameters.ts"
import * as TemporalUnet from "../nn/TemporalUnet.ts"
import * as Edm from "./Edm.ts"

export class TrajectoryModelConfig extends Schema.Class<TrajectoryModelConfig>("TrajectoryModelConfig")({
  // ---- network
  /** F, the U-Net's first width (reference 1024); level i has F·2^i channels. */
  width: Config.PositiveInt.pipe(Config.withDefault(1024)),
  /** U-Net levels (reference 3). */
  depth: Config.PositiveInt.pipe(Config.withDefault(3)),
  /** GroupNorm groups (reference 8). */
  groups: Config.PositiveInt.pipe(Config.withDefault(8)),
  activation: Schema.Literals(Activations).pipe(Config.withDefault("relu")),
  /** Residual connections in the encoder blocks (the reference has none). */
  residual: Schema.Boolean.pipe(Config.withDefault(false)),
  // ---- optimisation
  /** Training steps. */
  steps: Config.PositiveInt.pipe(Config.withDefault(100000)),
  /** Sub-trajectories per batch (reference 32). */
  batch: Config.PositiveInt.pipe(Config.withDefault(32)),
  /** Peak learning rate of Adam (reference 2e-3). */
  lr: Config.PositiveFinite.pipe(Config.withDefault(2e-3)),
  /** Share of the steps spent warming up from 0.1·lr to lr (reference 0.1). */
  warmupShare: Config.Probability.pipe(Config.withDefault(0.1)),
  /** EMA decay of the sampling weights and its period in steps (reference 0.995 every 10). */
  emaDecay: Config.Probability.pipe(Config.withDefault(0.995)),
  emaEvery: Config.PositiveInt.pipe(Config.withDefault(10)),
  // ---- diffusion
  edm: Edm.EdmConfig.pipe(Config.withDefault({}))
}) {}

export const trajectoryModelConfig = (fields: Partial<typeof TrajectoryModelConfig.Encoded> = {}): TrajectoryModelConfig =>
  Schema.decodeUnknownSync(TrajectoryModelConfig)(fields)

export const unetConfig = (c: TrajectoryModelConfig, channels: number): TemporalUnet.UnetConfig => ({
  channels, width: c.width, depth: c.depth, groups: c.groups, activation: c.activation, residual: c.residual
})

/** optax.warmup_cosine_decay_schedule(0.1·lr, lr, warmup, steps): linear warm-up, then a cosine to 0. */
export const learningRate = (c: TrajectoryModelConfig, step: number): number => {
  const warmup = Math.floor(c.steps * c.warmupShare)
  if (step < warmup) return c.lr * (0.1 + (0.9 * step) / warmup)
  const progress = Math.min(1, (step - warmup) / Math.max(1, c.steps - warmup))
  return 0.5 * c.lr * (1 + Math.cos(Math.PI * progress))
}

/** A fresh model (parameters, Adam moments, EMA copy) for `channels` data channels. */
export const create = (B: TensorBackend, c: TrajectoryModelConfig, channels: number, key: RngKey): Model.Model =>
  Model.create(B, TemporalUnet.unetSpecs("unet", unetConfig(c, channels)), key, { ema: true })

/** F as EDM's network, over sequences of `length` rows. */
export const network = (p: Bound, c: TrajectoryModelConfig, channels: number, length: number): Edm.EdmNetwork =>
  (_tape, x, noise) => TemporalUnet.unet(p, "unet", unetConfig(c, channels), x, noise, length)

/** Rows of `batch` windows drawn uniformly from `count` windows of `length` rows: [batch·length, 1] row indices. */
export const windowRows = (B: TensorBackend, count: number, length: number, batch: number, key: RngKey): Tensor => {
  const windows = B.randint(batch, 1, key, count)
  const offsets = B.upload(Float32Array.from({ length: batch * length }, (_, r) => r % length), batch * length, 1)
  const repeated = B.gatherRows(windows, TemporalUnet.sequenceOfRows(B, batch, length))
  return B.binary("add", B.affine(repeated, length, 0), offsets)
}

/**
 * One training step on windows `data` [count·length, channels] (device-resident) at step `step` (from 0):
 * Adam on the EDM loss of a random batch, then the EMA every `emaEvery` steps. Returns the loss [1, 1].
 */
export const trainStep = (
  B: TensorBackend,
  model: Model.Model,
  c: TrajectoryModelConfig,
  data: Tensor,
  length: number,
  step: number,
  key: RngKey
): Tensor => {
  const at = (name: string) => Rng.at(Rng.split(key, name), step)
  return Model.trainStep(B, model, {
    lr: learningRate(c, step),
    adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
    emaRate: (step + 1) % c.emaEvery === 0 ? 1 - c.emaDecay : 0,
    rng: at("dropout")
  }, (p) => {
    const rows = windowRows(B, data.rows / length, length, c.batch, at("batch"))
    const y = B.gatherRows(data, rows)
    const sequenceRows = TemporalUnet.sequenceOfRows(B, c.batch, length)
    return Edm.loss(p.tape, network(p, c, data.cols, length), c.edm, y, sequenceRows, c.batch, at("noise"))
  })
}

/** D(x; σ) of the model's EMA weights (or `flat`) for x [batch·length, channels]. */
export const denoiser = (B: TensorBackend, model: Model.Model, c: TrajectoryModelConfig, length: number, flat?: Tensor): Edm.Denoiser =>
  (x, sigma) => {
    const p = Model.bind(B, model, flat)
    return Edm.denoise(p.tape, network(p, c, x.cols, length), p.tape.leaf(x), sigma, x.rows / length, c.edm.sigmaData).value
  }

export interface SampleOptions {
  /** Sequences to generate. */
  readonly count: number
  readonly length: number
  readonly channels: number
  readonly key: RngKey
  /** Policy guidance (PolicyGuidance.guide); absent: unguided. */
  readonly guide?: (x: Tensor, step: number, steps: number) => Tensor
  /** Weights to sample with (default: the EMA copy). */
  readonly flat?: Tensor
}

/** Normalised sequences [count·length, channels] from the EDM sampler of the config. */
export const sample = (B: TensorBackend, model: Model.Model, c: TrajectoryModelConfig, o: SampleOptions): Tensor => {
  const settings = Edm.samplerSettings(c.edm)
  const x0 = Edm.initialNoise(B, o.count * o.length, o.channels, settings.sigmas[0], Rng.split(o.key, "x0"))
  const out = Edm.sample({
    backend: B,
    denoiser: denoiser(B, model, c, o.length, o.flat),
    ...settings,
    key: Rng.split(o.key, "churn"),
    ...(o.guide === undefined ? {} : { guide: o.guide })
  }, x0)
  B.dispose(x0)
  return out
}
