/**
 * QGPO: contrastive energy prediction (Lu et al., ICML 2023, "Contrastive Energy Prediction for Exact
 * Energy-Guided Diffusion Sampling in Offline RL"). A separate *intermediate energy* network f_φ(x_t, t)
 * guides an unguided behaviour diffusion model towards π(x₀) ∝ μ(x₀)·exp(β·e(x₀)).
 *
 * Training (CEP, the paper's eq. 11): the rows come in groups of K clean points x₀¹…x₀ᴷ that share one
 * noise level t, each noised independently, x_tⁱ = α_t·x₀ⁱ + σ_t·εⁱ; with energy labels β·e(x₀ⁱ),
 *   L = − mean_groups Σ_i softmax_i(β·e(x₀ⁱ)) · log softmax_i(f_φ(x_tⁱ, t)).
 * The toy form is one group (the minibatch) with one t; offline QGPO has one group per state: its K support
 * actions (labels β·Q(s, aⁱ)). For any K ≥ 2 the optimum is (the paper's Thm 3.2)
 *   f*(x_t, t) = log E_{q(x₀ | x_t)}[exp(β·e(x₀))] + C(t),
 * and the noised target's score is ∇ log π_t(x_t) = ∇ log μ_t(x_t) + ∇f*(x_t, t) (eq. 6). So sampling with
 *   ε̃(x_t) = ε_θ(x_t) − s·σ_t·∇_{x_t} f_φ(x_t, t)
 * is exact at guidance scale s = 1 (s > 1 sharpens, ≈ μ·exp(s·β·e)).
 *
 * The softmaxes are shifted by each group's maximum (a constant: the loss and its gradient do not change).
 */
import { Schema } from "effect"
import { type Activation as ActivationName, Activations, ShapeError } from "../domain/Ops.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { GridPoint } from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as FourierFeatures from "../nn/FourierFeatures.ts"
import * as Mlp from "../nn/Mlp.ts"
import type { Bound, ParamSpec } from "../nn/Parameters.ts"
import { Tape, type Var } from "../nn/Tape.ts"
import type { TimeRows } from "./EpsNetwork.ts"
import * as Swg from "./Swg.ts"
import type { NoiseTables } from "./Training.ts"

const Int = Schema.Int.check(Schema.isGreaterThan(0))

/** f_φ(x_t, condition, t): an MLP on [x_t, condition, time embedding] with one output. */
export class EnergyNetworkConfig extends Schema.Class<EnergyNetworkConfig>("EnergyNetworkConfig")({
  /** Width of x (the toys' points: 2; offline: the action). */
  dataDim: Int,
  /** Width of the condition (state dims, or 1 for the toys' β); 0 for none. */
  conditionDim: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Fourier features of the time input (the integer step, as the behaviour model is fed). */
  timeFeatures: Int,
  /** Width of the time MLP Dense → silu → Dense. */
  timeHidden: Int,
  /** Width of the body (QGPO: 256 offline, 512 on the toys). */
  hidden: Int,
  /** Hidden layers of the body, each `hidden` wide, before the scalar output layer (QGPO: 4 offline). */
  hiddenLayers: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** QGPO uses silu. */
  activation: Schema.Literals(Activations)
}) {}

const timeMlp = (c: EnergyNetworkConfig): Mlp.MlpConfig => ({
  inputs: c.timeFeatures,
  widths: [c.timeHidden, c.timeHidden],
  activation: "silu"
})

const body = (c: EnergyNetworkConfig): Mlp.MlpConfig => ({
  inputs: c.dataDim + c.conditionDim + c.timeHidden,
  widths: [...Array.from({ length: c.hiddenLayers }, () => c.hidden), 1],
  activation: c.activation as ActivationName
})

export const specs = (c: EnergyNetworkConfig): Array<ParamSpec> => [
  ...FourierFeatures.specs("time.fourier", 1, c.timeFeatures),
  ...Mlp.specs("time.mlp", timeMlp(c)),
  ...Mlp.specs("body", body(c))
]

