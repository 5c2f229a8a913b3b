/**
 * Self-Weighted Guidance (Tagle et al. 2025, Thm 3.5): one diffusion model over z = (a, w) guides
 * itself with the gradient of its own predicted clean weight.
 *
 *   ŵ₀(z_t) = (w_t − σ_t·ε_θ^{(w)}(z_t)) / α_t                    (eq. 25, α_t = √ᾱ_t)
 *   ε̃(z_t)  = ε_θ(z_t) − ρ·σ_t·∇_{z_t} log clip(ŵ₀(z_t))           (eq. 26 with guidance scale ρ)
 *
 * The gradient is taken w.r.t. the whole z_t (actions and weight) through the whole network
 * (Remark 3.4); ŵ₀ is clipped to [min, max] before the log, clipped entries get zero gradient,
 * and non-finite gradients become zero (ALGORITHMS.md §2.4, §7 items 1–2).
 */
import { Schema } from "effect"
import type { GridPoint } from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import { Tape, type Var } from "../nn/Tape.ts"

export class SwgGuidance extends Schema.Class<SwgGuidance>("SwgGuidance")({
  /** Guidance scale ρ: 1 samples the weighted target exactly, > 1 sharpens it (≈ p·w^ρ). */
  scale: Schema.Finite,
  /** Lower clip of ŵ₀ before the log (SWG-JAX: 1e-4). */
  minWeight: Schema.Finite.check(Schema.isGreaterThan(0)),
  /** Upper clip of ŵ₀ (SWG-JAX: 1 for expectile weights; exp-weights need more, §7 item 2). */
  maxWeight: Schema.Finite
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
 * The guided ε̃ at z_t, and ŵ₀ (useful for SWG-R's selection). With ρ = 0 this is the plain
 * network output and no gradient is computed.
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
  if (guidance.scale === 0) return { eps: eps.value, weight: w0.value }
  const logW = tape.reduce("sum", "all", tape.unary("log", tape.clamp(w0, guidance.minWeight, guidance.maxWeight)))
  const [grad] = tape.grad(logW, [z])
  const safe = backend.unary("finiteOrZero", grad)
  const guided = backend.binary("sub", eps.value, backend.affine(safe, guidance.scale * point.sigma, 0))
  return { eps: guided, weight: w0.value }
}
