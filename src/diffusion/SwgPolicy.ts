/**
 * Guided sampling of z = (a, w) given conditions with a trained ε-network: the SWG sampler
 * (Tagle et al. 2025, eq. 26 in a DDPM loop, SWG-JAX form, with per-step clipping of actions and weight).
 */
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { GridPoint } from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import type { Layout } from "../nn/Parameters.ts"
import * as Parameters from "../nn/Parameters.ts"
import * as EpsNetwork from "./EpsNetwork.ts"
import * as Sampler from "./Sampler.ts"
import * as Swg from "./Swg.ts"

export interface GuidedSampleOptions {
  readonly backend: TensorBackend
  readonly network: EpsNetwork.EpsNetworkConfig
  readonly layout: Layout
  /** Flat parameters to sample with (SWG evaluates with the EMA copy). */
  readonly params: Tensor
  /** Conditions [B, conditionDim], or undefined for an unconditional model (then `rows` sets B). */
  readonly condition: Tensor | undefined
  readonly rows: number
  readonly grid: ReadonlyArray<GridPoint>
  readonly sampler: Sampler.SamplerKind
  readonly guidance: Swg.SwgGuidance
  /** Initial noise scale (SWG-JAX multiplies x_T by the temperature; 0 makes sampling deterministic). */
  readonly initialScale: number
  readonly clip: Sampler.Clip | undefined
  readonly key: RngKey
}

/**
 * The denoiser ε̃(z_t) of a network with SWG guidance, at a grid point. `onWeight`, when given,
 * receives ŵ₀(z_t) of every call (unclipped, eq. 25) while the step's tensors are still live.
 */
export const denoiser = (o: GuidedSampleOptions, onWeight?: (weight: Tensor) => void): Sampler.Denoiser => (x, point) => {
  const B = o.backend
  // One time for every row: its embedding is computed once and gathered into each row.
  const time = B.fill(1, 1, point.time)
  const index = B.zeros(x.rows, 1)
  const network: Swg.EpsNetwork = (tape, z) => {
    const p = new Parameters.Bound(tape, o.layout, o.params)
    return EpsNetwork.apply(p, o.network, z, o.condition === undefined ? undefined : tape.leaf(o.condition), { times: tape.leaf(time), index })
  }
  const { eps, weight } = Swg.guidedEps(B, network, x, point, o.guidance)
  onWeight?.(weight)
  return eps
}

const run = (o: GuidedSampleOptions, onWeight?: (weight: Tensor) => void): Tensor => {
  const B = o.backend
  const xT = B.scope(() => B.affine(B.normal(o.rows, o.network.dataDim, Rng.split(o.key, "initial")), o.initialScale, 0))
  const z0 = Sampler.sample(
    { backend: B, denoiser: denoiser(o, onWeight), grid: o.grid, sampler: o.sampler, key: Rng.split(o.key, "steps"), ...(o.clip ? { clip: o.clip } : {}) },
    xT
  )
  B.dispose(xT)
  return z0
}

/** Samples z₀ [rows, dataDim]: actions in the first columns, the generated weight last. */
export const sample = (o: GuidedSampleOptions): Tensor => run(o)

/**
 * Samples z₀ as `sample` does, and also returns ŵ₀ [rows, 1] of the last denoiser call: the
 * network's own estimate of the clean weight, before any clip (the iterate's weight coordinate is
 * clipped every step, so with a clip z₀'s last column piles up at the bound; SWG-R ranks by this).
 */
export const sampleWithWeight = (o: GuidedSampleOptions): { readonly z0: Tensor; readonly weight: Tensor } => {
  const B = o.backend
  // Allocated outside the sampler's per-step scopes, so each step's copy outlives its scope.
  const weight = B.zeros(o.rows, 1)
  const z0 = run(o, (w) => B.copyInto(weight, w))
  return { z0, weight }
}
