/**
 * The SWG agent (ALGORITHMS.md §2.2–2.10): weights w = f(A) on the dataset, z = [a, w], one
 * diffusion model ε_θ(s, z_t, t) with the weight head, and the action selectors built on it:
 *   - SWG: guided sampling (ρ, temperature 0 → deterministic, clip of actions and weight);
 *   - SWG-R: N guided candidates at temperature > 0, picked by generated weight (greedy or categorical);
 *   - diffusion BC: the same model unguided (ρ = 0) samples the behaviour policy;
 *   - IDQL: N unguided candidates, picked by the critic's min-Q (greedy) or ∝ w(s, a) (categorical).
 * Using the SWG model's unguided marginal as IDQL's behaviour model is our choice (IDQL trains a
 * separate action-only model with T = 5); it keeps the comparison about the selection rule.
 */
import { Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as NoiseSchedule from "../domain/NoiseSchedule.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import * as SamplerSteps from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as WeightFunction from "../domain/WeightFunction.ts"
import * as EpsNetwork from "../diffusion/EpsNetwork.ts"
import * as Sampler from "../diffusion/Sampler.ts"
import * as Swg from "../diffusion/Swg.ts"
import * as SwgPolicy from "../diffusion/SwgPolicy.ts"
import * as Training from "../diffusion/Training.ts"
import { cosineDecay } from "../domain/LearningRate.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import * as Critic from "./Critic.ts"

export class SwgAgentConfig extends Schema.Class<SwgAgentConfig>("SwgAgentConfig")({
  /** w = f(A): SWG's D4RL default is the expectile weight with τ = 0.7 (shipped config). */
  weightFunction: WeightFunction.WeightFunction.pipe(Config.withDefault({ _tag: "Expectile", tau: 0.7 })),
  /** Diffusion steps T of the VP schedule (SWG: 15). */
  diffusionSteps: Config.PositiveInt.pipe(Config.withDefault(15)),
  hidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  blocks: Config.PositiveInt.pipe(Config.withDefault(3)),
  dropout: Config.Probability.pipe(Config.withDefault(0.1)),
  steps: Config.PositiveInt.pipe(Config.withDefault(1_000_000)),
  batch: Config.PositiveInt.pipe(Config.withDefault(1024)),
  lr: Config.PositiveFinite.pipe(Config.withDefault(3e-4)),
  /** Cosine decay horizon of the learning rate (SWG-JAX hard-codes 3M). */
  lrDecaySteps: Config.PositiveInt.pipe(Config.withDefault(3_000_000)),
  emaRate: Config.Probability.pipe(Config.withDefault(0.001))
}) {}

export interface SwgAgent {
  readonly config: SwgAgentConfig
  readonly network: EpsNetwork.EpsNetworkConfig
  readonly schedule: NoiseSchedule.Discrete
  readonly model: Model.Model
  readonly actionDim: number
  /** Range of the weights in the training data, for the clip of ŵ₀ and of the iterate. */
  readonly weightRange: readonly [number, number]
}

export const create = (B: TensorBackend, c: SwgAgentConfig, observationDim: number, actionDim: number, weightRange: readonly [number, number], key: RngKey): SwgAgent => {
  const network = new EpsNetwork.EpsNetworkConfig({
    dataDim: actionDim + 1,
    conditionDim: observationDim,
    timeFeatures: 128,
    timeHidden: 256,
    body: new EpsNetwork.LnResNetBody({ hidden: c.hidden, blocks: c.blocks, activation: "silu", dropout: c.dropout, weightHeadBlock: Math.floor(c.blocks / 2), weightHeadWidth: 256 })
  })
  return {
    config: c,
    network,
    schedule: NoiseSchedule.swg(c.diffusionSteps),
    model: Model.create(B, EpsNetwork.specs(network), key, { ema: true }),
    actionDim,
    weightRange
  }
}

/** z = [a, w] [N, A+1] with w = f(A(s, a)) from the critic; NaN weights become the minimum (SWG-JAX). */
export const augmentedData = (
  f: WeightFunction.WeightFunction,
  actions: Float32Array,
  actionDim: number,
  advantages: Float32Array
): { readonly z: Float32Array; readonly range: readonly [number, number] } => {
  const w = WeightFunction.weights(f, advantages)
  const n = advantages.length
  const z = new Float32Array(n * (actionDim + 1))
  let lo = Infinity
  let hi = -Infinity
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < actionDim; d++) z[i * (actionDim + 1) + d] = actions[i * actionDim + d]
    z[i * (actionDim + 1) + actionDim] = w[i]
    lo = Math.min(lo, w[i])
    hi = Math.max(hi, w[i])
  }
  return { z, range: [lo, hi] }
}

/** One diffusion training step on device data (z [N, A+1], observations [N, S]); returns the loss [1, 1]. */
export const trainStep = (B: TensorBackend, agent: SwgAgent, data: Training.DiffusionData, tables: Training.NoiseTables, key: RngKey, step: number): Tensor =>
  Model.trainStep(B, agent.model, {
    lr: cosineDecay(agent.config.lr, agent.config.lrDecaySteps, step),
    adamw: Optimizer.adamwDefaults,
    emaRate: agent.config.emaRate,
    rng: Rng.at(Rng.split(key, "dropout"), step)
  }, (p) => Training.epsLoss(p, agent.network, tables, data, agent.config.batch, Rng.at(Rng.split(key, "batch"), step)))

