import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Rng from "../../src/domain/Rng.ts"

const ksStatistic = (xs: Float64Array, cdf: (x: number) => number): number => {
  const s = Float64Array.from(xs).sort()
  let d = 0
  for (let i = 0; i < s.length; i++) {
    const f = cdf(s[i])
    d = Math.max(d, Math.abs(f - i / s.length), Math.abs((i + 1) / s.length - f))
  }
  return d
}

// Φ via the Abramowitz–Stegun 7.1.26 erf approximation (|error| < 1.5e-7).
const normalCdf = (x: number): number => {
  const z = Math.abs(x) / Math.SQRT2
  const t = 1 / (1 + 0.3275911 * z)
  const erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z)
  return 0.5 * (1 + Math.sign(x) * erf)
}

describe("Rng (Philox4x32-10)", () => {
  it("matches the Random123 known-answer vectors", () => {
    const out = new Uint32Array(4)
    Rng.philox(0, 0, 0, 0, out)
    expect([...out]).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8])
  })

  it("mulhi is the high word of the exact 64-bit product", () => {
    fc.assert(fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (a, b) => {
      expect(Rng.mulhi(a, b)).toBe(Number((BigInt(a) * BigInt(b)) >> 32n))
    }))
  })

  it("uniforms have mean 1/2, variance 1/12 and pass Kolmogorov–Smirnov", () => {
    const n = 100_000
    const u = new Float64Array(n)
    Rng.fillUniform(Rng.named(7, "uniform-test"), u)
    const mean = u.reduce((a, b) => a + b, 0) / n
    const variance = u.reduce((a, b) => a + (b - mean) ** 2, 0) / n
    expect(Math.abs(mean - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n))
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.002)
    // Critical value at α = 0.001 is 1.95/√n.
    expect(ksStatistic(u, (x) => x)).toBeLessThan(1.95 / Math.sqrt(n))
    expect(Math.min(...u)).toBeGreaterThan(0)
    expect(Math.max(...u)).toBeLessThan(1)
  })

  it("normals have mean 0, variance 1 and pass Kolmogorov–Smirnov", () => {
    const n = 100_000
    const z = new Float64Array(n)
    Rng.fillNormal(Rng.named(11, "normal-test"), z)
    const mean = z.reduce((a, b) => a + b, 0) / n
    const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / n
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n))
    expect(Math.abs(variance - 1)).toBeLessThan(4 * Math.sqrt(2 / n))
    expect(ksStatistic(z, normalCdf)).toBeLessThan(1.95 / Math.sqrt(n))
  })

  it("integers cover [0, n) uniformly", () => {
    const n = 7
    const draws = new Float64Array(70_000)
    Rng.fillInt(Rng.named(3, "int-test"), n, draws)
    const counts = new Array<number>(n).fill(0)
    for (const d of draws) counts[d]++
    // χ² with 6 degrees of freedom: 22.46 is the 0.001 critical value.
    const expected = draws.length / n
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0)
    expect(chi2).toBeLessThan(22.46)
    expect(Math.max(...draws)).toBe(n - 1)
  })

  it("distinct streams and offsets do not overlap", () => {
    fc.assert(fc.property(fc.nat(), fc.string(), fc.string(), fc.nat({ max: 1000 }), (seed, a, b, offset) => {
      fc.pre(a !== b && Rng.hashName(a) !== Rng.hashName(b))
      const draw = (k: Rng.RngKey) => {
        const u = new Float64Array(256)
        Rng.fillUniform(k, u)
        return u
      }
      const x = draw(Rng.at(Rng.named(seed, a), offset))
      const y = draw(Rng.at(Rng.named(seed, b), offset))
      const z = draw(Rng.at(Rng.named(seed, a), offset + 1))
      // 24-bit uniforms: a pair of equal adjacent values in two independent streams has probability ~2^-48.
      const pairs = (u: Float64Array) => new Set(Array.from({ length: u.length - 1 }, (_, i) => `${u[i]},${u[i + 1]}`))
      const px = pairs(x)
      for (const p of pairs(y)) expect(px.has(p)).toBe(false)
      for (const p of pairs(z)) expect(px.has(p)).toBe(false)
    }), { numRuns: 50 })
  })

  it("is a pure function of the key", () => {
    const a = new Float32Array(100)
    const b = new Float32Array(100)
    Rng.fillNormal(Rng.named(5, "x"), a)
    Rng.fillNormal(Rng.named(5, "x"), b)
    expect(b).toEqual(a)
  })
})