/**
 * f_φ(x_t, condition, t) [B, 1]: x [B, dataDim], condition [B, conditionDim] or absent, time [B, 1] or as rows of a
 * table of times (`TimeRows`: the time embedding and its share of the body's first layer computed once per distinct
 * time and gathered).
 */
export const apply = (p: Bound, c: EnergyNetworkConfig, x: Var, condition: Var | undefined, time: Var | TimeRows): Var => {
  const t = p.tape
  const embed = (s: Var) => Mlp.apply(p, "time.mlp", timeMlp(c), FourierFeatures.apply(p, "time.fourier", s))
  const xs = condition === undefined ? x : t.concatCols([x, condition])
  if ("index" in time) {
    // The body's first layer on [x, s, e] is [x, s]·W_xs + e·W_e + b: the embedding's share once per distinct time,
    // gathered (the same up to rounding as gathering e first), so the per-row product is only xs.cols wide.
    const w = p.get("body.0.w")
    const timeShare = t.gatherRows(t.matmul(embed(time.times), t.sliceRows(w, xs.cols, c.timeHidden)), time.index)
    const first = t.add(t.linear(xs, t.sliceRows(w, 0, xs.cols), p.get("body.0.b")), timeShare)
    return Mlp.applyFrom(p, "body", body(c), t.unary(Mlp.activationAfter(body(c), 0), first), 1)
  }
  return Mlp.apply(p, "body", body(c), t.concatCols([xs, embed(time)]))
}

// ---- groups ------------------------------------------------------------------------------------

/**
 * Rows [G·K] in G contiguous groups of K. A column [G·K, 1] is then the row-major [G, K] matrix of its groups, so a
 * sum per group is a row sum of that view (`groupSum`) and a value per group goes back to the rows by broadcasting
 * (`perRow`): no [G·K, G] indicator product.
 */
export interface Grouping {
  readonly groups: number
  readonly size: number
}

export const grouping = (groups: number, size: number): Grouping => {
  if (!Number.isInteger(groups) || !Number.isInteger(size) || groups < 1 || size < 2) {
    throw new ShapeError({ op: "Qgpo.grouping", detail: `needs at least 1 group of at least 2 rows, got ${groups} of ${size}` })
  }
  return { groups, size }
}

const checkColumn = (op: string, what: string, v: { rows: number; cols: number }, g: Grouping) => {
  if (v.cols !== 1 || v.rows !== g.groups * g.size) {
    throw new ShapeError({ op, detail: `${what} must be [${g.groups * g.size}, 1] (${g.groups} groups of ${g.size}), got [${v.rows}, ${v.cols}]` })
  }
}

/** Σ_{i∈g} x_i of each group of a column [G·K, 1], as [G, 1]. */
export const groupSum = (backend: TensorBackend, x: Tensor, g: Grouping): Tensor => {
  checkColumn("Qgpo.groupSum", "x", x, g)
  return backend.reduce("sum", "cols", backend.view(x, 0, g.groups, g.size))
}

/** A value per group [G, 1] repeated over the group's rows: [G·K, 1]. */
export const perRow = (backend: TensorBackend, v: Tensor, g: Grouping): Tensor =>
  backend.view(backend.broadcastTo(v, g.groups, g.size), 0, g.groups * g.size, 1)

/** Each group's maximum of a column [G·K, 1], repeated over the group's rows: a pairwise max over the [G, K] view. */
export const groupMax = (backend: TensorBackend, x: Tensor, g: Grouping): Tensor => {
  const B = backend
  let m = B.view(x, 0, g.groups, g.size)
  for (let width = g.size; width > 1; width = Math.floor(width / 2)) {
    const half = Math.floor(width / 2)
    const pairs = B.binary("max", B.sliceCols(m, 0, half), B.sliceCols(m, half, half))
    m = width % 2 === 1 ? B.binary("max", pairs, B.sliceCols(m, width - 1, 1)) : pairs
  }
  return perRow(B, m, g)
}

