/**
 * The IQL critic on a tiny deterministic chain MDP whose expectile fixed point is computed
 * exactly: states 0..4 (one-hot), actions ±1; +1 moves right, −1 moves left (floored at 0);
 * reaching state 4 pays 1 and terminates. Every (s, a) is in the dataset equally often, so the
 * expectile-τ Bellman operator has the fixed point V(s) = τ·max_a Q(s, a) + (1 − τ)·min_a Q(s, a)
 * (the τ-expectile of two equally likely values), Q(s, a) = r + γ·mask·V(s').
 *
 * Q (the min of the twin target heads) and A = Q − V must both be within 0.01 of that fixed point
 * on every row. At γ = 0.8 the fixed points of neighbouring τ differ by far more: τ = 1 against
 * τ = 0.9 by 0.06 in Q and 0.04 in A, τ = 0.8 against 0.7 by 0.08 and 0.07, so a critic that
 * fits the wrong expectile fails. Minibatches of 8 rows drawn at random make the expectile's
 * target noisy, and Adam's jitter around the optimum grows with the learning rate, so training
 * ends on a geometric decay of the rate (1e-3 → 1e-5); measured worst errors are ≈ 0.003.
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import { fixedPointQ, GAMMA, GOAL, trainCritic } from "../fixtures/ChainMdp.ts"

const B = CpuBackend.make()
const TOLERANCE = 0.01

const expectileOfTwo = (tau: number, [x, y]: ReadonlyArray<number>) => tau * Math.max(x, y) + (1 - tau) * Math.min(x, y)

/** The exact fixed point of Q(s, a) = r + γ·mask·V(s'), V = expectile_τ over the two actions. */
const fixedPoint = (tau: number) => fixedPointQ((qs) => expectileOfTwo(tau, qs))

describe("IQL critic on a chain MDP", () => {
  it.each([0.5, 0.7, 0.9])("converges to the exact expectile fixed point (τ = %s)", async (tau) => {
    // Q = min of the target heads, as the advantages use it.
    const { q, advantages: adv } = await trainCritic(B, { hidden: 16, discount: GAMMA, valueLoss: "expectile", tau, linexBeta: 1, polyak: 0.1 })
    const expected = fixedPoint(tau)
    for (let s = 0; s < GOAL; s++) {
      const v = expectileOfTwo(tau, expected[s])
      ;[0, 1].forEach((j) => {
        const row = `s = ${s}, a = ${j === 0 ? -1 : 1}`
        expect(Math.abs(q[2 * s + j] - expected[s][j]), `Q(${row}) = ${q[2 * s + j]}, exact ${expected[s][j]}`).toBeLessThanOrEqual(TOLERANCE)
        expect(Math.abs(adv[2 * s + j] - (expected[s][j] - v)), `A(${row}) = ${adv[2 * s + j]}, exact ${expected[s][j] - v}`).toBeLessThanOrEqual(TOLERANCE)
      })
    }
    // Moving right is better everywhere.
    for (let s = 0; s < GOAL; s++) expect(adv[2 * s + 1]).toBeGreaterThan(adv[2 * s])
  }, 120_000)
})
