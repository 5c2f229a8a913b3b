/**
 * SWG's central claim, checked exactly: with the exact denoiser of a finite point set, the
 * self-guided score −ε̃/σ equals the score of the *reweighted* mixture (Thm 3.5), and sampling
 * with it reproduces the reweighted point masses. Plus the guidance invariants.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as NoiseSchedule from "../../src/domain/NoiseSchedule.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as SamplerSteps from "../../src/domain/SamplerSteps.ts"
import type { GridPoint } from "../../src/domain/SamplerSteps.ts"
import * as Sampler from "../../src/diffusion/Sampler.ts"
import * as Swg from "../../src/diffusion/Swg.ts"
import { Tape } from "../../src/nn/Tape.ts"
import { valuesOf } from "../fixtures/FiniteDifference.ts"
import { landing, mixtureEps, noisyPoints, type PointSet, relativeError, vpPoint, weightedScore } from "../fixtures/MixtureDenoiser.ts"

const B = CpuBackend.make({ precision: "f64" })
const noClip = (scale: number) => new Swg.SwgGuidance({ scale, minWeight: 1e-300, maxWeight: 1e300 })

/**
 * n points in [−1, 1]^{dim−1} with weights in [0.2, 3], on a grid of step 1/64: the fixture keeps f32 copies of
 * the points and of their squared norms, which are exact on this grid, so the comparison below is f64-exact.
 */
const pointSet = (seed: number, n: number, dim: number): PointSet => {
  const u = new Float64Array(n * dim)
  Rng.fillUniform(Rng.named(seed, "points"), u)
  const onGrid = (v: number) => Math.round(64 * v) / 64
  const points = new Float64Array(n * dim)
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim - 1; d++) points[i * dim + d] = onGrid(2 * u[i * dim + d] - 1)
    points[i * dim + dim - 1] = onGrid(0.2 + 2.8 * u[i * dim + dim - 1])
  }
  return { points, n, dim }
}

/** Per-column [min, max] of a point set. */
const rangeOf = (set: PointSet) => {
  const column = (d: number) => Array.from({ length: set.n }, (_, i) => set.points[i * set.dim + d])
  const columns = Array.from({ length: set.dim }, (_, d) => column(d))
  return { lower: columns.map((c) => Math.min(...c)), upper: columns.map((c) => Math.max(...c)) }
}

const weightsOf = (set: PointSet) => Array.from({ length: set.n }, (_, i) => set.points[i * set.dim + set.dim - 1])

/** Noisy points z_t = α z_k + σ·n around the members of the set in turn, in f32 on the device. */
const noisy = (set: PointSet, p: GridPoint, rows: number, seed: number) =>
  B.upload(noisyPoints(set, p, rows, Rng.named(seed, "noise"), Float32Array), rows, set.dim)

describe("Theorem 3.5 on an analytic case", () => {
  it("the SWG score equals the score of the reweighted mixture (relative error ≤ 1e-9)", () => {
    fc.assert(fc.property(
      fc.nat(), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 2, max: 4 }), fc.double({ min: 0.05, max: 0.95, noNaN: true }),
      (seed, n, dim, t) => {
        const set = pointSet(seed, n, dim)
        const p = vpPoint(t)
        const zt = noisy(set, p, 8, seed + 1)
        const { eps } = Swg.guidedEps(B, mixtureEps(B, set, p), zt, p, noClip(1))
        const swgScore = valuesOf(eps).map((e) => -e / p.sigma)
        // the same with the guided clean prediction clipped to the data's range: E_π[z₀ | z_t] is inside it
        const inRange = new Swg.SwgGuidance({ scale: 1, minWeight: 1e-300, maxWeight: 1e300, cleanRange: rangeOf(set) })
        const clippedScore = valuesOf(Swg.guidedEps(B, mixtureEps(B, set, p), zt, p, inRange).eps).map((e) => -e / p.sigma)
        const z = valuesOf(zt)
        for (let r = 0; r < 8; r++) {
          const expected = weightedScore(set, weightsOf(set), p, z.subarray(r * dim, (r + 1) * dim))
          expect(relativeError(swgScore.subarray(r * dim, (r + 1) * dim), expected)).toBeLessThanOrEqual(1e-9)
          expect(relativeError(clippedScore.subarray(r * dim, (r + 1) * dim), expected)).toBeLessThanOrEqual(1e-9)
        }
      }
    ), { numRuns: 60 })
  })

  it("without guidance the score is the unweighted mixture's (and differs from the weighted one)", () => {
    const set = pointSet(3, 4, 3)
    const p = vpPoint(0.5)
    const zt = noisy(set, p, 4, 9)
    const plain = valuesOf(Swg.guidedEps(B, mixtureEps(B, set, p), zt, p, noClip(0)).eps).map((e) => -e / p.sigma)
    const z = valuesOf(zt)
    const uniform = weightedScore(set, [1, 1, 1, 1], p, z.subarray(0, 3))
    const weighted = weightedScore(set, weightsOf(set), p, z.subarray(0, 3))
    expect(relativeError(plain.subarray(0, 3), uniform)).toBeLessThan(1e-6)
    expect(relativeError(plain.subarray(0, 3), weighted)).toBeGreaterThan(1e-3)
  })
})