/** softmax within each group of a column [G·K, 1] (no tape: the CEP targets are constants). */
export const groupSoftmax = (backend: TensorBackend, x: Tensor, g: Grouping): Tensor => {
  checkColumn("Qgpo.groupSoftmax", "logits", x, g)
  const B = backend
  const e = B.unary("exp", B.binary("sub", x, groupMax(B, x, g)))
  return B.binary("div", e, perRow(B, groupSum(B, e, g), g))
}

/**
 * The contrastive energy prediction loss of `f` [G·K, 1] against energy labels [G·K, 1] (β·e, or β·Q):
 * mean over groups of logsumexp_g(f) − Σ_{i∈g} softmax_g(labels)_i·f_i, which is the cross-entropy
 * − Σ_i softmax(labels)_i·log softmax(f)_i of eq. 11.
 */
export const cepLoss = (tape: Tape, f: Var, labels: Tensor, g: Grouping): Var => {
  checkColumn("Qgpo.cepLoss", "f", f, g)
  checkColumn("Qgpo.cepLoss", "labels", labels, g)
  const B = tape.backend
  const target = tape.leaf(groupSoftmax(B, labels, g))
  const shift = tape.leaf(groupMax(B, f.value, g))
  // Σ_{i∈g} exp(f_i − max_g) per group: row sums of the [G, K] view
  const sums = tape.reduce("sum", "cols", tape.reshape(tape.unary("exp", tape.sub(f, shift)), g.groups, g.size))
  // Σ_g logsumexp_g = Σ_g log Σ exp(f − max_g) + Σ_g max_g, the last term being (1/K)·Σ_i shift_i
  const logSumExp = tape.add(
    tape.reduce("sum", "all", tape.unary("log", sums)),
    tape.affine(tape.reduce("sum", "all", shift), 1 / g.size)
  )
  const crossTerm = tape.reduce("sum", "all", tape.mul(target, f))
  return tape.affine(tape.sub(logSumExp, crossTerm), 1 / g.groups)
}

/**
 * The floor of the CEP loss on a batch: the mean over groups of the entropy H_g = − Σ_{i∈g} p_i·log p_i of the
 * target p = softmax_g(β·e) (`energies` e [G·K, 1]: the toys' e, offline Q̄), in nats, between 0 (one point takes
 * all the weight) and log K (equal energies). The cross-entropy of eq. 11 is H(p) + KL(p ‖ softmax_g(f)), so the
 * loss minus this floor is the mean KL of the model's group softmax from the target: ≥ 0, and 0 only where f
 * matches β·e up to a constant per group. At t > 0 the noised x_t hides part of which x₀ it came from, so even
 * f* keeps some KL there; the floor is met only as the noise vanishes. No tape (a diagnostic, [1, 1]).
 * With z = β·e − max_g, log p_i = z_i − log Σ_g exp(z), so H_g = log Σ_g exp(z) − Σ_{i∈g} p_i·z_i (finite for any spread).
 */
export const targetEntropy = (backend: TensorBackend, energies: Tensor, beta: number, g: Grouping): Tensor => {
  checkColumn("Qgpo.targetEntropy", "energies", energies, g)
  const B = backend
  const scaled = B.affine(energies, beta, 0)
  const z = B.binary("sub", scaled, groupMax(B, scaled, g))
  const e = B.unary("exp", z)
  const sums = groupSum(B, e, g)
  const p = B.binary("div", e, perRow(B, sums, g))
  const total = B.binary("sub", B.reduce("sum", "all", B.unary("log", sums)), B.reduce("sum", "all", B.binary("mul", p, z)))
  return B.affine(total, 1 / g.groups, 0)
}

