/**
 * Synthetic experience for the agents of Policy-Guided Diffusion (Jackson et al., RLC 2024, §4 and App. "agent
 * training"; reference `EmptyJackson/policy-guided-diffusion`, `train_agent.py`, `diffusion/rollout_generator.py`):
 * the trajectory model's samples, unguided or guided towards a target policy, decoded into transitions
 * (s_t, a_t, r_t, d_t, s_{t+1}) on the device, where MixedBatches draws its synthetic share of every batch.
 *
 * Generation g of a run (g = ⌊agent step / period⌋) is sampled from the stream Rng.split(key, `generation-g`), so
 * a resumed run regenerates the same data from the same parameters. Generation 0 is always unguided (the reference
 * starts with no agent parameters); later generations of a PGD run are guided by the agent as it was at the step
 * the generation began (the reference regenerates every `synth_dataset_lifetime` agent updates, not at step 0).
 */
import { Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Trajectories from "../data/Trajectories.ts"
import * as PolicyGuidance from "../diffusion/PolicyGuidance.ts"
import * as TrajectoryModel from "../diffusion/TrajectoryModel.ts"
import type * as Model from "../nn/Model.ts"
import type { DeviceTransitions } from "./Critic.ts"

/**
 * The `pgd` section of the offline config. Reference values in the comments; the cpu preset proposed for this
 * machine (README, issue #10) is much smaller.
 */
export class PgdConfig extends Schema.Class<PgdConfig>("PgdConfig")({
  /** The trajectory model: U-Net width/depth, training steps, batch, EDM and its sampler steps (`model.edm.steps`, reference 256). */
  model: TrajectoryModel.TrajectoryModelConfig.pipe(Config.withDefault({})),
  /** H, rows per training window (reference `trajectory_length` 32). */
  windowLength: Config.PositiveInt.pipe(Config.withDefault(32)),
  /** Steps between window starts (reference `dataset_stride` 8). */
  stride: Config.PositiveInt.pipe(Config.withDefault(8)),
  /** Share of episodes held out from the trajectory model's training (reference 0.05). */
  holdoutShare: Config.Probability.pipe(Config.withDefault(0.05)),
  /**
   * Rows of each generated trajectory (it yields rows − 1 transitions). The reference samples 129 rows; the U-Net
   * here needs a multiple of 2^(depth − 1), so the default is the training window's 32.
   */
  rolloutLength: Config.PositiveInt.pipe(Config.withDefault(32)),
  /** Trajectories per generation (reference 32 workers × 256 = 8192). */
  trajectories: Config.PositiveInt.pipe(Config.withDefault(8192)),
  /** Trajectories per sampler call (bounds the device memory of one call). */
  sampleBatch: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** Agent steps between regenerations (reference `synth_dataset_lifetime` 10,000). */
  regenerateEvery: Config.PositiveInt.pipe(Config.withDefault(10_000)),
  /** Share of every agent batch drawn from the synthetic transitions (reference 240 of 256 = 0.9375). */
  syntheticShare: Config.Probability.pipe(Config.withDefault(0.9375)),
  /**
   * Policy guidance for the PGD runs (λ = `guidance.coefficient`). The paper's λ is not recovered; 0.1 is our
   * default (on the point-mass illustration it moves the actions clearly without leaving the data).
   */
  guidance: PolicyGuidance.PolicyGuidanceConfig.pipe(Config.withDefault({ coefficient: 0.1 }))
}) {}

export const pgdConfig = (fields: Partial<typeof PgdConfig.Encoded> = {}): PgdConfig => Schema.decodeUnknownSync(PgdConfig)(fields)

/** The agents PGD trains on synthetic experience, and where their data comes from. */
export const SyntheticAgents = ["td3bc", "iql"] as const
export type SyntheticAgent = (typeof SyntheticAgents)[number]
export const DataSources = ["unguided", "pgd"] as const
export type DataSource = (typeof DataSources)[number]

/** The methods `${agent}-${source}`. */
export const SyntheticMethods = ["td3bc-unguided", "td3bc-pgd", "iql-unguided", "iql-pgd"] as const
export type SyntheticMethod = (typeof SyntheticMethods)[number]

export const methodOf = (agent: SyntheticAgent, source: DataSource): SyntheticMethod => `${agent}-${source}`

/** The generation agent step `step` trains on. */
export const generationOf = (step: number, period: number): number => Math.floor(step / period)

/** True when generation `g` of a run of `source` is guided (every PGD generation but the first). */
export const isGuided = (source: DataSource, generation: number): boolean => source === "pgd" && generation > 0

const row = (B: TensorBackend, values: ArrayLike<number>, start: number, width: number): Tensor =>
  B.upload(Float32Array.from({ length: width }, (_, k) => values[start + k]), 1, width)

/** Row indices [count·(length − 1), 1] of rows t (or t + 1 with `next`) for t < length − 1 of every trajectory. */
const transitionRows = (B: TensorBackend, count: number, length: number, next: boolean): Tensor =>
  B.upload(
    Float32Array.from({ length: count * (length - 1) }, (_, j) => Math.floor(j / (length - 1)) * length + (j % (length - 1)) + (next ? 1 : 0)),
    count * (length - 1),
    1
  )

/**
 * The transitions of `count` normalised trajectories x [count·length, channels] on the device, as
 * Trajectories.decode does on the host: unnormalise, a = tanh(ã), mask = 1 − 1[d > 0.5], s′ = the next row's state,
 * rewards times `rewardScale` (the IQL runs scale synthetic rewards as their real ones are scaled).
 */
export const decodeOnDevice = (
  B: TensorBackend,
  x: Tensor,
  frame: PolicyGuidance.TrajectoryFrame,
  rewardScale = 1
): DeviceTransitions =>
  B.scope(() => {
    const { observationDim: so, actionDim: sa } = frame.channels
    const c = Trajectories.channelCount(frame.channels)
    const n = frame.normalisation
    const count = x.rows / frame.length
    const raw = B.binary("add", B.binary("mul", x, row(B, n.std, 0, c)), row(B, n.mean, 0, c))
    const here = B.gatherRows(raw, transitionRows(B, count, frame.length, false))
    const states = B.gatherRows(B.sliceCols(raw, 0, so), transitionRows(B, count, frame.length, true))
    // 1[d > 0.5] without a comparison op: d − 0.5 is exact near 0.5 (Sterbenz), then any positive value times 1e30
    // is at least 1 (the smallest f32 gap above 0.5 is 6e-8) and clamps to 1.
    const done = B.clamp(B.affine(B.affine(B.sliceCols(here, Trajectories.doneColumn(frame.channels), 1), 1, -0.5), 1e30, 0), 0, 1)
    return {
      observations: B.sliceCols(here, 0, so),
      actions: B.unary("tanh", B.sliceCols(here, so, sa)),
      rewards: B.affine(B.sliceCols(here, Trajectories.rewardColumn(frame.channels), 1), rewardScale, 0),
      masks: B.affine(done, -1, 1),
      nextObservations: states
    }
  })

/** Rows of `parts` stacked in order (each [r_i, cols]) into one [Σ r_i, cols] tensor, exactly. */
export const stackRows = (B: TensorBackend, parts: ReadonlyArray<Tensor>): Tensor => {
  if (parts.length === 1) return parts[0]
  const total = parts.reduce((s, p) => s + p.rows, 0)
  return B.scope(() => {
    let out = B.zeros(total, parts[0].cols)
    let start = 0
    for (const p of parts) {
      const rows = B.upload(Float32Array.from({ length: p.rows }, (_, i) => start + i), p.rows, 1)
      out = B.binary("add", out, B.scatterAddRows(p, rows, total))
      start += p.rows
    }
    return out
  })
}

export interface GenerateOptions {
  readonly model: Model.Model
  readonly modelConfig: TrajectoryModel.TrajectoryModelConfig
  /** Channels, normalisation and the generated trajectories' rows. */
  readonly frame: PolicyGuidance.TrajectoryFrame
  readonly trajectories: number
  readonly sampleBatch: number
  /** This generation's stream. */
  readonly key: RngKey
  /** The guidance and its target; absent: unguided. */
  readonly guidance?: { readonly target: PolicyGuidance.TargetPolicy; readonly config: PolicyGuidance.PolicyGuidanceConfig }
}

/**
 * Normalised trajectories [trajectories·length, channels] from the trajectory model's EMA weights, sampled
 * `sampleBatch` at a time (call j from Rng.split(key, `batch-j`)).
 */
export const sampleTrajectories = (B: TensorBackend, o: GenerateOptions): Tensor => {
  const channels = Trajectories.channelCount(o.frame.channels)
  const parts: Array<Tensor> = []
  for (let start = 0, j = 0; start < o.trajectories; start += o.sampleBatch, j++) {
    const count = Math.min(o.sampleBatch, o.trajectories - start)
    const guide = o.guidance === undefined ? {} : { guide: PolicyGuidance.guide(B, o.guidance.target, o.frame, o.guidance.config) }
    parts.push(TrajectoryModel.sample(B, o.model, o.modelConfig, {
      count, length: o.frame.length, channels, key: Rng.split(o.key, `batch-${j}`), ...guide
    }))
  }
  const out = stackRows(B, parts)
  if (parts.length > 1) for (const p of parts) B.dispose(p)
  return out
}

/** One generation's transitions on the device (`sampleTrajectories`, then `decodeOnDevice`). */
export const generate = (B: TensorBackend, o: GenerateOptions, rewardScale = 1): DeviceTransitions => {
  const x = sampleTrajectories(B, o)
  const out = decodeOnDevice(B, x, o.frame, rewardScale)
  B.dispose(x)
  return out
}

export const disposeTransitions = (B: TensorBackend, t: DeviceTransitions): void => {
  for (const x of [t.observations, t.actions, t.rewards, t.masks, t.nextObservations]) B.dispose(x)
}
