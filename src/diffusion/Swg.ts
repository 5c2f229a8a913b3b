/**
 * Self-Weighted Guidance (Tagle et al. 2025, Thm 3.5): one diffusion model over z = (a, w) guides
 * itself with the gradient of its own predicted clean weight.
 *
 *   ŵ₀(z_t) = (w_t − σ_t·ε_θ^{(w)}(z_t)) / α_t                    (eq. 25, α_t = √ᾱ_t)
 *   ε̃(z_t)  = ε_θ(z_t) − ρ·σ_t·∇_{z_t} log clip(ŵ₀(z_t))           (eq. 26 with guidance scale ρ)
 *
 * The gradient is taken w.r.t. the whole z_t (actions and weight) through the whole network
 * (Remark 3.4); ŵ₀ is clipped to [min, max] before the log, clipped entries get zero gradient,
 * and non-finite gradients become zero (as SWG-JAX does).
 *
 * Optionally the guided clean prediction is kept inside the data's range. With ρ = 1 the guided ε̃
 * corresponds to the clean prediction ẑ₀ = (z_t − σ_t·ε̃)/α_t = E_π[z₀ | z_t], the posterior mean under
 * the weighted target (eq. 24 applied to π), and a mean of data points lies in their convex hull, so
 * inside the per-column range of the data. Clipping ẑ₀ to that range and recomputing
 * ε̃ = (z_t − α_t·clip(ẑ₀))/σ_t therefore never changes the exact guidance, and it discards the
 * impossible part of a guidance term made of network error: where ŵ₀ is predicted near 0, the
 * log's gradient ∇ŵ₀/ŵ₀ can be thousands of times what the exact posterior allows, most of all
 * at high noise, where ŵ₀ multiplies the error of ε_θ^{(w)} by σ_t/α_t.
 */
import { Schema } from "effect"
import { ShapeError } from "../domain/Ops.ts"
import type { GridPoint } from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import { Tape, type Var } from "../nn/Tape.ts"

export class SwgGuidance extends Schema.Class<SwgGuidance>("SwgGuidance")({
  /** Guidance scale ρ: 1 samples the weighted target exactly, > 1 sharpens it (≈ p·w^ρ). */
  scale: Schema.Finite,
  /** Lower clip of ŵ₀ before the log (SWG-JAX: 1e-4). */
  minWeight: Schema.Finite.check(Schema.isGreaterThan(0)),
  /** Upper clip of ŵ₀ (SWG-JAX: 1 for expectile weights; weights exp(β·e) ≥ 1 need more). */
  maxWeight: Schema.Finite,
  /**
   * Per-column range of the clean data z₀ = (a, w), `lower[d] ≤ upper[d]`, one entry per column of z (weight
   * last). When given, the guided clean prediction (z_t − σ_t·ε̃)/α_t is clipped to it at every ρ (ρ = 0
   * included) and ε̃ recomputed from the clipped value; left out, nothing is clipped (the reference codes).
   */
  cleanRange: Schema.optionalKey(
    Schema.Struct({ lower: Schema.Array(Schema.Finite), upper: Schema.Array(Schema.Finite) }).check(
      Schema.makeFilter((r) =>
        r.lower.length === r.upper.length && r.lower.every((l, d) => l <= r.upper[d])
          ? undefined
          : "lower and upper must have the same length and lower[d] ≤ upper[d]"
      )
    )
  )
}) {}

/** Defaults for bounded weights in (0, 1] (expectile family, D4RL). */
export const boundedWeights = (scale: number) => new SwgGuidance({ scale, minWeight: 1e-4, maxWeight: 1 })

/** Defaults for exp(β·e) weights ≥ 1 (the toys): no effective upper clip. */
export const expWeights = (scale: number, maxWeight: number) => new SwgGuidance({ scale, minWeight: 1e-4, maxWeight })

/** The ε-network as a function of z_t on a tape (conditioning and time already bound). */
export type EpsNetwork = (tape: Tape, z: Var) => Var

/** ŵ₀ of eq. 25 from z_t and ε, both [B, D] with the weight in the last column. */
export const predictedWeight = (tape: Tape, z: Var, eps: Var, point: GridPoint): Var => {
  const d = z.cols - 1
  const wT = tape.sliceCols(z, d, 1)
  const epsW = tape.sliceCols(eps, d, 1)
  return tape.affine(tape.sub(wT, tape.affine(epsW, point.sigma)), 1 / point.alpha)
}

/**
 * ε̃ with its clean prediction (z_t − σ·ε̃)/α clipped to `range`: ε̃' = (z_t − α·clip((z_t − σ·ε̃)/α))/σ.
 * Entries whose prediction is inside the range keep ε̃ (up to rounding).
 */
export const clipCleanPrediction = (
  backend: TensorBackend,
  zT: Tensor,
  eps: Tensor,
  point: GridPoint,
  range: { readonly lower: ReadonlyArray<number>; readonly upper: ReadonlyArray<number> }
): Tensor => {
  if (range.lower.length !== zT.cols || range.upper.length !== zT.cols) {
    throw new ShapeError({
      op: "Swg.clipCleanPrediction",
      detail: `cleanRange has ${range.lower.length} lower and ${range.upper.length} upper bounds for z with ${zT.cols} columns`
    })
  }
  const B = backend
  const lower = B.upload(Float32Array.from(range.lower), 1, zT.cols)
  const upper = B.upload(Float32Array.from(range.upper), 1, zT.cols)
  const temporaries: Array<Tensor> = [lower, upper]
  const temp = (t: Tensor) => {
    temporaries.push(t)
    return t
  }
  const x0 = B.affine(temp(B.binary("sub", zT, temp(B.affine(eps, point.sigma, 0)))), 1 / point.alpha, 0)
  const clipped = temp(B.binary("min", temp(B.binary("max", temp(x0), lower)), upper))
  const out = B.affine(temp(B.binary("sub", zT, temp(B.affine(clipped, point.alpha, 0)))), 1 / point.sigma, 0)
  for (const t of temporaries) B.dispose(t)
  return out
}

/**
 * The guided ε̃ at z_t, and ŵ₀ (useful for SWG-R's selection; always the network's own, unclipped).
 * With ρ = 0 this is the plain network output (clean prediction clipped to `cleanRange` if given)
 * and no gradient is computed.
 */
export const guidedEps = (
  backend: TensorBackend,
  network: EpsNetwork,
  zT: Tensor,
  point: GridPoint,
  guidance: SwgGuidance
): { readonly eps: Tensor; readonly weight: Tensor } => {
  const tape = new Tape(backend)
  const z = tape.leaf(zT)
  const eps = network(tape, z)
  const w0 = predictedWeight(tape, z, eps, point)
  const inRange = (e: Tensor) =>
    guidance.cleanRange === undefined ? e : clipCleanPrediction(backend, zT, e, point, guidance.cleanRange)
  if (guidance.scale === 0) return { eps: inRange(eps.value), weight: w0.value }
  const logW = tape.reduce("sum", "all", tape.unary("log", tape.clamp(w0, guidance.minWeight, guidance.maxWeight)))
  const [grad] = tape.grad(logW, [z])
  const safe = backend.unary("finiteOrZero", grad)
  const guided = backend.binary("sub", eps.value, backend.affine(safe, guidance.scale * point.sigma, 0))
  return { eps: inRange(guided), weight: w0.value }
}
