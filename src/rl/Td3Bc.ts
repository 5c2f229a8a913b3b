/**
 * TD3+BC (Fujimoto & Gu, "A Minimalist Approach to Offline Reinforcement Learning", NeurIPS 2021; reference code
 * sfujim/TD3_BC): TD3 with a behaviour-cloning term in the actor's loss.
 *   Critic (every step), twin Q with Polyak targets Q′ and a target actor π′:
 *     ã′ = clip(π′(s′) + clip(σ·ε, −c, c), −1, 1), ε ~ N(0, I), σ = 0.2, c = 0.5 (target-policy smoothing),
 *     y = r + γ·mask·min(Q′₁, Q′₂)(s′, ã′),  L_Q = mean (Q₁ − y)² + mean (Q₂ − y)².
 *   Actor (every `policyDelay` = 2 critic steps, on the same batch, after the critic step), the paper's objective:
 *     L_π = −λ·mean Q₁(s, π(s)) + mean (π(s) − a)²,  λ = α / mean|Q₁(s, π(s))| (held constant), α = 2.5;
 *     then both targets move by Polyak τ = 0.005.
 *   States are normalised, (s − mean)/(std + 1e-3) with the dataset's mean and population std per dimension, in
 *   training and at evaluation, as the paper does (the normaliser is stored with the agent).
 *
 * Where the paper is silent we follow the reference code: the BC term is the mean over batch *and* action
 * dimensions (torch's `F.mse_loss`); the actor's output is tanh (max action 1: D4RL's action boxes are [−1, 1]);
 * the target noise is drawn per step from a counter-based stream. Our own choices: networks start from the
 * library's initialisation (xavier-uniform weights, zero biases) rather than torch's default; Adam without weight
 * decay (torch Adam, eps 1e-8) at one learning rate for both networks, as the reference; rewards are used as given
 * (the offline stage passes raw rewards, as the reference does). PGD's own TD3+BC (one actor update and then two
 * critic updates per step) orders the updates differently; we keep the original's order.
 */
import { Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import type * as OfflineDataset from "../data/OfflineDataset.ts"
import { observationStatistics } from "../data/OfflineDataset.ts"
import * as Mlp from "../nn/Mlp.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import * as Parameters from "../nn/Parameters.ts"
import { Tape, type Var } from "../nn/Tape.ts"
import type { DeviceTransitions } from "./Critic.ts"
import type { Device } from "./Device.ts"
import * as MixedBatches from "./MixedBatches.ts"

export class Td3BcConfig extends Schema.Class<Td3BcConfig>("Td3BcConfig")({
  /** Width of the two hidden layers of the actor and of each Q (reference: 256). */
  hidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** α of λ = α / mean|Q| (the paper's 2.5 on every D4RL task). */
  alpha: Config.PositiveFinite.pipe(Config.withDefault(2.5)),
  /** Discount γ. */
  discount: Config.Probability.pipe(Config.withDefault(0.99)),
  /** Polyak rate τ of both targets. */
  polyak: Config.Probability.pipe(Config.withDefault(0.005)),
  /** σ of the target-policy smoothing noise. */
  policyNoise: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).pipe(Config.withDefault(0.2)),
  /** The smoothing noise is clipped to ±c. */
  noiseClip: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).pipe(Config.withDefault(0.5)),
  /** Critic steps per actor step (and target update). */
  policyDelay: Config.PositiveInt.pipe(Config.withDefault(2)),
  lr: Config.PositiveFinite.pipe(Config.withDefault(3e-4)),
  batch: Config.PositiveInt.pipe(Config.withDefault(256)),
  steps: Config.PositiveInt.pipe(Config.withDefault(1_000_000)),
  /** Normalise states by the dataset's mean and std (the paper's default; PGD's variant makes it optional). */
  normalizeObservations: Schema.Boolean.pipe(Config.withDefault(true))
}) {}

/** The ε of (s − mean)/(std + ε). */
export const NORMALISATION_EPSILON = 1e-3

export interface Td3Bc {
  readonly config: Td3BcConfig
  readonly observationDim: number
  readonly actionDim: number
  /** The actor π; its EMA copy is the target actor π′. */
  readonly actor: Model.Model
  /** Twin Q (q1, q2); its EMA copy is the target critic. */
  readonly critic: Model.Model
  /** Not trained: `shift` and `scale` [1, S], normalised s = (s − shift)·scale. */
  readonly normaliser: Model.Model
}

const actorMlp = (c: Td3BcConfig, observationDim: number, actionDim: number): Mlp.MlpConfig => ({
  inputs: observationDim, widths: [c.hidden, c.hidden, actionDim], activation: "relu"
})
const qMlp = (c: Td3BcConfig, inputs: number): Mlp.MlpConfig => ({ inputs, widths: [c.hidden, c.hidden, 1], activation: "relu" })

/** The normaliser's host values: shift = mean, scale = 1/(std + ε); the identity when normalisation is off. */
export interface Normaliser {
  readonly shift: Float32Array
  readonly scale: Float32Array
}

