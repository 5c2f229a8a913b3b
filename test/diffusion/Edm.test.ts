/**
 * EDM: the preconditioning's limits and identities, the loss against its λ-weighted definition (f64), the
 * Heun sampler's second-order convergence on a Gaussian target with the exact denoiser, and unguided sampling
 * with the exact denoiser of a finite trajectory set reproducing the set.
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import { CpuTensor } from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type { Tensor, TensorBackend } from "../../src/domain/TensorBackend.ts"
import * as Edm from "../../src/diffusion/Edm.ts"
import { Tape } from "../../src/nn/Tape.ts"
import { valuesOf } from "../fixtures/FiniteDifference.ts"

const B = CpuBackend.make({ precision: "f64" })
const host = (t: Tensor): Float64Array => {
  if (!(t instanceof CpuTensor)) throw new Error("CPU tensor expected")
  return Float64Array.from(t.data)
}
const noChurn: Edm.Churn = { sChurn: 0, sTmin: 0, sTmax: Infinity, sNoise: 1 }

describe("EDM preconditioning (Table 1)", () => {
  for (const sd of [0.5, 1, 2]) {
    it(`limits at σ → 0 and σ → ∞ and the unit-variance identities, σ_d = ${sd}`, () => {
      // σ → 0: D(x) → x (c_skip → 1, c_out ~ σ), c_in → 1/σ_d.
      const small = 1e-6
      expect(Edm.cSkip(small, sd)).toBeCloseTo(1, 10)
      expect(Edm.cOut(small, sd) / small).toBeCloseTo(1, 8)
      expect(Edm.cIn(small, sd) * sd).toBeCloseTo(1, 10)
      // σ → ∞: D(x) → σ_d·F (c_skip → 0, c_out → σ_d), c_in ~ 1/σ.
      const large = 1e6
      expect(Edm.cSkip(large, sd) * large ** 2).toBeCloseTo(sd ** 2, 6)
      expect(Edm.cOut(large, sd)).toBeCloseTo(sd, 6)
      expect(Edm.cIn(large, sd) * large).toBeCloseTo(1, 8)
      for (const sigma of [1e-3, 0.1, 0.5, 1, 3, 80]) {
        // Unit-variance input: Var[c_in·(y + σn)] = 1 for Var[y] = σ_d².
        expect(Edm.cIn(sigma, sd) ** 2 * (sigma ** 2 + sd ** 2)).toBeCloseTo(1, 12)
        // Unit-variance target: Var[(y − c_skip·x)/c_out] = ((1 − c_skip)²σ_d² + c_skip²σ²)/c_out² = 1.
        const [s, o] = [Edm.cSkip(sigma, sd), Edm.cOut(sigma, sd)]
        expect(((1 - s) ** 2 * sd ** 2 + s ** 2 * sigma ** 2) / o ** 2).toBeCloseTo(1, 10)
        // λ·c_out² = 1: the weighted loss on D is the plain loss on F.
        expect(Edm.lossWeight(sigma, sd) * o ** 2).toBeCloseTo(1, 12)
      }
      expect(Edm.cNoise(Math.E ** 4)).toBeCloseTo(1, 12)
    })
  }

  it("the loss equals mean over elements of λ(σ)·(D(y + σn; σ) − y)² with one σ per sequence (f64)", () => {
    const [batch, length, channels] = [3, 4, 2]
    const rows = batch * length
    const c = Edm.edmConfig({ sigmaData: 0.7 })
    const y = B.normal(rows, channels, Rng.named(1, "y"))
    const w = B.normal(channels, channels, Rng.named(2, "w"))
    // A small network with a noise input: F = (x·W)·(1 + c_noise per sequence).
    const rowSequence = B.upload(Float32Array.from({ length: rows }, (_, r) => Math.floor(r / length)), rows, 1)
    const network: Edm.EdmNetwork = (tape, x, noise) =>
      tape.mul(tape.matmul(x, tape.leaf(w)), tape.affine(tape.gatherRows(noise, rowSequence), 1, 1))
    const draw = Edm.drawNoise(B, c, batch, rows, channels, Rng.named(3, "draw"))
    const loss = valuesOf(Edm.lossGiven(new Tape(B), network, c, y, draw, rowSequence).value)[0]
    const [yv, wv, sv, nv] = [host(y), host(w), host(draw.sigma), host(draw.noise)]
    let expected = 0
    for (let r = 0; r < rows; r++) {
      const sigma = sv[Math.floor(r / length)]
      const x = [0, 1].map((k) => yv[r * 2 + k] + sigma * nv[r * 2 + k])
      for (let k = 0; k < channels; k++) {
        let f = 0
        for (let j = 0; j < channels; j++) f += Edm.cIn(sigma, 0.7) * x[j] * wv[j * channels + k]
        f *= 1 + Edm.cNoise(sigma)
        const d = Edm.cSkip(sigma, 0.7) * x[k] + Edm.cOut(sigma, 0.7) * f
        expected += (Edm.lossWeight(sigma, 0.7) * (d - yv[r * 2 + k]) ** 2) / (rows * channels)
      }
    }
    expect(loss).toBeCloseTo(expected, 9)
    // ln σ ~ N(−1.2, 1.2²): the draw's σ are positive and spread around e^−1.2.
    expect(sv.every((s) => s > 0)).toBe(true)
  })
})

describe("EDM sampling schedule", () => {
  it("runs from σ_max to σ_min in N levels and ends at 0, decreasing; γ respects the churn window", () => {
    const s = Edm.sigmas({ sigmaMin: 0.002, sigmaMax: 80, rho: 7, steps: 18 })
    expect(s.length).toBe(19)
    expect(s[0]).toBeCloseTo(80, 10)
    expect(s[17]).toBeCloseTo(0.002, 12)
    expect(s[18]).toBe(0)
    for (let i = 1; i < s.length; i++) expect(s[i]).toBeLessThan(s[i - 1])
    const churn = { sChurn: 80, sTmin: 0.05, sTmax: 50, sNoise: 1.003 }
    expect(Edm.churnGamma(churn, 80, 256)).toBe(0)
    expect(Edm.churnGamma(churn, 1, 256)).toBeCloseTo(80 / 256, 12)
    expect(Edm.churnGamma(churn, 1, 18)).toBeCloseTo(Math.SQRT2 - 1, 12)
    expect(Edm.churnGamma(churn, 0.01, 256)).toBe(0)
  })
})

describe("EDM Heun sampler", () => {
  // Target N(μ, s²) per coordinate: D(x; σ) = (s²·x + σ²·μ)/(s² + σ²), and the probability-flow ODE
  // dx/dσ = (x − D)/σ has the solution x(σ) = μ + (x(σ₀) − μ)·√(s² + σ²)/√(s² + σ₀²).
  const [mu, s2] = [0.3, 0.25]
  const gaussian: Edm.Denoiser = (x, sigma) => B.affine(x, s2 / (s2 + sigma ** 2), (sigma ** 2 * mu) / (s2 + sigma ** 2))
  const x0 = B.upload(Float32Array.from([-2, -0.5, 0.25, 1, 3]), 5, 1)

  const errorAt = (steps: number, heun: boolean) => {
    // Stop at σ_min (drop the final step to 0) so the error is the ODE solver's alone.
    const levels = Edm.sigmas({ sigmaMin: 0.002, sigmaMax: 80, rho: 7, steps }).subarray(0, steps)
    const start = B.affine(x0, 80, 0)
    const out = host(Edm.sample({ backend: B, denoiser: gaussian, sigmas: levels, churn: noChurn, heun, key: Rng.named(0, "churn") }, start))
    const scale = Math.sqrt(s2 + 0.002 ** 2) / Math.sqrt(s2 + 80 ** 2)
    return Math.max(...host(start).map((v, i) => Math.abs(out[i] - (mu + (v - mu) * scale))))
  }

  it("converges at second order: halving the step size divides the error by ≈ 4 (Euler: ≈ 2)", () => {
    const ns = [16, 32, 64, 128]
    const heun = ns.map((n) => errorAt(n, true))
    const euler = ns.map((n) => errorAt(n, false))
    for (let k = 1; k < ns.length; k++) {
      const ratio = heun[k - 1] / heun[k]
      expect(ratio, `Heun ${ns[k - 1]}→${ns[k]}: errors ${heun[k - 1]}, ${heun[k]}`).toBeGreaterThan(3.3)
      expect(ratio).toBeLessThan(4.8)
      const eulerRatio = euler[k - 1] / euler[k]
      expect(eulerRatio, `Euler ${ns[k - 1]}→${ns[k]}`).toBeGreaterThan(1.6)
      expect(eulerRatio).toBeLessThan(2.6)
    }
    // Measured: Heun 0.108, 0.0235, 0.0055, 0.0013 (ratios 4.6, 4.3, 4.1); Euler 0.26 … 0.033 (ratios 1.97–1.99).
    expect(heun[3]).toBeLessThan(euler[3] / 10)
  })

  it("samples the Gaussian's mean and variance with churn (default settings, 64 steps)", () => {
    const c = Edm.edmConfig({ steps: 64 })
    const settings = Edm.samplerSettings(c)
    const n = 4000
    const start = Edm.initialNoise(B, n, 1, settings.sigmas[0], Rng.named(5, "x0"))
    const out = host(Edm.sample({ backend: B, denoiser: gaussian, ...settings, key: Rng.named(6, "churn") }, start))
    const mean = out.reduce((a, b) => a + b, 0) / n
    const variance = out.reduce((a, b) => a + (b - mean) ** 2, 0) / n
    // Standard errors: 0.5/√4000 ≈ 0.008 for the mean, 0.25·√(2/4000) ≈ 0.006 for the variance.
    expect(Math.abs(mean - mu)).toBeLessThan(0.03)
    expect(Math.abs(variance - s2)).toBeLessThan(0.025)
  })
})

/** The exact denoiser of a finite set {y_i} (uniform): D(x; σ) = Σ softmax_i(−‖x − y_i‖²/(2σ²))·y_i, per sample. */
const setDenoiser = (backend: TensorBackend, set: ReadonlyArray<Float64Array>, dim: number, length: number): Edm.Denoiser =>
  (x, sigma) => {
    const xv = host(x)
    const samples = x.rows / length
    const out = new Float32Array(xv.length)
    const size = length * dim
    for (let b = 0; b < samples; b++) {
      const logits = set.map((y) => {
        let d2 = 0
        for (let j = 0; j < size; j++) d2 += (xv[b * size + j] - y[j]) ** 2
        return -d2 / (2 * sigma * sigma)
      })
      const m = Math.max(...logits)
      const p = logits.map((l) => Math.exp(l - m))
      const total = p.reduce((a, v) => a + v, 0)
      for (let j = 0; j < size; j++) out[b * size + j] = set.reduce((acc, y, i) => acc + (p[i] / total) * y[j], 0)
    }
    return backend.upload(out, x.rows, x.cols)
  }

