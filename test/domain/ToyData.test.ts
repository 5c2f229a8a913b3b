import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Rng from "../../src/domain/Rng.ts"
import * as ToyData from "../../src/domain/ToyData.ts"

const key = (name: string): Rng.RngKey => Rng.named(20250, name)

const countBy = (values: Float64Array, level: (v: number) => number, levels: number): Array<number> => {
  const counts = new Array<number>(levels).fill(0)
  for (const v of values) counts[level(v)]++
  return counts
}

const gaussianCluster = (e: number): number => Math.round(7 * e)

/** Multinomial counts within 4 binomial σ of n·p_k, for every k. */
const expectCountsNear = (counts: ReadonlyArray<number>, probabilities: ReadonlyArray<number>): void => {
  const n = counts.reduce((a, b) => a + b, 0)
  counts.forEach((c, k) => {
    const p = probabilities[k]
    expect(Math.abs(c - n * p)).toBeLessThanOrEqual(4 * Math.sqrt(n * p * (1 - p)))
  })
}

const softmaxLevels = (levels: ReadonlyArray<number>, beta: number): Array<number> => {
  const w = levels.map((e) => Math.exp(beta * e))
  const z = w.reduce((a, b) => a + b, 0)
  return w.map((x) => x / z)
}

const gaussianLevels = Array.from({ length: 8 }, (_, k) => k / 7)

const mean = (xs: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < xs.length; i++) s += xs[i]
  return s / xs.length
}

const variance = (xs: ArrayLike<number>): number => {
  const m = mean(xs)
  let s = 0
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2
  return s / (xs.length - 1)
}

