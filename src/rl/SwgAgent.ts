/**
 * The SWG agent (Tagle et al. 2025, §3–4 and App. C–D): weights w = f(A) on the dataset, z = [a, w], one
 * diffusion model ε_θ(s, z_t, t) with the weight head, and the action selectors built on it:
 *   - SWG: guided sampling (ρ, temperature 0 → deterministic, clip of actions and weight);
 *   - SWG-R: N guided candidates at temperature > 0, picked by the network's predicted clean weight
 *     ŵ₀ at the last denoising step (greedy with random tie-break, or categorical ∝ ŵ₀);
 *   - diffusion BC: the same model unguided (ρ = 0) samples the behaviour policy;
 *   - IDQL: N unguided candidates, picked by the critic's min-Q (greedy) or ∝ w(s, a) (categorical).
 * Using the SWG model's unguided marginal as IDQL's behaviour model is our choice (IDQL trains a
 * separate action-only model with T = 5); it keeps the comparison about the selection rule.
 */
import { Effect, Schema } from "effect"
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
import type { Device } from "./Device.ts"

export class SwgAgentConfig extends Schema.Class<SwgAgentConfig>("SwgAgentConfig")({
  /**
   * w = f(A): the smooth expectile weight, τ = 0.7, κ = 3 (SWG eq. 21, the paper's D4RL choice; the authors' shipped
   * config has the hard expectile, which the SWG-fidelity ablation in ablations/swg-fidelity/ found worse on 4 of 5 tasks).
   */
  weightFunction: WeightFunction.WeightFunction.pipe(Config.withDefault({ _tag: "SmoothExpectile", tau: 0.7, kappa: 3 })),
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
  emaRate: Config.Probability.pipe(Config.withDefault(0.001)),
  /**
   * Clip of ŵ₀ before the log and of the iterate's weight coordinate every step. "reference":
   * SWG-JAX's configured [1e-4, 1] (the upper end widened to the weight function's maximum when
   * that exceeds 1). "data-range": the range of the training weights, [1 − τ, τ] with expectile
   * weights, which turns guidance off wherever the network predicts ŵ₀ outside it.
   */
  weightClip: Schema.Literals(["reference", "data-range"]).pipe(Config.withDefault("reference"))
}) {}

