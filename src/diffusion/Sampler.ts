/**
 * Reverse-diffusion loops over a TensorBackend: DDPM ancestral (SWG-JAX/IDQL and posterior-mean
 * forms), DDIM(η) and DPM-Solver++ (orders 1–2, singlestep and multistep). Each takes a denoiser
 * returning the (possibly guided) ε̃ and records the whole loop: on the GPU it runs as one batch
 * of work with no readback per step. Step maths: src/domain/SamplerSteps.ts.
 */
import { Schema } from "effect"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import * as SamplerSteps from "../domain/SamplerSteps.ts"
import type { GridPoint } from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"

/** ε̃(x) at a grid point (the network's prediction, guided or not). */
export type Denoiser = (x: Tensor, point: GridPoint) => Tensor

/** DDPM ancestral, SWG-JAX/IDQL form (variance β_t). */
export class Ddpm extends Schema.TaggedClass<Ddpm>()("Ddpm", {
  temperature: Schema.Finite
}) {}

/** DDPM ancestral through the clipped x̂₀ and the posterior mean (SWG-PT). */
export class DdpmPosterior extends Schema.TaggedClass<DdpmPosterior>()("DdpmPosterior", {
  temperature: Schema.Finite
}) {}

/** DDIM with stochasticity η (0: deterministic). */
export class Ddim extends Schema.TaggedClass<Ddim>()("Ddim", {
  eta: Schema.Finite
}) {}

/** DPM-Solver++ (data prediction) of order 1 or 2. */
export class DpmSolver extends Schema.TaggedClass<DpmSolver>()("DpmSolver", {
  order: Schema.Literals([1, 2]),
  method: Schema.Literals(["singlestep", "multistep"])
}) {}

export const SamplerKind = Schema.Union([Ddpm, DdpmPosterior, Ddim, DpmSolver])
export type SamplerKind = typeof SamplerKind.Type

/** Per-column bounds [1, D] applied after every step (to x, or to x̂₀ in the posterior form). */
export interface Clip {
  readonly lo: Tensor
  readonly hi: Tensor
}

const clamp = (B: TensorBackend, x: Tensor, clip: Clip | undefined): Tensor =>
  clip === undefined ? x : B.binary("min", B.binary("max", x, clip.lo), clip.hi)

/** a·x + b·y (+ c·z). */
const combine = (B: TensorBackend, terms: ReadonlyArray<readonly [number, Tensor | undefined]>): Tensor => {
  let acc: Tensor | undefined
  for (const [coefficient, t] of terms) {
    if (t === undefined || coefficient === 0) continue
    const scaled = coefficient === 1 ? t : B.affine(t, coefficient, 0)
    acc = acc === undefined ? scaled : B.binary("add", acc, scaled)
  }
  if (acc === undefined) throw new Error("combine: no non-zero term")
  return acc
}

export interface SampleOptions {
  readonly backend: TensorBackend
  readonly denoiser: Denoiser
  /** Grid from the noisiest point to the cleanest; the last step goes to clean data. */
  readonly grid: ReadonlyArray<GridPoint>
  readonly sampler: SamplerKind
  /** Stream for the per-step noise z (step i uses offset i). */
  readonly key: RngKey
  readonly clip?: Clip
}

/** Runs the reverse loop from x_T (not consumed) and returns x₀. */
export const sample = (o: SampleOptions, xT: Tensor): Tensor => {
  const B = o.backend
  const noise = (i: number, coefficient: number, like: Tensor) =>
    coefficient === 0 ? undefined : B.normal(like.rows, like.cols, Rng.at(o.key, i))
  let x = xT
  const advance = (next: Tensor) => {
    if (x !== xT) B.dispose(x)
    x = next
  }
  const grid = o.grid
  switch (o.sampler._tag) {
    case "Ddpm": {
      for (let i = 0; i < grid.length; i++) {
        const c = SamplerSteps.ddpm(grid, i, o.sampler.temperature)
        advance(B.scope(() => {
          const eps = o.denoiser(x, grid[i])
          return clamp(B, combine(B, [[c.x, x], [c.eps, eps], [c.noise, noise(i, c.noise, x)]]), o.clip)
        }))
      }
      return x
    }
    case "DdpmPosterior": {
      for (let i = 0; i < grid.length; i++) {
        const c = SamplerSteps.ddpmPosterior(grid, i, o.sampler.temperature)
        advance(B.scope(() => {
          const eps = o.denoiser(x, grid[i])
          const x0 = clamp(B, combine(B, [[c.x0FromX, x], [c.x0FromEps, eps]]), o.clip)
          return combine(B, [[c.c1, x0], [c.c2, x], [c.noise, noise(i, c.noise, x)]])
        }))
      }
      return x
    }
    case "Ddim": {
      const eta = o.sampler.eta
      for (let i = 0; i < grid.length; i++) {
        const c = SamplerSteps.ddim(grid[i], grid[i + 1], eta)
        advance(B.scope(() => {
          const eps = o.denoiser(x, grid[i])
          return clamp(B, combine(B, [[c.x, x], [c.eps, eps], [c.noise, noise(i, c.noise, x)]]), o.clip)
        }))
      }
      return x
    }
    case "DpmSolver":
      return dpmSolver(o, xT, o.sampler)
  }
}