describe("ToyData.generate", () => {
  it("is a pure function of the key, and another key gives other points", () => {
    for (const name of ToyData.ToyDatasets) {
      const a = ToyData.generate(name, 257, key(name))
      const b = ToyData.generate(name, 257, key(name))
      const c = ToyData.generate(name, 257, Rng.at(key(name), 1))
      expect(a.points).toEqual(b.points)
      expect(a.energy).toEqual(b.energy)
      expect(a.points).not.toEqual(c.points)
    }
  })

  it("returns n finite rows with energies inside the dataset's bounds", () => {
    fc.assert(
      fc.property(fc.constantFrom(...ToyData.ToyDatasets), fc.integer({ min: 1, max: 300 }), fc.nat(), (name, n, seed) => {
        const { points, energy } = ToyData.generate(name, n, Rng.named(seed, "bounds"))
        const [lower, upper] = ToyData.energyBounds[name]
        expect(points.length).toBe(2 * n)
        expect(energy.length).toBe(n)
        expect(points.every(Number.isFinite)).toBe(true)
        expect(energy.every((e) => e >= lower && e <= upper)).toBe(true)
      }),
      { numRuns: 60 }
    )
  })

  it("8gaussians: levels k/7 each hold 1/8 of the points, around 4·centre_k/1.414 with std 0.5/1.414", () => {
    const n = 80_000
    const { points, energy } = ToyData.generate("8gaussians", n, key("8gaussians"))
    expect(energy.every((e) => Math.abs(7 * e - gaussianCluster(e)) < 1e-12)).toBe(true)
    const counts = countBy(energy, gaussianCluster, 8)
    expectCountsNear(counts, new Array(8).fill(1 / 8))
    const s = Math.SQRT1_2
    const centres = [[0, 1], [-s, s], [-1, 0], [-s, -s], [0, -1], [s, -s], [1, 0], [s, s]]
    const std = 0.5 / 1.414
    for (let k = 0; k < 8; k++) {
      const xs: Array<number> = []
      const ys: Array<number> = []
      for (let i = 0; i < n; i++) {
        if (gaussianCluster(energy[i]) !== k) continue
        xs.push(points[2 * i])
        ys.push(points[2 * i + 1])
      }
      const tolerance = (4 * std) / Math.sqrt(xs.length)
      expect(Math.abs(mean(xs) - (4 * centres[k][0]) / 1.414)).toBeLessThan(tolerance)
      expect(Math.abs(mean(ys) - (4 * centres[k][1]) / 1.414)).toBeLessThan(tolerance)
      expect(Math.abs(Math.sqrt(variance(xs)) - std)).toBeLessThan(tolerance / Math.SQRT2)
      expect(Math.abs(Math.sqrt(variance(ys)) - std)).toBeLessThan(tolerance / Math.SQRT2)
    }
  })

  it("swissroll: e = ‖x‖²/9, unclipped, exceeding 1 for about 1.2 % of points", () => {
    const n = 200_000
    const { points, energy } = ToyData.generate("swissroll", n, key("swissroll"))
    let above = 0
    let worst = 0
    for (let i = 0; i < n; i++) {
      worst = Math.max(worst, Math.abs(energy[i] - (points[2 * i] ** 2 + points[2 * i + 1] ** 2) / 9))
      if (energy[i] > 1) above++
    }
    expect(worst).toBeLessThan(1e-12)
    expect(above / n).toBeGreaterThan(0.009)
    expect(above / n).toBeLessThan(0.015)
  })

  it("rings: n//4 points at radii 3, 2.25, 1.5 with e = 0.667, 0.333, 1 and the rest at 0.75 with e = 0", () => {
    const n = 4003
    const { points, energy } = ToyData.generate("rings", n, key("rings"))
    const rings = [
      { radius: 3, energy: 0.667, count: 1000 },
      { radius: 2.25, energy: 0.333, count: 1000 },
      { radius: 1.5, energy: 1, count: 1000 },
      { radius: 0.75, energy: 0, count: 1003 }
    ]
    for (const ring of rings) {
      const radii: Array<number> = []
      for (let i = 0; i < n; i++) if (energy[i] === ring.energy) radii.push(Math.hypot(points[2 * i], points[2 * i + 1]))
      expect(radii.length).toBe(ring.count)
      expect(radii.every((r) => Math.abs(r - ring.radius) < 0.5)).toBe(true)
      expect(Math.abs(mean(radii) - ring.radius)).toBeLessThan((4 * 0.08) / Math.sqrt(ring.count) + 0.01)
    }
  })

  it("moons: n//2 outer points with e = 0 around (−1, 1.07), the rest inner with e = 1 around (1, −0.47)", () => {
    const n = 20_001
    const { points, energy } = ToyData.generate("moons", n, key("moons"))
    for (const [label, count, cx, cy] of [[0, 10_000, -1, 4 / Math.PI - 0.2], [1, 10_001, 1, -4 / Math.PI + 0.8]]) {
      const xs: Array<number> = []
      const ys: Array<number> = []
      for (let i = 0; i < n; i++) {
        if (energy[i] !== label) continue
        xs.push(points[2 * i])
        ys.push(points[2 * i + 1])
      }
      expect(xs.length).toBe(count)
      expect(Math.abs(mean(xs) - cx)).toBeLessThan(0.05)
      expect(Math.abs(mean(ys) - cy)).toBeLessThan(0.05)
    }
    expect(energy.every((e) => e === 0 || e === 1)).toBe(true)
  })

  it("checkerboard: e = 1 exactly on 0 < x ≤ 2 or x ≤ −2, points on the dark squares, half of them with e = 1", () => {
    const n = 40_000
    const { points, energy } = ToyData.generate("checkerboard", n, key("checkerboard"))
    let high = 0
    let violations = 0
    for (let i = 0; i < n; i++) {
      const x = points[2 * i]
      const y = points[2 * i + 1]
      if (energy[i] !== ((x > 0 && x <= 2) || x <= -2 ? 1 : 0)) violations++
      if (Math.abs(x) > 4 || Math.abs(y) > 4) violations++
      if (Math.abs(Math.floor(x / 2) + Math.floor(y / 2)) % 2 !== 0) violations++
      high += energy[i]
    }
    expect(violations).toBe(0)
    expectCountsNear([high, n - high], [0.5, 0.5])
  })

  it("2spirals: e ∈ [1 − 0.3π ≈ 0.058, 1], shared by mirrored pairs, with ((1 − e)·10/3π)² uniform", () => {
    const n = 40_000
    const { points, energy } = ToyData.generate("2spirals", n, key("2spirals"))
    const sorted = Float64Array.from(energy).sort()
    expect(sorted[0]).toBeGreaterThanOrEqual(1 - 0.3 * Math.PI)
    expect(sorted[0]).toBeLessThan(0.06)
    expect(sorted[n - 1]).toBeLessThanOrEqual(1)
    for (let k = 0; k < n; k += 2) expect(sorted[k]).toBe(sorted[k + 1])
    const u = energy.map((e) => ((10 * (1 - e)) / (3 * Math.PI)) ** 2)
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / (n / 2)))
    expect(Math.abs(mean(points))).toBeLessThan(0.02)
  })
})

describe("ToyData.weights", () => {
  it("is exp(β·e)", () => {
    const w = ToyData.weights(Float64Array.of(0, 0.5, 1, -1), 2)
    ;[1, Math.E, Math.E ** 2, Math.E ** -2].forEach((x, i) => expect(w[i]).toBeCloseTo(x, 14))
  })
})