export interface SwgAgent {
  readonly config: SwgAgentConfig
  readonly network: EpsNetwork.EpsNetworkConfig
  readonly schedule: NoiseSchedule.Discrete
  readonly model: Model.Model
  readonly actionDim: number
  /** Range of the weights in the training data (the clip under `weightClip: "data-range"`). */
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
): { readonly z: Float32Array; readonly range: readonly [number, number]; readonly spread: WeightFunction.Spread } => {
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
  return { z, range: [lo, hi], spread: WeightFunction.spread(f, w) }
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
  | { readonly _tag: "SwgR"; readonly guidanceScale: number; readonly temperature: number; readonly candidates: number; readonly rule: Rule }
  | { readonly _tag: "DiffusionBc"; readonly temperature: number }
  | { readonly _tag: "Idql"; readonly candidates: number; readonly temperature: number; readonly rule: Rule; readonly critic: Critic.Critic; readonly weightFunction: WeightFunction.WeightFunction }

/** How one of n candidates is picked: the best score, or at random ∝ score. */
export type Rule = "greedy" | "categorical"

/** SWG-JAX's lower clip of ŵ₀ and of the iterate's weight (`min_weight_clip`). */
export const REFERENCE_MIN_WEIGHT = 1e-4

/** The largest finite f32: the upper clip of weight functions without a maximum. */
const F32_MAX = 3.4028234663852886e38

/**
 * The reference clip [1e-4, 1] of SWG-JAX's D4RL config, for weights in (0, 1]; weight functions
 * that exceed 1 (exp-advantage, linex, quantile) keep their own maximum instead of being cut at 1.
 */
export const referenceClip = (f: WeightFunction.WeightFunction): readonly [number, number] => {
  const hi = WeightFunction.range(f)[1]
  return [REFERENCE_MIN_WEIGHT, Number.isFinite(hi) ? Math.max(1, hi) : F32_MAX]
}

/** [lo, hi] of the clip of ŵ₀ and of the iterate's weight coordinate, by `weightClip`. */
export const weightBounds = (agent: SwgAgent): readonly [number, number] =>
  agent.config.weightClip === "reference"
    ? referenceClip(agent.config.weightFunction)
    : [Math.max(agent.weightRange[0], 1e-6), agent.weightRange[1]]

/** The guidance of eq. 26 with scale ρ and the agent's clip of ŵ₀. */
export const guidance = (agent: SwgAgent, scale: number): Swg.SwgGuidance => {
  const [lo, hi] = weightBounds(agent)
  return new Swg.SwgGuidance({ scale, minWeight: lo, maxWeight: hi })
}

/** Per-step clip of the iterate: actions to [−1, 1], the weight to `weightBounds` (SWG-JAX `clip_denoised`). */
export const iterateClip = (B: TensorBackend, agent: SwgAgent): Sampler.Clip => {
  const A = agent.actionDim
  const [lo, hi] = weightBounds(agent)
  return {
    lo: B.upload(Float32Array.from([...Array<number>(A).fill(-1), lo]), 1, A + 1),
    hi: B.upload(Float32Array.from([...Array<number>(A).fill(1), hi]), 1, A + 1)
  }
}

/** Rows i·n … i·n + n − 1 repeat observation i (the index upload goes back to the pool at once). */
const repeatRows = (B: TensorBackend, x: Tensor, n: number): Tensor => {
  const index = B.upload(Float32Array.from({ length: x.rows * n }, (_, j) => Math.floor(j / n)), x.rows * n, 1)
  const out = B.gatherRows(x, index)
  B.dispose(index)
  return out
}

/**
 * The sampler's options for `condition` ([rows, S] on the device): EMA parameters, the DDPM
 * sampler at `temperature`, the agent's guidance and clip. The clip's two tensors are the
 * caller's to dispose (or to scope).
 */
export const samplingOptions = (B: TensorBackend, agent: SwgAgent, condition: Tensor, scale: number, temperature: number, key: RngKey): SwgPolicy.GuidedSampleOptions => ({
  backend: B, network: agent.network, layout: agent.model.layout, params: agent.model.ema ?? agent.model.params,
  condition, rows: condition.rows, grid: SamplerSteps.discreteGrid(agent.schedule),
  sampler: new Sampler.Ddpm({ temperature }),
  guidance: guidance(agent, scale),
  initialScale: temperature, clip: iterateClip(B, agent), key
})

/**
 * Samples n candidates for every row of `observations` ([E, S] on the device): z [E·n, A+1] and
 * the unclipped ŵ₀ [E·n, 1] of the last denoising step.
 */
const sampleZ = (B: TensorBackend, agent: SwgAgent, observations: Tensor, n: number, scale: number, temperature: number, key: RngKey) =>
  B.scope(() => {
    const condition = n === 1 ? observations : repeatRows(B, observations, n)
    return SwgPolicy.sampleWithWeight(samplingOptions(B, agent, condition, scale, temperature, key))
  })

/**
 * Picks one of n candidates per row from scores [E·n]. Greedy: the highest score, exact ties
 * broken uniformly at random with `key` (generated weights pile up at a clip bound, and a strict
 * `>` would always take the first). Categorical: at random ∝ max(score, 0), uniformly when no
 * score is positive. Non-finite scores are never the best unless all are.
 */
export const pick = (scores: ArrayLike<number>, rows: number, n: number, rule: Rule, key: RngKey): Array<number> => {
  const u = new Float64Array(rows)
  Rng.fillUniform(key, u)
  const uniform = (r: number, among: number) => Math.min(Math.floor(u[r] * among), among - 1)
  return Array.from({ length: rows }, (_, r) => {
    const score = (j: number) => scores[r * n + j]
    if (rule === "greedy") {
      let best = -Infinity
      for (let j = 0; j < n; j++) if (score(j) > best) best = score(j)
      const ties: Array<number> = []
      for (let j = 0; j < n; j++) if (score(j) === best) ties.push(j)
      return r * n + (ties.length === 0 ? uniform(r, n) : ties[uniform(r, ties.length)])
    }
    let total = 0
    for (let j = 0; j < n; j++) total += Math.max(score(j), 0) || 0
    if (!(total > 0) || !Number.isFinite(total)) return r * n + uniform(r, n)
    let acc = 0
    for (let j = 0; j < n; j++) {
      acc += Math.max(score(j), 0) || 0
      if (u[r] * total < acc) return r * n + j
    }
    return r * n + n - 1
  })
}

/**
 * Actions [E, A] (host) for observations [E, S] (host) with the chosen selector. Reads back once
 * (twice for IDQL, which scores candidates with the critic); a failed read fails with the device's
 * error, and every tensor made here goes back to the pool either way.
 */
export const act = <E>(device: Device<E>, agent: SwgAgent, selector: Selector, observations: Float64Array, key: RngKey): Effect.Effect<Float64Array, E> =>
  Effect.map(actWithWeights(device, agent, selector, observations, key), (r) => r.actions)

/** As `act`, with the generated weight coordinate w [E] of each chosen sample z = [a, w] beside its action. */
export const actWithWeights = <E>(
  device: Device<E>,
  agent: SwgAgent,
  selector: Selector,
  observations: Float64Array,
  key: RngKey
): Effect.Effect<{ readonly actions: Float64Array; readonly weights: Float64Array }, E> =>
  Effect.suspend(() => {
    const B = device.ops
    const S = agent.network.conditionDim
    const rows = observations.length / S
    const A = agent.actionDim
    const n = selector._tag === "SwgR" || selector._tag === "Idql" ? selector.candidates : 1
    const scale = selector._tag === "Swg" || selector._tag === "SwgR" ? selector.guidanceScale : 0
    const owned: Array<Tensor> = []
    const own = <T extends Tensor>(t: T): T => {
      owned.push(t)
      return t
    }
    return Effect.gen(function*() {
      const obs = own(B.upload(Float32Array.from(observations), rows, S))
      const sampled = sampleZ(B, agent, obs, n, scale, selector.temperature, key)
      const z = own(sampled.z0)
      own(sampled.weight)
      let scores: ArrayLike<number> | undefined
      if (selector._tag === "Idql") {
        const candidates = own(B.sliceCols(z, 0, A))
        const repeated = own(repeatRows(B, obs, n))
        const [adv] = Critic.advantages(B, selector.critic, repeated, candidates, repeated.rows)
        const a = yield* device.read(own(adv))
        scores = selector.rule === "greedy" ? a : WeightFunction.weights(selector.weightFunction, a)
      }
      // SWG-R reads z and ŵ₀ together: [E·n, A+2].
      const values = yield* device.read(selector._tag === "SwgR" ? own(B.concatCols([z, sampled.weight])) : z)
      const width = selector._tag === "SwgR" ? A + 2 : A + 1
      if (selector._tag === "SwgR") scores = Float64Array.from({ length: rows * n }, (_, i) => values[i * width + A + 1])
      const picked = scores === undefined
        ? Array.from({ length: rows }, (_, r) => r)
        : pick(scores, rows, n, selector._tag === "SwgR" || selector._tag === "Idql" ? selector.rule : "greedy", Rng.split(key, "pick"))
      const actions = new Float64Array(rows * A)
      const weights = new Float64Array(rows)
      picked.forEach((row, r) => {
        for (let d = 0; d < A; d++) actions[r * A + d] = values[row * width + d]
        weights[r] = values[row * width + A]
      })
      return { actions, weights }
    }).pipe(Effect.ensuring(Effect.sync(() => owned.forEach((t) => B.dispose(t)))))
  })
