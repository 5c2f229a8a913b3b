import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Rng from "../../src/domain/Rng.ts"
import * as SampleMetrics from "../../src/domain/SampleMetrics.ts"

const cloud = (dim: number, maxPoints = 40) =>
  fc.integer({ min: 2, max: maxPoints }).chain((n) =>
    fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: n * dim, maxLength: n * dim })
      .map((xs) => Float64Array.from(xs))
  )

const normalCloud = (n: number, dim: number, key: Rng.RngKey, shift: ReadonlyArray<number> = []): Float64Array => {
  const x = new Float64Array(n * dim)
  Rng.fillNormal(key, x)
  for (let i = 0; i < n; i++) for (let d = 0; d < shift.length; d++) x[i * dim + d] += shift[d]
  return x
}

// erf via Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7).
const erf = (x: number): number => {
  const t = 1 / (1 + 0.3275911 * Math.abs(x))
  const y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t *
      Math.exp(-x * x)
  return Math.sign(x) * y
}

/** ∫ (F_a − F_b)² dx for the empirical CDFs of two 1-D samples. */
const cdfGapSquared = (a: Float64Array, b: Float64Array): number => {
  const merged = [...Array.from(a, (x) => ({ x, from: 0 })), ...Array.from(b, (x) => ({ x, from: 1 }))]
    .sort((p, q) => p.x - q.x)
  let fa = 0
  let fb = 0
  let total = 0
  for (let k = 0; k < merged.length - 1; k++) {
    if (merged[k].from === 0) fa += 1 / a.length
    else fb += 1 / b.length
    total += (fa - fb) ** 2 * (merged[k + 1].x - merged[k].x)
  }
  return total
}

/** Σ_{i≠j} |x_i − x_j| over ordered pairs. */
const pairSum = (x: Float64Array): number => {
  let s = 0
  for (let i = 0; i < x.length; i++) for (let j = 0; j < x.length; j++) s += Math.abs(x[i] - x[j])
  return s
}

describe("SampleMetrics.projectionDirections", () => {
  it("gives unit vectors, deterministic in the key, with E⟨μ, θ⟩² = ‖μ‖²/dim", () => {
    const dim = 3
    const p = 20_000
    const directions = SampleMetrics.projectionDirections(dim, p, Rng.named(1, "directions"))
    expect(SampleMetrics.projectionDirections(dim, p, Rng.named(1, "directions"))).toEqual(directions)
    const mu = [1, -2, 0.5]
    let second = 0
    for (let k = 0; k < p; k++) {
      let norm = 0
      let dot = 0
      for (let d = 0; d < dim; d++) {
        norm += directions[k * dim + d] ** 2
        dot += directions[k * dim + d] * mu[d]
      }
      expect(norm).toBeCloseTo(1, 12)
      second += dot * dot
    }
    expect(second / p / (5.25 / dim)).toBeCloseTo(1, 1)
  })
})

describe("SampleMetrics.wasserstein2Squared1d", () => {
  it("equals the sorted-pair mean after repeating each point of a |b| times and of b |a| times", () => {
    fc.assert(fc.property(cloud(1), cloud(1), (a, b) => {
      const sa = Float64Array.from(a).sort()
      const sb = Float64Array.from(b).sort()
      const ra = Float64Array.from(Array.from(sa).flatMap((x) => new Array(sb.length).fill(x)))
      const rb = Float64Array.from(Array.from(sb).flatMap((x) => new Array(sa.length).fill(x)))
      let pairMean = 0
      for (let i = 0; i < ra.length; i++) pairMean += (ra[i] - rb[i]) ** 2 / ra.length
      expect(SampleMetrics.wasserstein2Squared1d(sa, sb)).toBeCloseTo(pairMean, 9)
    }))
  })

  it("is 2 between {0} and {0, 2}", () => {
    expect(SampleMetrics.wasserstein2Squared1d(Float64Array.of(0), Float64Array.of(0, 2))).toBe(2)
  })

  it("trimmed to [τ, 1 − τ]: the repeated sorted pairs weighted by their overlap with the band, over 1 − 2τ", () => {
    fc.assert(fc.property(cloud(1, 12), cloud(1, 12), fc.double({ min: 0, max: 0.45, noNaN: true }), (a, b, trim) => {
      const sa = Float64Array.from(a).sort()
      const sb = Float64Array.from(b).sort()
      const ra = Array.from(sa).flatMap((x) => new Array(sb.length).fill(x))
      const rb = Array.from(sb).flatMap((x) => new Array(sa.length).fill(x))
      const n = ra.length
      // pair k covers the quantile interval [k/n, (k+1)/n)
      let expected = 0
      for (let k = 0; k < n; k++) {
        const overlap = Math.max(0, Math.min((k + 1) / n, 1 - trim) - Math.max(k / n, trim))
        expected += overlap * (ra[k] - rb[k]) ** 2
      }
      expected /= 1 - 2 * trim
      expect(SampleMetrics.wasserstein2Squared1d(sa, sb, trim)).toBeCloseTo(expected, 9)
    }))
  })

  it("trimmed or not, is c² between a sample and its translate by c", () => {
    fc.assert(fc.property(cloud(1), fc.double({ min: -5, max: 5, noNaN: true }), fc.double({ min: 0, max: 0.49, noNaN: true }), (a, c, trim) => {
      const sa = Float64Array.from(a).sort()
      expect(SampleMetrics.wasserstein2Squared1d(sa, sa.map((x) => x + c), trim)).toBeCloseTo(c * c, 9)
    }))
  })

  it("rejects a trim outside [0, 0.5)", () => {
    expect(() => SampleMetrics.wasserstein2Squared1d(Float64Array.of(0), Float64Array.of(1), 0.5)).toThrow(RangeError)
    expect(() => SampleMetrics.wasserstein2Squared1d(Float64Array.of(0), Float64Array.of(1), -0.1)).toThrow(RangeError)
  })
})