/** x̂₀(x) = (x − σ·ε̃(x))/α at a grid point. */
const dataPrediction = (B: TensorBackend, denoiser: Denoiser, x: Tensor, p: GridPoint): Tensor => {
  const c = SamplerSteps.dataPrediction(p)
  return combine(B, [[c.x, x], [c.eps, denoiser(x, p)]])
}

/** DPM-Solver++ over the grid's intervals; the grid's last point is the end time (no final denoise). */
const dpmSolver = (o: SampleOptions, xT: Tensor, s: DpmSolver): Tensor => {
  const B = o.backend
  const grid = o.grid
  const intervals = grid.length - 1
  let x = xT
  const advance = (next: Tensor) => {
    if (x !== xT) B.dispose(x)
    x = next
  }
  const first = (from: GridPoint, to: GridPoint, d0: Tensor) => {
    const c = SamplerSteps.dpmSolverFirst(from, to)
    return clamp(B, combine(B, [[c.x, x], [c.x0, d0]]), o.clip)
  }
  if (s.order === 1) {
    for (let i = 0; i < intervals; i++) {
      advance(B.scope(() => first(grid[i], grid[i + 1], dataPrediction(B, o.denoiser, x, grid[i]))))
    }
    return x
  }
  if (s.method === "multistep") {
    // DPM-Solver++(2M): second-order steps reuse the previous x̂₀; the first step (no previous one)
    // and the last (the long step to the end time: see SamplerSteps) are first order.
    const orders = SamplerSteps.multistepOrders(intervals)
    let prev: Tensor | undefined
    for (let i = 0; i < intervals; i++) {
      const [next, d0] = B.scope(() => {
        const d = dataPrediction(B, o.denoiser, x, grid[i])
        if (orders[i] === 1 || prev === undefined) return [first(grid[i], grid[i + 1], d), d] as const
        const c = SamplerSteps.dpmSolverSecondMultistep(grid[i - 1], grid[i], grid[i + 1])
        return [clamp(B, combine(B, [[c.x, x], [c.d0, d], [c.dPrev, prev]]), o.clip), d] as const
      })
      if (prev !== undefined) B.dispose(prev)
      prev = d0
      advance(next)
    }
    if (prev !== undefined) B.dispose(prev)
    return x
  }
  // Singlestep order 2: each step spans two intervals with the middle point as s₁; the last interval is first order.
  let i = 0
  for (const order of SamplerSteps.singlestepOrders(intervals)) {
    const from = grid[i]
    if (order === 1) {
      advance(B.scope(() => first(from, grid[i + 1], dataPrediction(B, o.denoiser, x, from))))
      i += 1
      continue
    }
    const mid = grid[i + 1]
    const to = grid[i + 2]
    advance(B.scope(() => {
      const d0 = dataPrediction(B, o.denoiser, x, from)
      const cMid = SamplerSteps.dpmSolverFirst(from, mid)
      const xMid = combine(B, [[cMid.x, x], [cMid.x0, d0]])
      const d1 = dataPrediction(B, o.denoiser, xMid, mid)
      const c = SamplerSteps.dpmSolverSecondSinglestep(from, mid, to)
      return clamp(B, combine(B, [[c.x, x], [c.d0, d0], [c.d1, d1]]), o.clip)
    }))
    i += 2
  }
  return x
}