/** How actions are chosen from the diffusion model. */
export type Selector =
  | { readonly _tag: "Swg"; readonly guidanceScale: number; readonly temperature: number }
  | { readonly _tag: "SwgR"; readonly guidanceScale: number; readonly temperature: number; readonly candidates: number; readonly rule: "greedy" | "categorical" }
  | { readonly _tag: "DiffusionBc"; readonly temperature: number }
  | { readonly _tag: "Idql"; readonly candidates: number; readonly temperature: number; readonly rule: "greedy" | "categorical"; readonly critic: Critic.Critic; readonly weightFunction: WeightFunction.WeightFunction }

/** Per-step clip of the iterate: actions to [−1, 1], the weight to the data's range (SWG-JAX `clip_denoised`). */
const clipFor = (B: TensorBackend, agent: SwgAgent): Sampler.Clip => {
  const A = agent.actionDim
  return {
    lo: B.upload(Float32Array.from([...Array<number>(A).fill(-1), agent.weightRange[0]]), 1, A + 1),
    hi: B.upload(Float32Array.from([...Array<number>(A).fill(1), agent.weightRange[1]]), 1, A + 1)
  }
}

/** Rows i·n … i·n + n − 1 repeat observation i. */
const repeatRows = (B: TensorBackend, x: Tensor, n: number): Tensor =>
  B.gatherRows(x, B.upload(Float32Array.from({ length: x.rows * n }, (_, j) => Math.floor(j / n)), x.rows * n, 1))

/** Samples z for every row of `observations` ([E, S] on the device); returns z [E·n, A+1]. */
const sampleZ = (B: TensorBackend, agent: SwgAgent, observations: Tensor, n: number, scale: number, temperature: number, key: RngKey): Tensor =>
  B.scope(() => {
    const condition = n === 1 ? observations : repeatRows(B, observations, n)
    const [lo, hi] = agent.weightRange
    return SwgPolicy.sample({
      backend: B, network: agent.network, layout: agent.model.layout, params: agent.model.ema ?? agent.model.params,
      condition, rows: condition.rows, grid: SamplerSteps.discreteGrid(agent.schedule),
      sampler: new Sampler.Ddpm({ temperature }),
      guidance: new Swg.SwgGuidance({ scale, minWeight: Math.max(lo, 1e-6), maxWeight: hi }),
      initialScale: temperature, clip: clipFor(B, agent), key
    })
  })

/** Picks one of n candidates per row from scores [E·n] (greedy argmax or categorical ∝ score). */
export const pick = (scores: ArrayLike<number>, rows: number, n: number, rule: "greedy" | "categorical", key: RngKey): Array<number> => {
  const u = new Float64Array(rows)
  Rng.fillUniform(key, u)
  return Array.from({ length: rows }, (_, r) => {
    let best = 0
    if (rule === "greedy") {
      for (let j = 1; j < n; j++) if (scores[r * n + j] > scores[r * n + best]) best = j
      return r * n + best
    }
    let total = 0
    for (let j = 0; j < n; j++) total += Math.max(scores[r * n + j], 0)
    let acc = 0
    for (let j = 0; j < n; j++) {
      acc += Math.max(scores[r * n + j], 0)
      if (u[r] * total <= acc) return r * n + j
    }
    return r * n + n - 1
  })
}

/**
 * Actions [E, A] (host) for observations [E, S] (host) with the chosen selector. Reads back once
 * (twice for IDQL, which scores candidates with the critic).
 */
export const act = async (B: TensorBackend, agent: SwgAgent, selector: Selector, observations: Float64Array, key: RngKey): Promise<Float64Array> => {
  const S = agent.network.conditionDim
  const E = observations.length / S
  const A = agent.actionDim
  const obs = B.upload(Float32Array.from(observations), E, S)
  const n = selector._tag === "SwgR" || selector._tag === "Idql" ? selector.candidates : 1
  const scale = selector._tag === "Swg" || selector._tag === "SwgR" ? selector.guidanceScale : 0
  const z = sampleZ(B, agent, obs, n, scale, selector.temperature, key)
  let scores: ArrayLike<number> | undefined
  if (selector._tag === "Idql") {
    const candidates = B.sliceCols(z, 0, A)
    const repeated = repeatRows(B, obs, n)
    const [adv] = Critic.advantages(B, selector.critic, repeated, candidates, repeated.rows)
    const a = await B.read(adv)
    scores = selector.rule === "greedy" ? a : WeightFunction.weights(selector.weightFunction, a)
    for (const t of [candidates, repeated, adv]) B.dispose(t)
  }
  const values = await B.read(z)
  B.dispose(z)
  B.dispose(obs)
  if (selector._tag === "SwgR") scores = Float64Array.from({ length: E * n }, (_, i) => values[i * (A + 1) + A])
  const rows = scores === undefined
    ? Array.from({ length: E }, (_, r) => r)
    : pick(scores, E, n, selector._tag === "SwgR" || selector._tag === "Idql" ? selector.rule : "greedy", Rng.split(key, "pick"))
  const actions = new Float64Array(E * A)
  rows.forEach((row, r) => {
    for (let d = 0; d < A; d++) actions[r * A + d] = values[row * (A + 1) + d]
  })
  return actions
}
