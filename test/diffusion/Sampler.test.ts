/** Sampler identities and golden regressions (fixed seeds, pinned summary statistics). */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as NoiseSchedule from "../../src/domain/NoiseSchedule.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as SamplerSteps from "../../src/domain/SamplerSteps.ts"
import * as Sampler from "../../src/diffusion/Sampler.ts"
import * as Swg from "../../src/diffusion/Swg.ts"
import { valuesOf } from "../fixtures/FiniteDifference.ts"
import { mixtureEps, type PointSet } from "../fixtures/MixtureDenoiser.ts"

const B = CpuBackend.make({ precision: "f64" })
const set: PointSet = { points: Float64Array.from([-1, 0.5, 1, 0.8, -0.6, 2, 0.1, 0.9, 0.5]), n: 3, dim: 3 }
const denoiser: Sampler.Denoiser = (x, p) => Swg.guidedEps(B, mixtureEps(B, set, p), x, p, new Swg.SwgGuidance({ scale: 0, minWeight: 1, maxWeight: 1 })).eps

const run = (sampler: Sampler.SamplerKind, grid: ReadonlyArray<SamplerSteps.GridPoint>, rows = 64) =>
  valuesOf(Sampler.sample({ backend: B, denoiser, grid, sampler, key: Rng.named(1, "z") }, B.normal(rows, 3, Rng.named(1, "xT"))))

const summary = (x: Float64Array) => {
  const mean = x.reduce((a, b) => a + b, 0) / x.length
  return { mean, rms: Math.sqrt(x.reduce((a, b) => a + b * b, 0) / x.length) }
}

describe("sampler identities", () => {
  it("DDIM with η = 0 equals DPM-Solver++ order 1 on the same grid", () => {
    // DDIM's last step goes from the last point to clean data; DPM-Solver stops at its last point,
    // so give DPM-Solver that clean end (α = 1, σ = 0: λ = ∞, the step returns x̂₀).
    const grid = SamplerSteps.continuousGrid(NoiseSchedule.vpContinuous(), 12)
    const ddim = run(new Sampler.Ddim({ eta: 0 }), grid)
    const dpm = run(new Sampler.DpmSolver({ order: 1, method: "singlestep" }), [...grid, { time: 0, alpha: 1, sigma: 0 }])
    expect(ddim.length).toBe(64 * 3)
    ddim.forEach((v, i) => expect(v).toBeCloseTo(dpm[i], 9))
  })

  it("a DDIM step with η = 0 is exactly the DPM-Solver++ first-order step", () => {
    const grid = SamplerSteps.continuousGrid(NoiseSchedule.vpContinuous(), 10)
    for (let i = 0; i + 1 < grid.length; i++) {
      const ddim = SamplerSteps.ddim(grid[i], grid[i + 1], 0)
      const dpm = SamplerSteps.dpmSolverFirst(grid[i], grid[i + 1])
      const x0 = SamplerSteps.dataPrediction(grid[i])
      // DPM: x' = a·x + b·x̂₀ = (a + b·x0.x)·x + b·x0.eps·ε
      expect(ddim.x).toBeCloseTo(dpm.x + dpm.x0 * x0.x, 12)
      expect(ddim.eps).toBeCloseTo(dpm.x0 * x0.eps, 12)
      expect(ddim.noise).toBe(0)
    }
  })

  it("order-2 singlestep with 15 steps uses seven second-order steps and one first-order step", () => {
    expect(SamplerSteps.singlestepOrders(15)).toEqual([2, 2, 2, 2, 2, 2, 2, 1])
    expect(SamplerSteps.singlestepOrders(4)).toEqual([2, 2])
  })

  it("DPM-Solver++ 2S and 2M are second order, order 1 is first order (λ-uniform grid, Gaussian data)", () => {
    // Data N(μ, s²I): the exact x̂₀ is linear, x̂₀ = μ + αs²/(α²s² + σ²)·(x − αμ).
    const mu = 0.7
    const s2 = 0.09
    const gaussian: Sampler.Denoiser = (x, p) => {
      const k = (p.alpha * s2) / (p.alpha ** 2 * s2 + p.sigma ** 2)
      const x0 = B.affine(x, k, mu - k * p.alpha * mu)
      return B.affine(B.binary("sub", x, B.affine(x0, p.alpha, 0)), 1 / p.sigma, 0)
    }
    const vp = NoiseSchedule.vpContinuous()
    const solve = (order: 1 | 2, method: "singlestep" | "multistep", steps: number) =>
      valuesOf(Sampler.sample({
        backend: B, denoiser: gaussian, grid: SamplerSteps.logSnrGrid(vp, steps), sampler: new Sampler.DpmSolver({ order, method }), key: Rng.named(1, "z")
      }, B.normal(64, 3, Rng.named(1, "xT"))))
    const reference = solve(2, "singlestep", 4000)
    const err = (x: Float64Array) => Math.sqrt(x.reduce((s, v, i) => s + (v - reference[i]) ** 2, 0) / x.length)
    const ratio = (order: 1 | 2, method: "singlestep" | "multistep") => err(solve(order, method, 20)) / err(solve(order, method, 40))
    expect(ratio(1, "singlestep")).toBeGreaterThan(1.7)
    expect(ratio(1, "singlestep")).toBeLessThan(2.3)
    expect(ratio(2, "singlestep")).toBeGreaterThan(3.2)
    expect(ratio(2, "multistep")).toBeGreaterThan(3.2)
  })
})

describe("golden regressions (seeded)", () => {
  const discrete = SamplerSteps.discreteGrid(NoiseSchedule.swg(15))
  const cases: Array<[string, () => Float64Array, { mean: number; rms: number }]> = [
    ["DDPM (SWG-JAX form)", () => run(new Sampler.Ddpm({ temperature: 1 }), discrete), { mean: 0.494513762, rms: 0.978021495 }],
    ["DDPM (posterior mean)", () => run(new Sampler.DdpmPosterior({ temperature: 1 }), discrete), { mean: 0.470374323, rms: 0.966023630 }],
    ["DDIM η = 0.5", () => run(new Sampler.Ddim({ eta: 0.5 }), discrete), { mean: 0.453121294, rms: 0.952572335 }],
    ["DPM-Solver++ 2S", () => run(new Sampler.DpmSolver({ order: 2, method: "singlestep" }), SamplerSteps.continuousGrid(NoiseSchedule.vpContinuous(), 15)), { mean: 0.469103207, rms: 0.965408252 }],
    ["DPM-Solver++ 2M", () => run(new Sampler.DpmSolver({ order: 2, method: "multistep" }), SamplerSteps.continuousGrid(NoiseSchedule.vpContinuous(), 15)), { mean: 0.469128067, rms: 1.068393040 }]
  ]
  it.each(cases)("%s", (_, f, expected) => {
    const s = summary(f())
    expect(s.mean).toBeCloseTo(expected.mean, 6)
    expect(s.rms).toBeCloseTo(expected.rms, 6)
  })
})