describe("EDM with the exact denoiser of a finite trajectory set", () => {
  it("unguided sampling reproduces the set: every sample lands on a trajectory, each about equally often", () => {
    const [length, dim, count] = [8, 3, 4]
    const set = Array.from({ length: count }, (_, i) => {
      const y = new Float64Array(length * dim)
      Rng.fillNormal(Rng.named(10 + i, "trajectory"), y)
      return y
    })
    const c = Edm.edmConfig({ steps: 48 })
    const settings = Edm.samplerSettings(c)
    const n = 200
    const start = Edm.initialNoise(B, n * length, dim, settings.sigmas[0], Rng.named(11, "x0"))
    const out = host(Edm.sample({ backend: B, denoiser: setDenoiser(B, set, dim, length), ...settings, key: Rng.named(12, "churn") }, start))
    const hits = new Array<number>(count).fill(0)
    let worst = 0
    for (let b = 0; b < n; b++) {
      const distances = set.map((y) => Math.sqrt(y.reduce((a, v, j) => a + (out[b * length * dim + j] - v) ** 2, 0)))
      const nearest = distances.indexOf(Math.min(...distances))
      hits[nearest]++
      worst = Math.max(worst, distances[nearest])
    }
    // The set's trajectories are ≈ 7 apart; σ_min = 0.002 leaves the samples within ~1e-3.
    expect(worst).toBeLessThan(0.01)
    // Multinomial(200, 1/4): each count 50 ± 6.1 (1 sd); 25..75 is a 4-sd band.
    for (const h of hits) expect(h, `hits ${hits}`).toBeGreaterThan(25)
    for (const h of hits) expect(h).toBeLessThan(75)
  })
})
