/**
 * Diffusion-DICE's in-sample guidance (Mao et al. 2024, Theorem 1 and In-sample Guidance Learning):
 *   ∇ log π*_t(a_t | s) = ∇ log π^D_t(a_t | s) + ∇ log E_{a₀ ~ π^D(a₀ | a_t, s)}[w*(s, a₀)],
 * and a network g_θ(a_t, s, t) trained on dataset actions only with the IGL loss
 *   L(θ) = E_{t, (s, a₀) ~ D, z}[ w*(s, a₀)·e^{−g_θ(a_t, s, t)} + g_θ(a_t, s, t) ],  a_t = α(t)·a₀ + σ(t)·z,
 * whose minimiser is g = log E[w* | a_t, s] (Lemma 1). The guided noise is ε̃ = ε_θ − s_guid·σ(t)·∇_{a_t} g.
 *
 * The loss in its stabilised form, as the reference computes it: each dataset action is repeated M times,
 * the M copies share one t and get independent noise; with constants (no gradient)
 *   c = min(0, g + 80),  u = c − g (= −g unless g < −80),  m = max(max over all B·M rows of u, −1),
 *   L = mean[ w*·e^{u − m} + e^{−m}·g ],
 * which is e^{−m} times the IGL loss where g ≥ −80: the same minimiser, and e^{u − m} ≤ 1 never overflows.
 *
 * Network (the reference's GuidanceWt): concat[a_t, time embedding, s] → 4 hidden layers of 256, SiLU → 1;
 * time embedding: Fourier features of t (fed as 150·t, see DiceBehaviour: the frequencies of the
 * reference's fixed Gaussian projection of scale 30, learnable here) → Linear(32, 32).
 */
import { Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as NoiseSchedule from "../domain/NoiseSchedule.ts"
import { ShapeError } from "../domain/Ops.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { GridPoint } from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as FourierFeatures from "../nn/FourierFeatures.ts"
import * as Linear from "../nn/Linear.ts"
import * as Mlp from "../nn/Mlp.ts"
import * as Parameters from "../nn/Parameters.ts"
import type { Bound, Layout, ParamSpec } from "../nn/Parameters.ts"
import { Tape, type Var } from "../nn/Tape.ts"
import { noised, TIME_SCALE, uniformTime } from "./DiceBehaviour.ts"
import type { GuidanceGradient } from "./DiceBehaviour.ts"

export class GuidanceNetworkConfig extends Schema.Class<GuidanceNetworkConfig>("GuidanceNetworkConfig")({
  /** Width of a (the action). */
  actionDim: Config.PositiveInt,
  /** Width of the state; 0 for none (the bandit). */
  conditionDim: Config.NonNegativeInt,
  /** Fourier features of t (reference: 32). */
  timeFeatures: Config.PositiveInt.pipe(Config.withDefault(32)),
  /** Width of the Linear after them (reference: 32). */
  timeEmbedding: Config.PositiveInt.pipe(Config.withDefault(32)),
  /** Width of the hidden layers (reference: 256). */
  hidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** Hidden layers (reference: 4). */
  layers: Config.PositiveInt.pipe(Config.withDefault(4))
}) {}

const body = (c: GuidanceNetworkConfig): Mlp.MlpConfig => ({
  inputs: c.actionDim + c.timeEmbedding + c.conditionDim,
  widths: [...Array.from({ length: c.layers }, () => c.hidden), 1],
  activation: "silu"
})

export const specs = (c: GuidanceNetworkConfig): Array<ParamSpec> => [
  ...FourierFeatures.specs("time.fourier", 1, c.timeFeatures),
  ...Linear.specs("time.linear", c.timeFeatures, c.timeEmbedding),
  ...Mlp.specs("body", body(c))
]

/** g(a_t, s, t) [B, 1]: a [B, A], condition [B, S] or absent, time t ∈ (0, 1] as [B, 1]. */
export const apply = (p: Bound, c: GuidanceNetworkConfig, a: Var, condition: Var | undefined, time: Var): Var => {
  const t = p.tape
  const embedding = Linear.apply(p, "time.linear", FourierFeatures.apply(p, "time.fourier", t.affine(time, TIME_SCALE)))
  return Mlp.apply(p, "body", body(c), t.concatCols(condition === undefined ? [a, embedding] : [a, embedding, condition]))
}

// ---- the IGL loss --------------------------------------------------------------------------------

/** The largest entry of a column [N, 1] as [1, 1], by pairwise maxima over its [1, N] view (no readback). */
export const columnMax = (B: TensorBackend, x: Tensor): Tensor => {
  if (x.cols !== 1) throw new ShapeError({ op: "DiceGuidance.columnMax", detail: `needs a column [N, 1], got [${x.rows}, ${x.cols}]` })
  let m = B.view(x, 0, 1, x.rows)
  for (let width = x.rows; width > 1; width = Math.floor(width / 2)) {
    const half = Math.floor(width / 2)
    const pairs = B.binary("max", B.sliceCols(m, 0, half), B.sliceCols(m, half, half))
    m = width % 2 === 1 ? B.binary("max", pairs, B.sliceCols(m, width - 1, 1)) : pairs
  }
  return m
}

/**
 * The stabilised IGL loss of g [N, 1] against the ratios w [N, 1] (see the header); its gradient in g is
 * e^{−m}·(1 − w·e^{−g}) where g ≥ −80, e^{−m} times that of mean[w·e^{−g} + g].
 */
export const iglLoss = (tape: Tape, g: Var, w: Tensor): Var => {
  if (g.cols !== 1 || w.cols !== 1 || g.rows !== w.rows) {
    throw new ShapeError({ op: "DiceGuidance.iglLoss", detail: `g and w must be the same column [N, 1], got [${g.rows}, ${g.cols}] and [${w.rows}, ${w.cols}]` })
  }
  const B = tape.backend
  const c = tape.leaf(B.clamp(B.affine(g.value, 1, 80), -Infinity, 0))
  const u = tape.sub(c, g)
  const m = B.clamp(columnMax(B, u.value), -1, Infinity)
  const weighted = tape.mul(tape.leaf(w), tape.unary("exp", tape.sub(u, tape.leaf(m))))
  const linear = tape.mul(tape.leaf(B.unary("exp", B.affine(m, -1, 0))), g)
  return tape.reduce("mean", "all", tape.add(weighted, linear))
}

/** Index [rows·copies, 1] repeating each row `copies` times (rows i·M … i·M + M − 1 are row i): make it once. */
export const repeatIndex = (B: TensorBackend, rows: number, copies: number): Tensor =>
  B.upload(Float32Array.from({ length: rows * copies }, (_, j) => Math.floor(j / copies)), rows * copies, 1)

/**
 * The IGL loss of a batch: actions a₀ [B, A], ratios w [B, 1], conditions [B, S] (or none), each row repeated
 * M times by `repeat` (from `repeatIndex(B, M)`); one t ~ U(1e-3, 1) per row shared by its copies, noise per copy.
 */
export const iglLossOn = (
  p: Bound,
  config: GuidanceNetworkConfig,
  s: NoiseSchedule.VpContinuous,
  a0: Tensor,
  w: Tensor,
  condition: Tensor | undefined,
  repeat: Tensor,
  key: RngKey
): Var => {
  const B = p.tape.backend
  const tape = p.tape
  const t = B.gatherRows(uniformTime(B, a0.rows, Rng.at(Rng.split(key, "time"), key.offset)), repeat)
  const z = B.normal(repeat.rows, a0.cols, Rng.at(Rng.split(key, "noise"), key.offset))
  const at = noised(B, s, B.gatherRows(a0, repeat), t, z)
  const g = apply(p, config, tape.leaf(at), condition === undefined ? undefined : tape.leaf(B.gatherRows(condition, repeat)), tape.leaf(t))
  return iglLoss(tape, g, B.gatherRows(w, repeat))
}

// ---- guidance ------------------------------------------------------------------------------------

/** ∇_{a_t} Σ_rows g(a_t, s, t) [B, A] of a trained network at a grid point; non-finite entries become 0. */
export const gradient = (
  backend: TensorBackend, config: GuidanceNetworkConfig, layout: Layout, params: Tensor, condition: Tensor | undefined
): GuidanceGradient => (x, point: GridPoint) => {
  const tape = new Tape(backend)
  const a = tape.leaf(x)
  const p = new Parameters.Bound(tape, layout, params)
  const g = apply(p, config, a, condition === undefined ? undefined : tape.leaf(condition), tape.leaf(backend.fill(x.rows, 1, point.time)))
  const [grad] = tape.grad(tape.reduce("sum", "all", g), [a])
  return backend.unary("finiteOrZero", grad)
}