/**
 * The CEP loss of one batch: clean points x₀ [G·K, D] with labels [G·K, 1] and conditions [G·K, C] (or none);
 * one step t ~ U{0..T−1} per group (drawn from `key`), ε ~ N(0, I) per row.
 */
export const cepLossOn = (
  p: Bound,
  config: EnergyNetworkConfig,
  tables: NoiseTables,
  x0: Tensor,
  labels: Tensor,
  condition: Tensor | undefined,
  g: Grouping,
  key: RngKey
): Var => {
  const B = p.tape.backend
  const perGroup = B.randint(g.groups, 1, Rng.at(Rng.split(key, "time"), key.offset), tables.steps)
  const t = B.view(B.broadcastTo(perGroup, g.groups, g.size), 0, g.groups * g.size, 1)
  const eps = B.normal(x0.rows, x0.cols, Rng.at(Rng.split(key, "noise"), key.offset))
  const xt = B.binary("add", B.binary("mul", x0, B.gatherRows(tables.alpha, t)), B.binary("mul", eps, B.gatherRows(tables.sigma, t)))
  // The time embedding of the T steps, gathered by t (the same values as embedding t row by row).
  const time = { times: p.tape.leaf(tables.times), index: t }
  const f = apply(p, config, p.tape.leaf(xt), condition === undefined ? undefined : p.tape.leaf(condition), time)
  return cepLoss(p.tape, f, labels, g)
}

// ---- guidance ----------------------------------------------------------------------------------

export class QgpoGuidance extends Schema.Class<QgpoGuidance>("QgpoGuidance")({
  /** Guidance scale s: 1 samples μ·exp(β·e) exactly (with the exact f*), > 1 sharpens it. */
  scale: Schema.Finite,
  /**
   * Per-column range of the clean data, one entry per column of the sampled variable: when given, the guided
   * clean prediction (x_t − σ·ε̃)/α is clipped to it and ε̃ recomputed (as `Swg.clipCleanPrediction`). With the
   * exact f* at s = 1 that prediction is E_π[x₀ | x_t], a mean of data points, so the clip changes nothing there.
   */
  cleanRange: Schema.optionalKey(
    Schema.Struct({ lower: Schema.Array(Schema.Finite), upper: Schema.Array(Schema.Finite) })
  )
}) {}

/** The intermediate energy as a function of x_t on a tape (condition and time bound), [B, 1]. */
export type EnergyFunction = (tape: Tape, x: Var) => Var

/** ∇_{x_t} Σ_rows f(x_t) [B, D], non-finite entries set to 0. */
export const energyGradient = (backend: TensorBackend, energy: EnergyFunction, xT: Tensor): Tensor => {
  const tape = new Tape(backend)
  const x = tape.leaf(xT)
  const f = energy(tape, x)
  if (f.cols !== 1 || f.rows !== xT.rows) {
    throw new ShapeError({ op: "Qgpo.energyGradient", detail: `the energy must be [${xT.rows}, 1], got [${f.rows}, ${f.cols}]` })
  }
  const [grad] = tape.grad(tape.reduce("sum", "all", f), [x])
  return backend.unary("finiteOrZero", grad)
}

/** ε̃ = ε − s·σ_t·∇_{x_t} f(x_t) from the behaviour model's ε at x_t (then the clean-range clip, if any). */
export const guidedEps = (
  backend: TensorBackend,
  eps: Tensor,
  energy: EnergyFunction,
  xT: Tensor,
  point: GridPoint,
  guidance: QgpoGuidance
): Tensor => {
  const B = backend
  const guided = guidance.scale === 0
    ? eps
    : B.binary("sub", eps, B.affine(energyGradient(B, energy, xT), guidance.scale * point.sigma, 0))
  return guidance.cleanRange === undefined ? guided : Swg.clipCleanPrediction(B, xT, guided, point, guidance.cleanRange)
}
