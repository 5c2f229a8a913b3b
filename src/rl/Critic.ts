/**
 * In-sample value learning, one critic family with two kinds of value loss on
 * u = min(Q₁, Q₂)_target(s, a) − V(s): twin Q with Polyak-averaged targets, V with a LayerNorm on its input (SWG-JAX),
 * after each hidden layer (Diffusion-DICE) or none (IQL's own code): `valueLayerNorm`.
 *   - IQL (Kostrikov et al. 2022; SWG Algorithm 3; IDQL's value losses): expectile, quantile or linex.
 *   - DICE (Diffusion-DICE, Mao et al. 2024, the Q/V form of its DICE objective with the soft-χ²
 *     divergence): V minimises mean[f*(u/α) + V(s)/α], so at the optimum mean_a w*(u/α) = 1 at every
 *     state (the (1 − γ)·E_{ρ₀}[V] term is the batch's own states, as the reference code does).
 * Per step:
 *   1. V step on the value loss, 2. Q step on (r + γ·mask·V_new(s') − Q_i)² (backed up from the current
 *   V; averaged over both heads and the batch for IQL, summed over the heads for DICE, as each
 *   reference does), 3. the optional Q ensemble on the same target, 4. Polyak update of the target Qs.
 * The ensemble (D-DICE's 10 independent Qs on locomotion) only ranks candidate actions at evaluation.
 */
import { Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Divergence from "../domain/Divergence.ts"
import type { RngKey } from "../domain/Rng.ts"
import * as Rng from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import type { WeightFunction } from "../domain/WeightFunction.ts"
import * as Linear from "../nn/Linear.ts"
import * as Mlp from "../nn/Mlp.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import * as Parameters from "../nn/Parameters.ts"
import type { Tape, Var } from "../nn/Tape.ts"
import * as MixedBatches from "./MixedBatches.ts"

export class CriticConfig extends Schema.Class<CriticConfig>("CriticConfig")({
  /** Width of the two hidden layers of every network (IQL: 256). */
  hidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** Discount γ. */
  discount: Config.Probability.pipe(Config.withDefault(0.99)),
  /**
   * Value loss on u = Q − V: IDQL's expectile |τ − 1(u<0)|u², quantile |τ − 1(u<0)||u|, linex; or
   * "dice", Diffusion-DICE's f*(u/α) + V/α with the soft-χ² conjugate.
   */
  valueLoss: Schema.Literals(["expectile", "quantile", "linex", "dice"]).pipe(Config.withDefault("expectile")),
  /** Expectile/quantile τ (0.7 locomotion, 0.9 antmaze). */
  tau: Config.Probability.pipe(Config.withDefault(0.7)),
  /** Linex β (IDQL's critic_hyperparam for the "exponential" loss). */
  linexBeta: Config.PositiveFinite.pipe(Config.withDefault(1)),
  /**
   * DICE's α, the weight of the f-divergence; left out: 0.5 (Diffusion-DICE's code default; per-task
   * values are not published). Optional keys, so configs and checkpoints written before DICE are unchanged.
   */
  diceAlpha: Schema.optionalKey(Config.PositiveFinite),
  /**
   * Independent Qs trained on the same target beside the twin Q, for the ensemble-mean selection of
   * Diffusion-DICE on locomotion (10 there); left out: 0, none.
   */
  ensemble: Schema.optionalKey(Config.NonNegativeInt),
  /**
   * Where V's LayerNorm goes: "input", on the state before the first layer (SWG-JAX's `value_layer_norm`);
   * "hidden", after each hidden Dense layer and before its ReLU (Diffusion-DICE's value network, which has none on
   * the input); "none", a plain MLP (IQL's own `ValueCritic`). LayerNorm over the state's features makes V(c·s + d) =
   * V(s) for every c > 0 and d: on maze2d's 4-dimensional (x, y, ẋ, ẏ) V then cannot tell the cell (1, 1) at rest
   * from (3, 3) at rest. Left out: "input", so IQL configs and checkpoints are unchanged (the offline pipeline
   * resolves it per task: `Offline.criticConfig`).
   */
  valueLayerNorm: Schema.optionalKey(Schema.Literals(["input", "hidden", "none"])),
  /**
   * AdamW's decoupled weight decay on Q, V and the ensemble (Diffusion-DICE: 1e-4 on all three; IQL uses Adam).
   * Left out: 0.
   */
  weightDecay: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  /** Polyak rate of the target Qs. */
  polyak: Config.Probability.pipe(Config.withDefault(0.005)),
  lr: Config.PositiveFinite.pipe(Config.withDefault(3e-4)),
  batch: Config.PositiveInt.pipe(Config.withDefault(256))
}) {}

export const DEFAULT_DICE_ALPHA = 0.5

/** DICE's α of a config (0.5 when left out). */
export const diceAlpha = (c: CriticConfig): number => c.diceAlpha ?? DEFAULT_DICE_ALPHA

/** Members of the Q ensemble (0 when left out). */
export const ensembleSize = (c: CriticConfig): number => c.ensemble ?? 0

/** Where V's LayerNorm goes ("input" when left out). */
export const valueLayerNorm = (c: CriticConfig): "input" | "hidden" | "none" => c.valueLayerNorm ?? "input"

/** AdamW weight decay of the critic's networks (0 when left out). */
export const weightDecay = (c: CriticConfig): number => c.weightDecay ?? 0

/** LayerNorm ε: flax's default for IQL's input LayerNorm, torch's for Diffusion-DICE's hidden ones. */
export const INPUT_LAYER_NORM_EPS = 1e-6
export const HIDDEN_LAYER_NORM_EPS = 1e-5

/**
 * The critic's τ and the weight function's τ differ. Both are the asymmetry τ of one loss: the
 * expectile (or quantile) weight |τ − 1(A < 0)| is IDQL's implicit-policy weight of the critic
 * trained with that τ, so weights built with another τ do not match the critic.
 */
export class TauMismatch extends Schema.TaggedError<TauMismatch>()("TauMismatch", {
  criticTau: Schema.Finite,
  weightTau: Schema.Finite,
  weightFunction: Schema.String
}) {
  override get message(): string {
    return `critic.tau = ${this.criticTau} but swg.weightFunction (${this.weightFunction}) has tau = ${this.weightTau}: set both to the same value`
  }
}

/**
 * Fails with `TauMismatch` when the weight function carries a τ (expectile, smooth expectile,
 * quantile) that differs from the τ of the critic's expectile or quantile value loss.
 */
export const checkWeightTau = (c: CriticConfig, f: WeightFunction): Effect.Effect<void, TauMismatch> => {
  if (c.valueLoss === "linex" || c.valueLoss === "dice" || !("tau" in f) || f.tau === c.tau) return Effect.void
  return Effect.fail(new TauMismatch({ criticTau: c.tau, weightTau: f.tau, weightFunction: f._tag }))
}

/** Transitions on the device, rows aligned: s [N, S], a [N, A], r [N, 1], mask = 1 − terminal [N, 1], s' [N, S]. */
export interface DeviceTransitions {
  readonly observations: Tensor
  readonly actions: Tensor
  readonly rewards: Tensor
  readonly masks: Tensor
  readonly nextObservations: Tensor
}

export interface Critic {
  readonly config: CriticConfig
  readonly observationDim: number
  readonly actionDim: number
  /** Twin Q; its EMA copy is the target network. */
  readonly q: Model.Model
  readonly v: Model.Model
  /** The Q ensemble (`config.ensemble` members), absent when 0. */
  readonly ensemble: Model.Model | undefined
}

const qMlp = (c: CriticConfig, inputs: number): Mlp.MlpConfig => ({ inputs, widths: [c.hidden, c.hidden, 1], activation: "relu" })
const vMlp = (c: CriticConfig, inputs: number): Mlp.MlpConfig => ({ inputs, widths: [c.hidden, c.hidden, 1], activation: "relu" })

export const qSpecs = (c: CriticConfig, observationDim: number, actionDim: number): Array<Parameters.ParamSpec> => [
  ...Mlp.specs("q1", qMlp(c, observationDim + actionDim)),
  ...Mlp.specs("q2", qMlp(c, observationDim + actionDim))
]

export const ensembleSpecs = (c: CriticConfig, observationDim: number, actionDim: number): Array<Parameters.ParamSpec> =>
  Array.from({ length: ensembleSize(c) }, (_, i) => Mlp.specs(`e${i}`, qMlp(c, observationDim + actionDim))).flat()

const layerNormSpecs = (name: string, width: number): Array<Parameters.ParamSpec> => [
  { name: `${name}.gamma`, rows: 1, cols: width, init: { kind: "ones" } },
  { name: `${name}.beta`, rows: 1, cols: width, init: { kind: "zeros" } }
]

/** V's parameters: the Dense layers v.0 … v.2 and `v.ln` [1, S] on the input, `v.ln0`, `v.ln1` [1, hidden], or no LayerNorm. */
export const vSpecs = (c: CriticConfig, observationDim: number): Array<Parameters.ParamSpec> => {
  const mlp = vMlp(c, observationDim)
  switch (valueLayerNorm(c)) {
    case "input":
      return [...layerNormSpecs("v.ln", observationDim), ...Mlp.specs("v", mlp)]
    case "hidden":
      return [...Mlp.specs("v", mlp), ...mlp.widths.slice(0, -1).flatMap((w, i) => layerNormSpecs(`v.ln${i}`, w))]
    case "none":
      return Mlp.specs("v", mlp)
  }
}

export const create = (backend: TensorBackend, c: CriticConfig, observationDim: number, actionDim: number, key: RngKey): Critic => ({
  config: c,
  observationDim,
  actionDim,
  q: Model.create(backend, qSpecs(c, observationDim, actionDim), Rng.split(key, "q"), { ema: true }),
  v: Model.create(backend, vSpecs(c, observationDim), Rng.split(key, "v")),
  ensemble: ensembleSize(c) > 0 ? Model.create(backend, ensembleSpecs(c, observationDim, actionDim), Rng.split(key, "ensemble")) : undefined
})

/** The critic's models by checkpoint name (the ensemble only when there is one: old checkpoints load unchanged). */
export const models = (critic: Critic): Record<string, Model.Model> =>
  critic.ensemble === undefined ? { q: critic.q, v: critic.v } : { q: critic.q, v: critic.v, ensemble: critic.ensemble }

/** Names of the columns `updateStep` returns. */
export const lossNames = (c: CriticConfig): Array<string> => ensembleSize(c) > 0 ? ["v_loss", "q_loss", "ensemble_loss"] : ["v_loss", "q_loss"]

/** [Q₁, Q₂](s, a) as [B, 2]. */
export const qValues = (p: Parameters.Bound, c: CriticConfig, observations: Var, actions: Var): Var => {
  const t = p.tape
  const input = t.concatCols([observations, actions])
  return t.concatCols([Mlp.apply(p, "q1", qMlp(c, input.cols), input), Mlp.apply(p, "q2", qMlp(c, input.cols), input)])
}

/** The ensemble's Qs [B, members]. */
export const ensembleValues = (p: Parameters.Bound, c: CriticConfig, observations: Var, actions: Var): Var => {
  const input = p.tape.concatCols([observations, actions])
  return p.tape.concatCols(Array.from({ length: ensembleSize(c) }, (_, i) => Mlp.apply(p, `e${i}`, qMlp(c, input.cols), input)))
}

/** min(Q₁, Q₂) as [B, 1]. */
export const minQ = (t: Tape, q: Var): Var => t.binary("min", t.sliceCols(q, 0, 1), t.sliceCols(q, 1, 1))

/**
 * V(s) as [B, 1]: "input", Dense stack on LayerNorm(s) (SWG-JAX's `value_layer_norm`); "hidden", each hidden layer
 * ReLU(LayerNorm(h·W + b)) (Diffusion-DICE's value network), then the output layer; "none", the Dense stack on s.
 */
export const value = (p: Parameters.Bound, c: CriticConfig, observations: Var): Var => {
  const t = p.tape
  const mlp = vMlp(c, observations.cols)
  const norm = valueLayerNorm(c)
  if (norm === "none") return Mlp.apply(p, "v", mlp, observations)
  if (norm === "input") {
    return Mlp.apply(p, "v", mlp, t.layerNorm(observations, p.get("v.ln.gamma"), p.get("v.ln.beta"), INPUT_LAYER_NORM_EPS))
  }
  const last = mlp.widths.length - 1
  const hidden = mlp.widths.slice(0, -1).reduce((h, _, i) => {
    const normalised = t.layerNorm(Linear.apply(p, `v.${i}`, h), p.get(`v.ln${i}.gamma`), p.get(`v.ln${i}.beta`), HIDDEN_LAYER_NORM_EPS)
    return t.unary(mlp.activation, normalised)
  }, observations)
  return Linear.apply(p, `v.${last}`, hidden)
}

/**
 * f*(y) of the soft-χ² divergence on a tape, written so both branches are always finite:
 * f*(y) = (e^{min(y, 0)} − 1) + max(y, 0) + max(y, 0)²/4 (Divergence.conjugate).
 */
export const conjugateOnTape = (t: Tape, y: Var): Var => {
  const zero = t.leaf(t.backend.zeros(1, 1))
  const negative = t.affine(t.unary("exp", t.binary("min", y, zero)), 1, -1)
  const positive = t.binary("max", y, zero)
  return t.add(negative, t.add(positive, t.affine(t.unary("square", positive), 0.25)))
}

/** The value losses on u = q − v (mean over the batch); `v` is needed by DICE's V/α term. */
const valueLoss = (t: Tape, c: CriticConfig, u: Var, v: Var): Var => {
  const B = t.backend
  switch (c.valueLoss) {
    case "dice":
      // mean[f*(u/α) + V/α] (Diffusion-DICE's V objective; Divergence.ts for f*)
      return t.reduce("mean", "rows", t.add(conjugateOnTape(t, t.affine(u, 1 / diceAlpha(c))), t.affine(v, 1 / diceAlpha(c))))
    case "expectile":
      return t.expectileLoss(u, c.tau)
    case "quantile":
      // |τ − 1(u<0)|·|u| = max(τu, (τ − 1)u)
      return t.reduce("mean", "rows", t.binary("max", t.affine(u, c.tau), t.affine(u, c.tau - 1)))
    case "linex": {
      // (stopgrad(min(e^{βu}, 6)) − 1)·u, IDQL's `exponential_loss` with clipexp at ln 6.
      const w = B.affine(B.unary("exp", B.clamp(B.affine(u.value, c.linexBeta, 0), -Infinity, Math.log(6))), 1, -1)
      return t.reduce("mean", "rows", t.mul(t.leaf(w), u))
    }
  }
}

/**
 * One IQL step (V, then Q, then Polyak) on one minibatch (the same rows for the V and the Q step), drawn from
 * `data` and, by its share, from `synthetic` (MixedBatches). Returns [V loss, Q loss] as [1, 2] (read it every N steps).
 */
export const updateStep = (
  B: TensorBackend,
  critic: Critic,
  data: DeviceTransitions,
  key: RngKey,
  step: number,
  synthetic?: MixedBatches.Synthetic
): Tensor => {
  const c = critic.config
  const batch = MixedBatches.sample(B, data, c.batch, key, step, synthetic)
  const { observations: s, actions: a, rewards: r, masks: mask, nextObservations: s2 } = batch
  // IQL: Adam (no decay); Diffusion-DICE: AdamW with decay 1e-4 on V, Q and the ensemble
  const options = { lr: c.lr, adamw: { ...Optimizer.adamwDefaults, weightDecay: weightDecay(c) }, emaRate: 0, rng: Rng.named(0, "critic") }
  const vLoss = Model.trainStep(B, critic.v, options, (p) => {
    const t = p.tape
    const target = new Parameters.Bound(t, critic.q.layout, critic.q.ema ?? critic.q.params)
    const q = minQ(t, qValues(target, c, t.leaf(s), t.leaf(a)))
    const v = value(p, c, t.leaf(s))
    return valueLoss(t, c, t.sub(q, v), v)
  })
  // y = r + γ·mask·V(s') from the V just updated: one target for both heads and every ensemble member
  const y = B.scope(() => {
    const vp = Model.bind(B, critic.v, critic.v.params)
    return B.binary("add", r, B.affine(B.binary("mul", mask, value(vp, c, vp.tape.leaf(s2)).value), c.discount, 0))
  })
  const qLoss = Model.trainStep(B, critic.q, { ...options, emaRate: c.polyak }, (p) => {
    const t = p.tape
    const q = qValues(p, c, t.leaf(s), t.leaf(a))
    // IQL: mean over heads and batch of (Q_i − y)², the summed-over-heads mse halved; DICE: summed over heads
    return t.affine(t.mseLoss(q, B.concatCols([y, y])), c.valueLoss === "dice" ? 1 : 0.5)
  })
  const ensemble = critic.ensemble
  const eLoss = ensemble === undefined ? undefined : Model.trainStep(B, ensemble, options, (p) => {
    const t = p.tape
    // Σ over members of mean_batch (Q_i − y)²: each member sees only its own term
    return t.mseLoss(ensembleValues(p, c, t.leaf(s), t.leaf(a)), B.broadcastTo(y, y.rows, ensembleSize(c)))
  })
  for (const t of [s, a, r, mask, s2, y]) B.dispose(t)
  const parts = eLoss === undefined ? [vLoss, qLoss] : [vLoss, qLoss, eLoss]
  const losses = B.concatCols(parts)
  for (const t of parts) B.dispose(t)
  return losses
}

/** DICE's ratios w*((min(Q₁, Q₂)_target − V)/α) of every row (from `advantages`), clipped to [1e-40, 100]. */
export const diceRatios = (c: CriticConfig, advantages: ArrayLike<number>): Float64Array =>
  Divergence.ratios(advantages, new Float64Array(advantages.length), diceAlpha(c))

/** Advantages A = min(Q₁, Q₂)_target(s, a) − V(s) of every row, in chunks (no gradients). */
export const advantages = (B: TensorBackend, critic: Critic, observations: Tensor, actions: Tensor, chunk = 4096): Array<Tensor> => {
  const out: Array<Tensor> = []
  for (let start = 0; start < observations.rows; start += chunk) {
    const rows = Math.min(chunk, observations.rows - start)
    out.push(B.scope(() => {
      const idx = B.upload(Float32Array.from({ length: rows }, (_, i) => start + i), rows, 1)
      const s = B.gatherRows(observations, idx)
      const a = B.gatherRows(actions, idx)
      const qp = Model.bind(B, critic.q, critic.q.ema ?? critic.q.params)
      const q = minQ(qp.tape, qValues(qp, critic.config, qp.tape.leaf(s), qp.tape.leaf(a)))
      const vp = Model.bind(B, critic.v, critic.v.params)
      return B.binary("sub", q.value, value(vp, critic.config, vp.tape.leaf(s)).value)
    }))
  }
  return out
}
