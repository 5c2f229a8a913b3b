/** The contract every noise schedule passes (diffusers-style), plus known values of each. */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as NoiseSchedule from "../../src/domain/NoiseSchedule.ts"

const discrete: Array<[string, (T: number) => NoiseSchedule.Discrete]> = [
  ["VP discrete (SWG)", (T) => NoiseSchedule.swg(T)],
  ["cosine", NoiseSchedule.cosine],
  ["linear", NoiseSchedule.linear]
]

describe.each(discrete)("discrete schedule contract: %s", (_, make) => {
  const steps = fc.integer({ min: 2, max: 200 })

  it("ᾱ is the cumulative product of 1 − β, and α² + σ² = 1", () => {
    fc.assert(fc.property(steps, (T) => {
      const s = make(T)
      const b = NoiseSchedule.betas(s)
      const ab = NoiseSchedule.alphaBars(s)
      const { alpha, sigma } = NoiseSchedule.scales(s)
      let acc = 1
      for (let t = 0; t < T; t++) {
        acc *= 1 - b[t]
        expect(ab[t]).toBeCloseTo(acc, 14)
        expect(alpha[t] ** 2 + sigma[t] ** 2).toBeCloseTo(1, 14)
        expect(b[t]).toBeGreaterThan(0)
        expect(b[t]).toBeLessThan(1)
      }
    }))
  })

  it("log-SNR is strictly decreasing and its inverse round-trips", () => {
    fc.assert(fc.property(steps, fc.double({ min: 0, max: 1, noNaN: true }), (T, u) => {
      const s = make(T)
      const l = NoiseSchedule.logSnrs(s)
      for (let t = 1; t < T; t++) expect(l[t]).toBeLessThan(l[t - 1])
      for (let t = 0; t < T; t++) expect(NoiseSchedule.stepFromLogSnr(s, l[t])).toBeCloseTo(t, 9)
      const t = u * (T - 1)
      const i = Math.min(Math.floor(t), T - 2)
      const lt = l[i] + (t - i) * (l[i + 1] - l[i])
      expect(NoiseSchedule.stepFromLogSnr(s, lt)).toBeCloseTo(t, 9)
    }))
  })
})

describe("continuous VP-SDE contract", () => {
  const s = NoiseSchedule.vpContinuous()
  const time = fc.double({ min: 1e-3, max: 1, noNaN: true })

  it("α² + σ² = 1 and λ = log α − log σ", () => {
    fc.assert(fc.property(time, (t) => {
      expect(NoiseSchedule.alpha(s, t) ** 2 + NoiseSchedule.sigma(s, t) ** 2).toBeCloseTo(1, 14)
      expect(NoiseSchedule.lambda(s, t)).toBeCloseTo(Math.log(NoiseSchedule.alpha(s, t) / NoiseSchedule.sigma(s, t)), 10)
    }))
  })

  it("λ is strictly decreasing and t(λ(t)) = t", () => {
    fc.assert(fc.property(time, time, (a, b) => {
      fc.pre(Math.abs(a - b) > 1e-9)
      const [lo, hi] = a < b ? [a, b] : [b, a]
      expect(NoiseSchedule.lambda(s, hi)).toBeLessThan(NoiseSchedule.lambda(s, lo))
      expect(NoiseSchedule.timeFromLambda(s, NoiseSchedule.lambda(s, a))).toBeCloseTo(a, 9)
    }))
  })

  it("d log α / dt matches −½β(t) (finite difference)", () => {
    fc.assert(fc.property(fc.double({ min: 0.01, max: 0.99, noNaN: true }), (t) => {
      const h = 1e-6
      const numeric = (NoiseSchedule.logAlpha(s, t + h) - NoiseSchedule.logAlpha(s, t - h)) / (2 * h)
      expect(numeric).toBeCloseTo(-0.5 * (s.beta0 + t * (s.beta1 - s.beta0)), 6)
    }))
  })
})

describe("known values", () => {
  it("SWG's VP schedule is the exact discretisation ᾱ_t = exp(−0.1τ − 4.95τ²), τ = (t+1)/T", () => {
    const T = 15
    const ab = NoiseSchedule.alphaBars(NoiseSchedule.swg(T))
    for (let t = 0; t < T; t++) {
      const tau = (t + 1) / T
      expect(ab[t]).toBeCloseTo(Math.exp(-0.1 * tau - 4.95 * tau * tau), 12)
    }
  })

  it("the JAX linear schedule is linspace(1e-4, 2e-2, T)", () => {
    const b = NoiseSchedule.betas(NoiseSchedule.linear(5))
    expect([...b].map((x) => +x.toFixed(8))).toEqual([0.0001, 0.005075, 0.01005, 0.015025, 0.02])
  })

  it("the cosine schedule's ᾱ equals f(k)/f(0) until the 0.999 clip", () => {
    const T = 10
    const f = (k: number) => Math.cos(((k / T + 0.008) / 1.008) * (Math.PI / 2)) ** 2
    const ab = NoiseSchedule.alphaBars(NoiseSchedule.cosine(T))
    for (let k = 1; k < T; k++) expect(ab[k - 1]).toBeCloseTo(f(k) / f(0), 12)
    expect(NoiseSchedule.betas(NoiseSchedule.cosine(T))[T - 1]).toBe(0.999)
  })
})
