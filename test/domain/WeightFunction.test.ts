/**
 * The weight functions w(A) of the advantage, each against its formula written here (SWG §4 and eq. 21, IDQL's
 * implicit-policy weights |f'(u)|/|u| with eq. 22 for linex), and `range` against the values the function takes.
 */
import { describe, expect, it } from "vitest"
import * as W from "../../src/domain/WeightFunction.ts"

const ADVANTAGES = [-40, -3, -0.5, -0.01, -1e-9, 0, 1e-9, 0.01, 0.2, 1, 2.5, 40]

/** Every advantage's weight next to the formula's, to 12 significant digits. */
const expectFormula = (f: W.WeightFunction, formula: (a: number) => number) => {
  for (const a of ADVANTAGES) {
    const want = formula(a)
    const got = W.weight(f, a)
    expect(Math.abs(got - want), `A = ${a}: ${got} vs ${want}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)))
  }
}

/** range() holds every weight of a fine grid (to rounding) and is reached at its ends (to `tolerance`). */
const expectRangeTight = (f: W.WeightFunction, tolerance: number) => {
  const [lo, hi] = W.range(f)
  const grid = Array.from({ length: 2001 }, (_, i) => -50 + i * 0.05)
  const ws = grid.map((a) => W.weight(f, a))
  for (const w of ws) {
    expect(w).toBeGreaterThanOrEqual(lo - 1e-15)
    expect(w).toBeLessThanOrEqual(hi + 1e-15)
  }
  expect(Math.min(...ws) - lo).toBeLessThanOrEqual(tolerance)
  expect(hi - Math.max(...ws)).toBeLessThanOrEqual(tolerance)
}

describe("weight functions against their formulas", () => {
  it.each([0.7, 0.9, 0.3])("expectile τ = %s: τ if A > 0, else 1 − τ; range [min(τ, 1 − τ), max(τ, 1 − τ)]", (tau) => {
    const f = W.expectile(tau)
    expectFormula(f, (a) => (a > 0 ? tau : 1 - tau))
    expect(W.weight(f, 0)).toBeCloseTo(1 - tau, 15)
    expect(W.range(f)).toEqual([Math.min(tau, 1 - tau), Math.max(tau, 1 - tau)])
    expectRangeTight(f, 0)
  })

  it.each([[0.7, 3], [0.9, 1], [0.3, 10]])("smooth expectile τ = %s, κ = %s: (1 − τ) + (2τ − 1)/(1 + e^(−κA)) (SWG eq. 21)", (tau, kappa) => {
    const f = W.smoothExpectile(tau, kappa)
    expectFormula(f, (a) => 1 - tau + (2 * tau - 1) / (1 + Math.exp(-kappa * a)))
    expect(W.weight(f, 0)).toBeCloseTo(0.5, 12)
    // κ sets the slope at 0: (2τ − 1)·κ/4
    const h = 1e-6
    expect((W.weight(f, h) - W.weight(f, -h)) / (2 * h)).toBeCloseTo(((2 * tau - 1) * kappa) / 4, 6)
    expect(W.range(f)).toEqual([Math.min(tau, 1 - tau), Math.max(tau, 1 - tau)])
    expectRangeTight(f, 1e-12)
  })

  it.each([[3, 0.001, 80], [1, 0.1, 5]])("exp-advantage κ = %s, clip [%s, %s]: min(max(e^(κA), lo), hi)", (kappa, lo, hi) => {
    const f = W.expAdvantage(kappa, lo, hi)
    expectFormula(f, (a) => Math.min(Math.max(Math.exp(kappa * a), lo), hi))
    expect(W.weight(f, 0)).toBe(1)
    expect(W.range(f)).toEqual([lo, hi])
    expectRangeTight(f, 0)
  })

  it.each([1, 0.5, 3])("linex β = %s: β·|e^(βA) − 1|/|A|, β² at A = 0 (IDQL eq. 22); range [0, ∞)", (beta) => {
    const f = new W.Linex({ beta })
    expectFormula(f, (a) => (Math.abs(a) < 1e-8 ? beta * beta : (beta * Math.abs(Math.exp(beta * a) - 1)) / Math.abs(a)))
    // continuous at 0: the limit β² matches small |A| on either side
    expect(W.weight(f, 1e-6)).toBeCloseTo(beta * beta, 4)
    expect(W.weight(f, -1e-6)).toBeCloseTo(beta * beta, 4)
    expect(W.range(f)).toEqual([0, Infinity])
    for (const a of ADVANTAGES) expect(W.weight(f, a)).toBeGreaterThan(0)
  })

  it.each([[0.7, 1e-3], [0.9, 0.05]])("quantile τ = %s, ε = %s: (τ if A ≥ 0 else 1 − τ)/max(|A|, ε); range [0, ∞)", (tau, epsilon) => {
    const f = new W.Quantile({ tau, epsilon })
    expectFormula(f, (a) => (a < 0 ? 1 - tau : tau) / Math.max(Math.abs(a), epsilon))
    // |A| below ε: the weight stops at τ/ε (or (1 − τ)/ε)
    expect(W.weight(f, epsilon / 10)).toBeCloseTo(tau / epsilon, 10)
    expect(W.weight(f, -epsilon / 10)).toBeCloseTo((1 - tau) / epsilon, 10)
    expect(W.range(f)).toEqual([0, Infinity])
  })
})

describe("weights of many advantages", () => {
  it("are the per-element weights, with a non-finite one replaced by the smallest finite weight (0 if none is finite)", () => {
    const f = new W.Linex({ beta: 2 })
    const advantages = [0.5, Number.NaN, -1, 2]
    const got = W.weights(f, advantages)
    const finite = [0.5, -1, 2].map((a) => (2 * Math.abs(Math.exp(2 * a) - 1)) / Math.abs(a))
    expect(got[0]).toBeCloseTo(finite[0], 12)
    expect(got[1]).toBeCloseTo(Math.min(...finite), 12)
    expect(got[2]).toBeCloseTo(finite[1], 12)
    expect(got[3]).toBeCloseTo(finite[2], 12)
    expect(Array.from(W.weights(f, [Number.NaN, Number.NaN]))).toEqual([0, 0])
  })
})

describe("spread of a data set's weights", () => {
  it("is the weights' standard deviation and the share within 5 % of the range's width of its midpoint", () => {
    // τ = 0.7: range [0.3, 0.7], midpoint 0.5, tolerance 0.02; 0.51 and 0.485 count, 0.52 (|0.02| not < 0.02) does not
    const w = [0.3, 0.7, 0.51, 0.485, 0.52, 0.6]
    const got = W.spread(W.smoothExpectile(0.7, 3), w)
    const mean = w.reduce((s, x) => s + x, 0) / w.length
    expect(got.std).toBeCloseTo(Math.sqrt(w.reduce((s, x) => s + (x - mean) ** 2, 0) / w.length), 12)
    expect(got.tolerance).toBeCloseTo(0.02, 12)
    expect(got.nearMidpoint).toBeCloseTo(2 / 6, 12)
    // τ = 0.9: range [0.1, 0.9], tolerance 0.04: 0.52 now counts too
    expect(W.spread(W.expectile(0.9), w).nearMidpoint).toBeCloseTo(3 / 6, 12)
  })

  it("has no midpoint share for an unbounded weight function", () => {
    const got = W.spread(new W.Linex({ beta: 1 }), [1, 3])
    expect(got.std).toBeCloseTo(1, 12)
    expect(got.nearMidpoint).toBeUndefined()
  })

  it("of the smooth expectile shrinks with the advantages' scale, the hard expectile's does not", () => {
    const advantages = Array.from({ length: 200 }, (_, i) => (i - 99.5) / 100) // A in (−1, 1)
    // |w − 1/2| < 0.02 at κ = 3 exactly where |A| < logit(0.55)/3 ≈ 0.067
    const small = advantages.map((a) => a / 100)
    const smooth = W.smoothExpectile(0.7, 3)
    const hard = W.expectile(0.7)
    expect(W.spread(smooth, W.weights(smooth, small)).nearMidpoint!).toBeGreaterThan(0.9)
    expect(W.spread(smooth, W.weights(smooth, advantages)).nearMidpoint!).toBeLessThan(0.2)
    expect(W.spread(hard, W.weights(hard, small)).nearMidpoint).toBe(0)
    expect(W.spread(hard, W.weights(hard, small)).std).toBeCloseTo(0.2, 12)
  })
})