export const identityNormaliser = (observationDim: number): Normaliser => ({
  shift: new Float32Array(observationDim),
  scale: new Float32Array(observationDim).fill(1)
})

/** The normaliser of a dataset's observations (or the identity when `config.normalizeObservations` is off). */
export const normaliserOf = (config: Td3BcConfig, ds: OfflineDataset.OfflineDataset): Normaliser => {
  if (!config.normalizeObservations) return identityNormaliser(ds.observationDim)
  const { mean, std } = observationStatistics(ds)
  return { shift: mean, scale: Float32Array.from(std, (s) => 1 / (s + NORMALISATION_EPSILON)) }
}

const normaliserSpecs = (observationDim: number): Array<Parameters.ParamSpec> => [
  { name: "shift", rows: 1, cols: observationDim, init: { kind: "zeros" } },
  { name: "scale", rows: 1, cols: observationDim, init: { kind: "ones" } }
]

/** A fresh agent; the normaliser defaults to the identity (a checkpoint restore overwrites it). */
export const create = (
  B: TensorBackend,
  c: Td3BcConfig,
  observationDim: number,
  actionDim: number,
  key: RngKey,
  normaliser: Normaliser = identityNormaliser(observationDim)
): Td3Bc => {
  const norm = Model.create(B, normaliserSpecs(observationDim), key)
  const flat = new Float32Array(norm.layout.size)
  flat.set(normaliser.shift, norm.layout.offsets[0])
  flat.set(normaliser.scale, norm.layout.offsets[1])
  B.write(norm.params, flat)
  return {
    config: c,
    observationDim,
    actionDim,
    actor: Model.create(B, Mlp.specs("pi", actorMlp(c, observationDim, actionDim)), Rng.split(key, "actor"), { ema: true }),
    critic: Model.create(B, [
      ...Mlp.specs("q1", qMlp(c, observationDim + actionDim)),
      ...Mlp.specs("q2", qMlp(c, observationDim + actionDim))
    ], Rng.split(key, "critic"), { ema: true }),
    normaliser: norm
  }
}

/** The agent's models by checkpoint name. */
export const models = (agent: Td3Bc): Record<string, Model.Model> => ({ actor: agent.actor, critic: agent.critic, normaliser: agent.normaliser })

/** Names of the columns `updateStep` returns. */
export const LOSS_NAMES = ["critic_loss", "actor_loss"] as const

/** (s − shift)·scale on a tape (constants: no gradient reaches the normaliser). */
export const normaliseOnTape = (t: Tape, agent: Td3Bc, observations: Var): Var => {
  const p = new Parameters.Bound(t, agent.normaliser.layout, agent.normaliser.params)
  return t.mul(t.sub(observations, p.get("shift")), p.get("scale"))
}

/** π(s) = tanh(MLP(s)) [B, A] for normalised states, with the actor parameters `p` (live or target). */
export const policy = (p: Parameters.Bound, agent: Td3Bc, normalised: Var): Var =>
  p.tape.unary("tanh", Mlp.apply(p, "pi", actorMlp(agent.config, agent.observationDim, agent.actionDim), normalised))

/** Q₁(s, a) [B, 1] for normalised states. */
export const q1 = (p: Parameters.Bound, agent: Td3Bc, normalised: Var, actions: Var): Var =>
  Mlp.apply(p, "q1", qMlp(agent.config, agent.observationDim + agent.actionDim), p.tape.concatCols([normalised, actions]))

/** [Q₁, Q₂](s, a) as [B, 2] for normalised states. */
export const qValues = (p: Parameters.Bound, agent: Td3Bc, normalised: Var, actions: Var): Var => {
  const input = p.tape.concatCols([normalised, actions])
  const c = qMlp(agent.config, input.cols)
  return p.tape.concatCols([Mlp.apply(p, "q1", c, input), Mlp.apply(p, "q2", c, input)])
}

/** The deterministic actor on a tape for raw (unnormalised) states [n, S]: a target policy's mean for guidance. */
export const actorMean = (agent: Td3Bc) => (t: Tape, observations: Var): Var =>
  policy(new Parameters.Bound(t, agent.actor.layout, agent.actor.params), agent, normaliseOnTape(t, agent, observations))

/**
 * The critic's regression target y [B, 1] from the targets π′ and Q′, for normalised next states and standard
 * normal noise ε [B, A]: y = r + γ·mask·min(Q′₁, Q′₂)(s′, clip(π′(s′) + clip(σ·ε, ±c), ±1)).
 */
