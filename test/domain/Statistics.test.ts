/**
 * The rank statistics against hand-computed cases: fractional ranks with ties, Spearman's ρ without ties (where the
 * 1 − 6Σd²/(n(n² − 1)) formula holds) and with ties (where it does not, and ρ is Pearson's r of the ranks).
 */
import { describe, expect, it } from "vitest"
import * as Statistics from "../../src/domain/Statistics.ts"

describe("ranks", () => {
  it("ranks ascending from 1, tied values sharing the mean of their ranks", () => {
    expect(Array.from(Statistics.ranks([3, 1, 4, 1, 5]))).toEqual([3, 1.5, 4, 1.5, 5])
    expect(Array.from(Statistics.ranks([2, 2, 2]))).toEqual([2, 2, 2])
    expect(Array.from(Statistics.ranks([-0.5, 7, 0.25]))).toEqual([1, 3, 2])
  })
})

describe("spearman", () => {
  it("without ties: 1 − 6Σd²/(n(n² − 1)) = 1 − 6·4/120 = 0.8", () => {
    // ranks of y: 1 3 2 5 4, d = 0 −1 1 −1 1
    expect(Statistics.spearman([10, 20, 30, 40, 50], [1, 3, 2, 5, 4])).toBeCloseTo(0.8, 12)
  })

  it("with ties: Pearson's r of the fractional ranks, −3/√10 (the no-ties formula would give −0.85)", () => {
    // ranks x: 1 2.5 2.5 4, ranks y: 4 3 2 1; centred at 2.5: Σxy = −4.5, Σx² = 4.5, Σy² = 5
    expect(Statistics.spearman([1, 2, 2, 3], [4, 3, 2, 1])).toBeCloseTo(-3 / Math.sqrt(10), 12)
  })

  it("depends on order only: ±1 under monotone maps, symmetric in its arguments", () => {
    const x = [0.3, -2, 5, 1.5, 0]
    expect(Statistics.spearman(x, x.map((v) => Math.exp(v)))).toBeCloseTo(1, 12)
    expect(Statistics.spearman(x, x.map((v) => -(v ** 3)))).toBeCloseTo(-1, 12)
    const y = [1, 9, 2, 2, 7]
    expect(Statistics.spearman(x, y)).toBeCloseTo(Statistics.spearman(y, x), 12)
  })

  it("is NaN for a constant sample, unequal lengths or fewer than two pairs", () => {
    expect(Statistics.spearman([1, 2, 3], [4, 4, 4])).toBeNaN()
    expect(Statistics.spearman([1, 2, 3], [1, 2])).toBeNaN()
    expect(Statistics.spearman([1], [1])).toBeNaN()
  })
})