describe("guidance invariants", () => {
  const setup = (seed: number) => {
    const set = pointSet(seed, 4, 3)
    const p = vpPoint(0.3 + (seed % 5) / 10)
    return { set, p, zt: noisy(set, p, 6, seed + 2), network: mixtureEps(B, set, p) }
  }

  it("ρ = 0 gives the unguided ε exactly: the network's own output, the limit of the guided path as ρ → 0", () => {
    fc.assert(fc.property(fc.nat(), (seed) => {
      const { p, zt, network } = setup(seed)
      const at = (scale: number) => new Swg.SwgGuidance({ scale, minWeight: 1e-4, maxWeight: 10 })
      const out = Swg.guidedEps(B, network, zt, p, at(0))
      // the network evaluated on its own tape, outside guidedEps
      const tape = new Tape(B)
      const direct = valuesOf(network(tape, tape.leaf(zt)).value)
      expect(valuesOf(out.eps)).toEqual(direct)
      // ŵ₀ = (w_t − σ·ε_w)/α (eq. 25) on the host
      const z = valuesOf(zt)
      valuesOf(out.weight).forEach((w, r) => expect(w).toBeCloseTo((z[r * 3 + 2] - p.sigma * direct[r * 3 + 2]) / p.alpha, 9))
      // the gradient path is linear in ρ and meets the ρ = 0 result; at ρ = 1 the guidance is far from zero here
      const one = valuesOf(Swg.guidedEps(B, network, zt, p, at(1)).eps)
      const tiny = valuesOf(Swg.guidedEps(B, network, zt, p, at(1e-6)).eps)
      let largest = 0
      direct.forEach((d, i) => {
        largest = Math.max(largest, Math.abs(one[i] - d))
        expect(Math.abs(tiny[i] - d - 1e-6 * (one[i] - d))).toBeLessThan(1e-12 * (1 + Math.abs(d)))
      })
      expect(largest).toBeGreaterThan(1e-4)
    }), { numRuns: 20 })
  })

  it("a predicted clean weight that does not depend on z gives zero guidance", () => {
    // Data whose weights are all equal to c: the exact ŵ₀ ≡ c, so ∇ log ŵ₀ = 0 and ε̃ = ε.
    fc.assert(fc.property(fc.nat(), fc.double({ min: 0.1, max: 5, noNaN: true }), (seed, c) => {
      const base = pointSet(seed, 4, 3)
      const points = Float64Array.from(base.points)
      for (let i = 0; i < 4; i++) points[i * 3 + 2] = c
      const set = { ...base, points }
      const p = vpPoint(0.5)
      const zt = noisy(set, p, 6, seed)
      const network = mixtureEps(B, set, p)
      const guided = valuesOf(Swg.guidedEps(B, network, zt, p, noClip(3)).eps)
      const plain = valuesOf(Swg.guidedEps(B, network, zt, p, noClip(0)).eps)
      guided.forEach((g, i) => expect(g).toBeCloseTo(plain[i], 6))
    }), { numRuns: 20 })
  })

  it("scaling every weight by a constant leaves the guided update unchanged", () => {
    // A network whose ŵ₀ is k times another's (ε_w' = (w_t − k·α·ŵ₀)/σ), clip range scaled alike.
    fc.assert(fc.property(fc.nat(), fc.double({ min: 0.01, max: 100, noNaN: true }), (seed, k) => {
      const { p, zt, network } = setup(seed)
      const scaled: Swg.EpsNetwork = (tape, z) => {
        const eps = network(tape, z)
        const w0 = Swg.predictedWeight(tape, z, eps, p)
        const wT = tape.sliceCols(z, z.cols - 1, 1)
        const epsW = tape.affine(tape.sub(wT, tape.affine(w0, k * p.alpha)), 1 / p.sigma)
        return tape.concatCols([tape.sliceCols(eps, 0, z.cols - 1), epsW])
      }
      const g = new Swg.SwgGuidance({ scale: 2, minWeight: 1e-3, maxWeight: 50 })
      const gk = new Swg.SwgGuidance({ scale: 2, minWeight: 1e-3 * k, maxWeight: 50 * k })
      const base = valuesOf(Swg.guidedEps(B, network, zt, p, g).eps)
      const plainBase = valuesOf(Swg.guidedEps(B, network, zt, p, noClip(0)).eps)
      const other = valuesOf(Swg.guidedEps(B, scaled, zt, p, gk).eps)
      const plainOther = valuesOf(Swg.guidedEps(B, scaled, zt, p, noClip(0)).eps)
      // The guidance term ε̃ − ε is the same for both networks.
      base.forEach((v, i) => expect(v - plainBase[i]).toBeCloseTo(other[i] - plainOther[i], 6))
    }), { numRuns: 20 })
  })

  it("clipped predicted weights contribute no gradient", () => {
    const { p, zt, network } = setup(1)
    // Clip range below every ŵ₀ (weights ≥ 0.2): the log is constant, guidance vanishes.
    const g = new Swg.SwgGuidance({ scale: 5, minWeight: 1e-4, maxWeight: 0.01 })
    const guided = valuesOf(Swg.guidedEps(B, network, zt, p, g).eps)
    const plain = valuesOf(Swg.guidedEps(B, network, zt, p, noClip(0)).eps)
    expect(guided).toEqual(plain)
  })
})