describe("ToyData.sampleTarget", () => {
  it("is deterministic in the key", () => {
    const a = ToyData.sampleTarget("rings", 3, 500, key("target"))
    const b = ToyData.sampleTarget("rings", 3, 500, key("target"))
    const c = ToyData.sampleTarget("rings", 3, 500, Rng.at(key("target"), 1))
    expect(a.points).toEqual(b.points)
    expect(a.points).not.toEqual(c.points)
  })

  it("8gaussians at β = 3: cluster k has frequency exp(3k/7)/Σ_j exp(3j/7) within 4σ", () => {
    const sample = ToyData.sampleTarget("8gaussians", 3, 40_000, key("exact"))
    const counts = countBy(sample.energy, gaussianCluster, 8)
    const p = softmaxLevels(gaussianLevels, 3)
    expect(p[7]).toBeCloseTo(0.3602, 4)
    expectCountsNear(counts, p)
  })

  it("β = 0 gives the data distribution", () => {
    const gaussians = ToyData.sampleTarget("8gaussians", 0, 40_000, key("beta0"))
    expectCountsNear(countBy(gaussians.energy, gaussianCluster, 8), new Array(8).fill(1 / 8))
    const moons = ToyData.sampleTarget("moons", 0, 40_000, key("beta0"))
    const inner = moons.energy.reduce((a, b) => a + b, 0)
    expectCountsNear([inner, 40_000 - inner], [0.5, 0.5])
    const rings = ToyData.sampleTarget("rings", 0, 40_000, key("beta0"))
    expectCountsNear(countBy(rings.energy, (e) => [0, 0.333, 0.667, 1].indexOf(e), 4), [0.25, 0.25, 0.25, 0.25])
  })

  it("matches the self-normalised importance estimate of E_target[e] on every dataset, for β = 3 and β = −2", () => {
    const n = 20_000
    for (const name of ToyData.ToyDatasets) {
      const data = ToyData.generate(name, 400_000, key(`reference-${name}`))
      for (const beta of [3, -2]) {
        const w = ToyData.weights(data.energy, beta)
        const z = w.reduce((a, b) => a + b, 0)
        let estimate = 0
        for (let i = 0; i < w.length; i++) estimate += (w[i] * data.energy[i]) / z
        let importanceVariance = 0
        for (let i = 0; i < w.length; i++) importanceVariance += ((w[i] / z) * (data.energy[i] - estimate)) ** 2
        const sample = ToyData.sampleTarget(name, beta, n, key(`target-${name}`))
        const tolerance = 4 * Math.sqrt(variance(sample.energy) / n + importanceVariance)
        expect(Math.abs(mean(sample.energy) - estimate), `${name} β=${beta}`).toBeLessThan(tolerance)
      }
    }
  })

  it("swissroll: target points are consistent with their energies, and β ≥ 112.5 has no target", () => {
    const sample = ToyData.sampleTarget("swissroll", 20, 1000, key("swissroll-target"))
    for (let i = 0; i < 1000; i++) {
      expect(sample.energy[i]).toBeCloseTo((sample.points[2 * i] ** 2 + sample.points[2 * i + 1] ** 2) / 9, 12)
    }
    expect(mean(sample.energy)).toBeGreaterThan(0.8)
    expect(() => ToyData.sampleTarget("swissroll", 112.5, 10, key("swissroll-target"))).toThrow(RangeError)
  })
})

describe("ToyData.reweightedSample", () => {
  it("draws dataset rows with probability ∝ exp(β e): cluster frequencies within 4σ", () => {
    const data = ToyData.generate("8gaussians", 100_000, key("oracle-data"))
    const beta = 3
    const counts = countBy(data.energy, gaussianCluster, 8)
    const mass = counts.map((c, k) => c * Math.exp(beta * gaussianLevels[k]))
    const z = mass.reduce((a, b) => a + b, 0)
    const sample = ToyData.reweightedSample(data.points, data.energy, beta, 40_000, key("oracle"))
    expectCountsNear(countBy(sample.energy, gaussianCluster, 8), mass.map((m) => m / z))
    const rows = new Set<string>()
    for (let i = 0; i < 100_000; i++) rows.add(`${data.points[2 * i]},${data.points[2 * i + 1]},${data.energy[i]}`)
    let missing = 0
    for (let j = 0; j < 40_000; j++) {
      if (!rows.has(`${sample.points[2 * j]},${sample.points[2 * j + 1]},${sample.energy[j]}`)) missing++
    }
    expect(missing).toBe(0)
  })

  it("at β = 0 picks every row of a small dataset equally often", () => {
    const m = 5
    const points = Float64Array.from({ length: 2 * m }, (_, i) => i)
    const energy = Float64Array.of(0, 0.2, 0.4, 0.6, 1)
    const sample = ToyData.reweightedSample(points, energy, 0, 50_000, key("uniform-oracle"))
    expectCountsNear(countBy(sample.energy, (e) => [0, 0.2, 0.4, 0.6, 1].indexOf(e), m), new Array(m).fill(0.2))
  })
})
