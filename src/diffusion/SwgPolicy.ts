/**
 * Guided sampling of z = (a, w) given conditions with a trained ε-network: the SWG sampler of
 * ALGORITHMS.md §2.5 (DDPM, SWG-JAX form, with per-step clipping of actions and weight).
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

/** The denoiser ε̃(z_t) of a network with SWG guidance, at a grid point. */
export const denoiser = (o: GuidedSampleOptions): Sampler.Denoiser => (x, point) => {
  const B = o.backend
  const time = B.fill(x.rows, 1, point.time)
  const network: Swg.EpsNetwork = (tape, z) => {
    const p = new Parameters.Bound(tape, o.layout, o.params)
    return EpsNetwork.apply(p, o.network, z, o.condition === undefined ? undefined : tape.leaf(o.condition), tape.leaf(time))
  }
  return Swg.guidedEps(B, network, x, point, o.guidance).eps
}

/** Samples z₀ [rows, dataDim]: actions in the first columns, the generated weight last. */
export const sample = (o: GuidedSampleOptions): Tensor => {
  const B = o.backend
  const xT = B.scope(() => B.affine(B.normal(o.rows, o.network.dataDim, Rng.split(o.key, "initial")), o.initialScale, 0))
  const z0 = Sampler.sample(
    { backend: B, denoiser: denoiser(o), grid: o.grid, sampler: o.sampler, key: Rng.split(o.key, "steps"), ...(o.clip ? { clip: o.clip } : {}) },
    xT
  )
  B.dispose(xT)
  return z0
}