describe("SampleMetrics.slicedWasserstein2", () => {
  const key = Rng.named(7, "sw2")

  it("is 0 between a cloud and itself, and between a cloud and the same cloud listed twice", () => {
    fc.assert(fc.property(cloud(2), (a) => {
      expect(SampleMetrics.slicedWasserstein2(a, a, 2, 16, key)).toBe(0)
      const twice = Float64Array.from([...a, ...a])
      expect(SampleMetrics.slicedWasserstein2(a, twice, 2, 16, key)).toBeLessThan(1e-12)
    }))
  })

  it("is symmetric and scales with |c| under x ↦ c·x", () => {
    fc.assert(fc.property(cloud(2), cloud(2), fc.double({ min: -5, max: 5, noNaN: true }), (a, b, c) => {
      const ab = SampleMetrics.slicedWasserstein2(a, b, 2, 16, key)
      expect(Math.abs(ab - SampleMetrics.slicedWasserstein2(b, a, 2, 16, key))).toBeLessThan(1e-9 * (1 + ab))
      const scaled = SampleMetrics.slicedWasserstein2(a.map((x) => c * x), b.map((x) => c * x), 2, 16, key)
      expect(Math.abs(scaled - Math.abs(c) * ab)).toBeLessThan(1e-9 * (1 + Math.abs(c) * ab))
    }))
  })

  it("is sqrt(mean_θ ⟨μ, θ⟩²) over its own projections for a cloud translated by μ", () => {
    fc.assert(fc.property(cloud(3), fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 3, maxLength: 3 }), (a, mu) => {
      const shifted = a.map((x, i) => x + mu[i % 3])
      const directions = SampleMetrics.projectionDirections(3, 32, key)
      let second = 0
      for (let k = 0; k < 32; k++) {
        const dot = directions[3 * k] * mu[0] + directions[3 * k + 1] * mu[1] + directions[3 * k + 2] * mu[2]
        second += dot * dot
      }
      expect(Math.abs(SampleMetrics.slicedWasserstein2(a, shifted, 3, 32, key) - Math.sqrt(second / 32))).toBeLessThan(1e-9)
    }))
  })

  it("is √2 between {0} and {0, 2} in one dimension (every direction is ±1)", () => {
    expect(SampleMetrics.slicedWasserstein2(Float64Array.of(0), Float64Array.of(0, 2), 1, 5, key)).toBeCloseTo(Math.SQRT2, 14)
  })

  it("separates N(0, I) from N(μ, I) in 2-D: ≈ ‖μ‖/√2 over many directions, ≈ 0 for two N(0, I) samples", () => {
    const n = 2000
    const a = normalCloud(n, 2, Rng.named(1, "a"))
    const b = normalCloud(n, 2, Rng.named(1, "b"))
    const shifted = normalCloud(n, 2, Rng.named(1, "b"), [3, 4])
    expect(SampleMetrics.slicedWasserstein2(a, b, 2, 1000, key)).toBeLessThan(0.15)
    expect(Math.abs(SampleMetrics.slicedWasserstein2(a, shifted, 2, 1000, key) - 5 / Math.SQRT2)).toBeLessThan(0.15)
  })

  it("trimmed by 1 %, ignores 0.5 % of far outliers that dominate the untrimmed distance", () => {
    const n = 2000
    const a = normalCloud(n, 2, Rng.named(2, "a"))
    const b = normalCloud(n, 2, Rng.named(2, "b"))
    const spoilt = Float64Array.from(b)
    for (let i = 0; i < 10; i++) spoilt[2 * i] = 90
    const clean = SampleMetrics.slicedWasserstein2(a, b, 2, 256, key, 0.01)
    expect(clean).toBeLessThan(0.15)
    expect(SampleMetrics.slicedWasserstein2(a, spoilt, 2, 256, key)).toBeGreaterThan(3)
    expect(Math.abs(SampleMetrics.slicedWasserstein2(a, spoilt, 2, 256, key, 0.01) - clean)).toBeLessThan(0.05)
  })
})