export const criticTarget = (B: TensorBackend, agent: Td3Bc, rewards: Tensor, masks: Tensor, nextNormalised: Tensor, noise: Tensor): Tensor =>
  B.scope(() => {
    const c = agent.config
    const tape = new Tape(B)
    const t = new Parameters.Bound(tape, agent.actor.layout, agent.actor.ema!)
    const s2 = tape.leaf(nextNormalised)
    const smoothing = B.clamp(B.affine(noise, c.policyNoise, 0), -c.noiseClip, c.noiseClip)
    const next = B.clamp(B.binary("add", policy(t, agent, s2).value, smoothing), -1, 1)
    const q = qValues(new Parameters.Bound(tape, agent.critic.layout, agent.critic.ema!), agent, s2, tape.leaf(next)).value
    const minQ = B.binary("min", B.sliceCols(q, 0, 1), B.sliceCols(q, 1, 1))
    return B.binary("add", rewards, B.affine(B.binary("mul", masks, minQ), c.discount, 0))
  })

/**
 * The actor's loss [1, 1] on a tape whose actor parameters are `p`: −λ·mean Q₁(s, π(s)) + mean (π(s) − a)² with
 * λ = α / mean|Q₁(s, π(s))| a constant (no gradient through it) and the mean of the BC term over all B·A entries.
 * The critic is read at its live parameters, as constants.
 */
export const actorLoss = (p: Parameters.Bound, agent: Td3Bc, normalised: Var, actions: Tensor): Var => {
  const t = p.tape
  const B = t.backend
  const pi = policy(p, agent, normalised)
  const q = q1(new Parameters.Bound(t, agent.critic.layout, agent.critic.params), agent, normalised, pi)
  const lambda = B.binary("div", B.fill(1, 1, agent.config.alpha), B.reduce("mean", "all", B.unary("abs", q.value)))
  const bc = t.affine(t.mseLoss(pi, actions), 1 / agent.actionDim)
  return t.sub(bc, t.mul(t.leaf(lambda), t.reduce("mean", "all", q)))
}

const adam = { ...Optimizer.adamwDefaults, weightDecay: 0 }

/**
 * Step `step` (0-based) of TD3+BC on a minibatch of `data` (and of `synthetic`, by its share): the critic step,
 * then on every `policyDelay`-th step the actor step and the Polyak update of both targets. Returns
 * [critic loss, actor loss × policyDelay on actor steps and 0 on the others] as [1, 2], so that a logging window
 * of a multiple of policyDelay steps averages to the mean actor loss of its actor steps.
 */
export const updateStep = (
  B: TensorBackend,
  agent: Td3Bc,
  data: DeviceTransitions,
  key: RngKey,
  step: number,
  synthetic?: MixedBatches.Synthetic
): Tensor =>
  B.scope(() => {
    const c = agent.config
    const batch = MixedBatches.sample(B, data, c.batch, key, step, synthetic)
    const norm = Parameters.views(B, agent.normaliser.layout, agent.normaliser.params)
    const normalise = (x: Tensor) => B.binary("mul", B.binary("sub", x, norm.get("shift")!), norm.get("scale")!)
    const s = normalise(batch.observations)
    const noise = B.normal(c.batch, agent.actionDim, Rng.at(Rng.split(key, "smoothing"), step))
    const y = criticTarget(B, agent, batch.rewards, batch.masks, normalise(batch.nextObservations), noise)
    const criticLoss = Model.trainStep(B, agent.critic, { lr: c.lr, adamw: adam, emaRate: 0, rng: Rng.named(0, "td3bc-critic") }, (p) => {
      const t = p.tape
      // mean (Q₁ − y)² + mean (Q₂ − y)²: mseLoss is the mean over rows of the sum over the two columns.
      return t.mseLoss(qValues(p, agent, t.leaf(s), t.leaf(batch.actions)), B.concatCols([y, y]))
    })
    if ((step + 1) % c.policyDelay !== 0) return B.concatCols([criticLoss, B.zeros(1, 1)])
    const actorLossValue = Model.trainStep(B, agent.actor, { lr: c.lr, adamw: adam, emaRate: 0, rng: Rng.named(0, "td3bc-actor") }, (p) =>
      actorLoss(p, agent, p.tape.leaf(s), batch.actions))
    B.ema(agent.critic.ema!, agent.critic.params, c.polyak)
    B.ema(agent.actor.ema!, agent.actor.params, c.polyak)
    return B.concatCols([criticLoss, B.affine(actorLossValue, c.policyDelay, 0)])
  })

/** Actions π(s) [E·A] (host) for raw observations [E·S] (host); a failed read fails with the device's error. */
export const act = <E>(device: Device<E>, agent: Td3Bc, observations: Float64Array): Effect.Effect<Float64Array, E> =>
  Effect.suspend(() => {
    const B = device.ops
    const rows = observations.length / agent.observationDim
    const out = B.scope(() => {
      const p = Model.bind(B, agent.actor, agent.actor.params)
      const raw = p.tape.leaf(B.upload(Float32Array.from(observations), rows, agent.observationDim))
      return policy(p, agent, normaliseOnTape(p.tape, agent, raw)).value
    })
    return device.read(out).pipe(
      Effect.map((values) => Float64Array.from(values)),
      Effect.ensuring(Effect.sync(() => B.dispose(out)))
    )
  })
