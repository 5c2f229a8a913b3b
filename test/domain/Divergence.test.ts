/**
 * The soft-χ² divergence of Diffusion-DICE against independent references: f* against the supremum
 * of x·y − f(x) found numerically, w* against central differences of f*, continuity at 0, positivity,
 * and Lemma 1 (the minimiser of mean[f·e^{−y} + y] is log mean f) against a 1-D minimiser.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Divergence from "../../src/domain/Divergence.ts"

/** sup_{x ≥ 0} [x·y − f(x)] by golden-section search on the concave function, on [0, hi]. */
const supremum = (y: number, hi = 50): number => {
  const g = (x: number) => x * y - Divergence.f(x)
  const phi = (Math.sqrt(5) - 1) / 2
  let [a, b] = [0, hi]
  for (let i = 0; i < 200; i++) {
    const c = b - phi * (b - a)
    const d = a + phi * (b - a)
    if (g(c) >= g(d)) b = d
    else a = c
  }
  return Math.max(g((a + b) / 2), g(0))
}

/** A 1-D minimiser of a convex function by golden section on [lo, hi]. */
const argmin = (h: (y: number) => number, lo: number, hi: number): number => {
  const phi = (Math.sqrt(5) - 1) / 2
  let [a, b] = [lo, hi]
  for (let i = 0; i < 200; i++) {
    const c = b - phi * (b - a)
    const d = a + phi * (b - a)
    if (h(c) <= h(d)) b = d
    else a = c
  }
  return (a + b) / 2
}

const y = fc.double({ min: -8, max: 8, noNaN: true })

describe("soft-χ² f-divergence", () => {
  it("f is convex with f(1) = 0 and f'(1) = 0, and its two pieces meet at x = 1", () => {
    expect(Divergence.f(1)).toBe(0)
    const h = 1e-6
    expect((Divergence.f(1 + h) - Divergence.f(1 - h)) / (2 * h)).toBeCloseTo(0, 5)
    expect(Divergence.f(1 - 1e-12)).toBeCloseTo(0, 10)
    expect(Divergence.f(0)).toBe(1)
    expect(Divergence.f(1e-300)).toBeCloseTo(1, 12)
    fc.assert(fc.property(fc.double({ min: 0, max: 10, noNaN: true }), fc.double({ min: 0, max: 10, noNaN: true }), (a, b) => {
      expect(Divergence.f((a + b) / 2)).toBeLessThanOrEqual((Divergence.f(a) + Divergence.f(b)) / 2 + 1e-12)
    }))
  })

  it("f*(y) = sup_x [x·y − f(x)] (numerical supremum, |error| ≤ 1e-9)", () => {
    fc.assert(fc.property(y, (v) => {
      expect(Math.abs(Divergence.conjugate(v) - supremum(v))).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(v) ** 2))
    }), { numRuns: 200 })
    // the conjugate of a different f (plain χ² everywhere, (x − 1)²) differs below 0: the test can tell
    expect(Math.abs(Divergence.conjugate(-1) - (-1 + 1 / 4))).toBeGreaterThan(0.1)
  })

  it("w* = (f*)' (central differences) and is the argmax of x·y − f(x)", () => {
    fc.assert(fc.property(y, (v) => {
      fc.pre(Math.abs(v) > 1e-4)
      const h = 1e-6
      const numeric = (Divergence.conjugate(v + h) - Divergence.conjugate(v - h)) / (2 * h)
      expect(Math.abs(Divergence.ratio(v) - numeric)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(numeric)))
      // at x = w*(y) the supremum is attained
      const x = Divergence.ratio(v)
      expect(x * v - Divergence.f(x)).toBeCloseTo(Divergence.conjugate(v), 10)
    }), { numRuns: 200 })
  })

  it("f* and w* are continuous at 0 (f*(0) = 0, w*(0) = 1) and w* > 0 everywhere", () => {
    for (const eps of [1e-6, 1e-9, 1e-12]) {
      expect(Math.abs(Divergence.conjugate(eps) - Divergence.conjugate(-eps))).toBeLessThan(3 * eps)
      expect(Math.abs(Divergence.ratio(eps) - Divergence.ratio(-eps))).toBeLessThan(3 * eps)
    }
    expect(Divergence.conjugate(0)).toBe(0)
    expect(Divergence.ratio(0)).toBe(1)
    fc.assert(fc.property(fc.double({ min: -700, max: 1e6, noNaN: true }), (v) => {
      expect(Divergence.ratio(v)).toBeGreaterThan(0)
    }))
    // w* is increasing (f* convex)
    fc.assert(fc.property(y, y, (a, b) => {
      fc.pre(a < b)
      expect(Divergence.ratio(a)).toBeLessThanOrEqual(Divergence.ratio(b))
    }))
  })

  it("ratios clips w*((q − v)/α) to [1e-40, 100]", () => {
    const w = Divergence.ratios([0, 1, -1, 1000, -1000], [0, 0, 0, 0, 0], 0.5)
    expect(Array.from(w)).toEqual([1, 2, Math.exp(-2), 100, 1e-40])
  })
})

describe("Lemma 1", () => {
  it("the minimiser of mean[f·e^{−y} + y] is log mean f (1-D minimiser, |error| ≤ 1e-6)", () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: 1e-3, max: 100, noNaN: true }), { minLength: 1, maxLength: 40 }),
      (samples) => {
        const closedForm = Math.log(samples.reduce((a, b) => a + b, 0) / samples.length)
        const numeric = argmin((v) => Divergence.iglObjective(samples, v), -20, 20)
        expect(Math.abs(numeric - closedForm)).toBeLessThanOrEqual(1e-6)
        // and not the mean of the logs (Jensen: log mean ≥ mean log, strictly unless all equal)
        const meanLog = samples.reduce((a, b) => a + Math.log(b), 0) / samples.length
        expect(closedForm).toBeGreaterThanOrEqual(meanLog - 1e-12)
      }
    ), { numRuns: 200 })
  })
})