describe("clipping the guided clean prediction", () => {
  it("moves only the entries whose (z − σ·ε̃)/α leaves the range, onto its bound", () => {
    const p = vpPoint(0.4)
    const z = [0.1, -0.2, 0.5, 2, 0.3, -0.4]
    const x0 = [0.5, -3, 0.25, 0.9, 4, -0.5]
    const eps = z.map((v, i) => (v - p.alpha * x0[i]) / p.sigma)
    const out = valuesOf(Swg.clipCleanPrediction(
      B, B.upload(Float32Array.from(z), 2, 3), B.upload(Float64Array.from(eps) as unknown as Float32Array, 2, 3), p,
      { lower: [-1, -1, 0], upper: [1, 1, 1] }
    ))
    const implied = Array.from(out, (e, i) => (z[i] - p.sigma * e) / p.alpha)
    const expected = [0.5, -1, 0.25, 0.9, 1, 0]
    implied.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6))
  })

  it("names the mismatch when the range has the wrong number of columns", () => {
    const p = vpPoint(0.4)
    const z = B.zeros(2, 3)
    expect(() => Swg.clipCleanPrediction(B, z, z, p, { lower: [0, 0], upper: [1, 1] })).toThrow(/2 lower and 2 upper bounds for z with 3 columns/)
  })
})

/**
 * Issue #14, reproduced without training: a weight head with the error a trained network has. A trained ε_θ^{(w)}
 * is off by a few hundredths, so ŵ₀ = (w_t − σ·ε_θ^{(w)})/α is off by σ/α times that: at the first, noisiest steps
 * (σ/α ≈ 13) it is mostly error, lands near 0 for some samples, and ∇ log ŵ₀ = ∇ŵ₀/ŵ₀ kicks them far from the
 * data. A network that saturates beyond the region it was trained on (here: the exact denoiser of |z_d| ≤ 4)
 * never brings them back. The toy model at β = 10 did exactly this (kicks of up to ~3000 in ε units at the first
 * steps, samples ending at |x| ≈ 5–70).
 */