describe("SampleMetrics: samples outside the data's range", () => {
  const data = Float64Array.from([-1, 0, 3, 2, 1, -2, 0, 0])

  it("bounds are the per-coordinate min and max", () => {
    const b = SampleMetrics.boundsOf(data, 2)
    expect(Array.from(b.lower)).toEqual([-1, -2])
    expect(Array.from(b.upper)).toEqual([3, 2])
  })

  it("counts a row outside when any coordinate leaves its range, or is not finite", () => {
    const b = SampleMetrics.boundsOf(data, 2)
    expect(SampleMetrics.shareOutside(data, 2, b)).toBe(0)
    const x = Float64Array.from([0, 0, 3.1, 0, 0, -2.5, 3, 2, Number.NaN, 0])
    expect(SampleMetrics.shareOutside(x, 2, b)).toBeCloseTo(3 / 5, 15)
    // a margin widens each range by that share of its extent (x: 4, y: 4) at both ends
    const near = Float64Array.from([3.03, 0, -1.05, 0, 0, 2.05])
    expect(SampleMetrics.shareOutside(near, 2, b)).toBe(1)
    expect(SampleMetrics.shareOutside(near, 2, b, 0.01)).toBeCloseTo(2 / 3, 15)
  })

  it("radius is the largest distance from the mean; shareBeyond counts rows farther than a given radius", () => {
    const square = Float64Array.from([1, 1, 1, 3, 3, 1, 3, 3])
    const { centre, radius } = SampleMetrics.radiusOf(square, 2)
    expect(Array.from(centre)).toEqual([2, 2])
    expect(radius).toBeCloseTo(Math.SQRT2, 15)
    const x = Float64Array.from([2, 2, 2, 3.5, 2, 5.1, Number.POSITIVE_INFINITY, 0])
    expect(SampleMetrics.shareBeyond(x, 2, centre, 1.5 * radius)).toBeCloseTo(2 / 4, 15)
  })
})

describe("SampleMetrics.energyDistance", () => {
  it("in one dimension equals 2∫(F_a − F_b)² − S_a/(n²(n−1)) − S_b/(m²(m−1)) (V-statistic identity + U correction)", () => {
    fc.assert(fc.property(cloud(1, 30), cloud(1, 30), (a, b) => {
      const n = a.length
      const m = b.length
      const expected = 2 * cdfGapSquared(a, b) - pairSum(a) / (n * n * (n - 1)) - pairSum(b) / (m * m * (m - 1))
      expect(Math.abs(SampleMetrics.energyDistance(a, b, 1) - expected)).toBeLessThan(1e-9 * (1 + Math.abs(expected)))
    }))
  })

  it("is −(2/n)·(mean pairwise distance) between a cloud and itself", () => {
    const a = normalCloud(300, 2, Rng.named(3, "self"))
    let s = 0
    for (let i = 0; i < 300; i++) {
      for (let j = 0; j < 300; j++) s += Math.hypot(a[2 * i] - a[2 * j], a[2 * i + 1] - a[2 * j + 1])
    }
    const meanPairwise = s / (300 * 299)
    expect(SampleMetrics.energyDistance(a, a, 2)).toBeCloseTo((-2 / 300) * meanPairwise, 12)
  })

  it("is 2‖μ‖ between two point masses μ apart", () => {
    const a = new Float64Array(20)
    const b = Float64Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 3 : -4))
    expect(SampleMetrics.energyDistance(a, b, 2)).toBeCloseTo(10, 12)
  })

  it("matches (4/√π)(e^{−μ²/4} − 1) + 2μ·erf(μ/2) for N(0, 1) vs N(μ, 1), within 4σ ≈ 0.14 at n = 2000", () => {
    const n = 2000
    const a = normalCloud(n, 1, Rng.named(5, "a"))
    const same = normalCloud(n, 1, Rng.named(5, "b"))
    const shifted = normalCloud(n, 1, Rng.named(5, "b"), [1])
    const exact = (4 / Math.sqrt(Math.PI)) * (Math.exp(-0.25) - 1) + 2 * erf(0.5)
    expect(exact).toBeCloseTo(0.5418, 4)
    expect(Math.abs(SampleMetrics.energyDistance(a, shifted, 1) - exact)).toBeLessThan(0.14)
    expect(Math.abs(SampleMetrics.energyDistance(a, same, 1))).toBeLessThan(0.14)
  })

  it("grows with the shift between 2-D clouds", () => {
    const a = normalCloud(1000, 2, Rng.named(6, "a"))
    const values = [0, 0.5, 1, 2].map((s) => SampleMetrics.energyDistance(a, normalCloud(1000, 2, Rng.named(6, "b"), [s, s]), 2))
    for (let k = 1; k < values.length; k++) expect(values[k]).toBeGreaterThan(values[k - 1])
    expect(values[3]).toBeGreaterThan(1)
  })
})