describe("guidance from a weight head with a network's error (issue #14)", () => {
  const n = 8
  const points = new Float64Array(3 * n)
  for (let i = 0; i < n; i++) {
    points[3 * i] = Math.cos((2 * Math.PI * i) / n)
    points[3 * i + 1] = Math.sin((2 * Math.PI * i) / n)
    points[3 * i + 2] = Math.exp(-i) // weights e^0 … e^-7, as exp(β·e) for β = 7
  }
  const set: PointSet = { points, n, dim: 3 }
  const wMin = Math.exp(-(n - 1))
  const grid = SamplerSteps.discreteGrid(NoiseSchedule.swg(50))
  const rows = 300
  /** Final samples (x, y) of SWG-JAX's DDPM with ε_θ^{(w)} off by amplitude·sin(3·x). */
  const sample = (amplitude: number, cleanRange: { lower: Array<number>; upper: Array<number> } | undefined) => {
    const guidance = new Swg.SwgGuidance({ scale: 1, minWeight: 1e-3, maxWeight: 1, ...(cleanRange ? { cleanRange } : {}) })
    const denoiser: Sampler.Denoiser = (x, p) => {
      const exact = mixtureEps(B, set, p)
      const network: Swg.EpsNetwork = (tape, z) => {
        const eps = exact(tape, tape.clamp(z, -4, 4))
        const error = tape.affine(tape.unary("sin", tape.affine(tape.sliceCols(z, 0, 1), 3)), amplitude)
        return tape.concatCols([tape.sliceCols(eps, 0, 2), tape.add(tape.sliceCols(eps, 2, 1), error)])
      }
      return Swg.guidedEps(B, network, x, p, guidance).eps
    }
    // the iterate's weight coordinate clipped to the data's weight range every step, as the toy program does
    const clip = { lo: B.upload(Float32Array.from([-1e30, -1e30, wMin]), 1, 3), hi: B.upload(Float32Array.from([1e30, 1e30, 1]), 1, 3) }
    const xT = B.normal(rows, 3, Rng.named(1, "xT"))
    const z = valuesOf(Sampler.sample({ backend: B, denoiser, grid, sampler: new Sampler.Ddpm({ temperature: 1 }), key: Rng.named(1, "steps"), clip }, xT))
    return Array.from({ length: rows }, (_, r) => [z[3 * r], z[3 * r + 1]] as const)
  }
  const beyond = (xs: ReadonlyArray<readonly [number, number]>, radius: number) => xs.filter(([x, y]) => !(Math.hypot(x, y) <= radius)).length
  const range = { lower: [-1, -1, wMin], upper: [1, 1, 1] }

  it("explodes without a range (≥ 3 % of samples beyond 1.5× the data's radius), stays in it with one", () => {
    expect(beyond(sample(0, undefined), 1.5)).toBe(0) // the exact weight head: no explosion
    const unguarded = sample(0.05, undefined)
    expect(beyond(unguarded, 1.5)).toBeGreaterThanOrEqual(0.03 * rows)
    expect(Math.max(...unguarded.map(([x, y]) => Math.hypot(x, y)))).toBeGreaterThan(10)
    // DDPM's last step returns the clean prediction itself, so every sample ends inside the range
    const guarded = sample(0.05, range)
    for (const [x, y] of guarded) {
      expect(Math.abs(x)).toBeLessThanOrEqual(1 + 1e-9)
      expect(Math.abs(y)).toBeLessThanOrEqual(1 + 1e-9)
    }
  })

  it("the range changes nothing when the weight head is exact", () => {
    const free = sample(0, undefined)
    sample(0, range).forEach(([x, y], r) => {
      expect(x).toBeCloseTo(free[r][0], 9)
      expect(y).toBeCloseTo(free[r][1], 9)
    })
  })
})

describe("sampling with the exact denoiser and SWG guidance", () => {
  it("reproduces the reweighted point masses", () => {
    const set = pointSet(21, 4, 3)
    const weights = weightsOf(set)
    const total = weights.reduce((a, b) => a + b, 0)
    const schedule = NoiseSchedule.cosine(100)
    const grid = SamplerSteps.discreteGrid(schedule)
    const samples = 3000
    const run = (scale: number) => {
      const denoiser: Sampler.Denoiser = (x, p) => Swg.guidedEps(B, mixtureEps(B, set, p), x, p, noClip(scale)).eps
      const xT = B.normal(samples, 3, Rng.named(5, "xT"))
      const x0 = valuesOf(Sampler.sample({ backend: B, denoiser, grid, sampler: new Sampler.Ddpm({ temperature: 1 }), key: Rng.named(5, "ddpm") }, xT))
      const { frequencies, distances } = landing(set, x0)
      return { frequencies, worstDistance: distances.reduce((a, b) => Math.max(a, b), 0) }
    }
    const guided = run(1)
    const plain = run(0)
    // Binomial standard error at 3000 samples is ≤ 0.0092; allow 4 of them.
    const tolerance = 4 * Math.sqrt(0.25 / samples)
    guided.frequencies.forEach((f, i) => expect(Math.abs(f - weights[i] / total)).toBeLessThan(tolerance))
    plain.frequencies.forEach((f) => expect(Math.abs(f - 1 / set.n)).toBeLessThan(tolerance))
    expect(guided.worstDistance).toBeLessThan(0.05)
  })
})
