/**
 * The IQL critic on a tiny deterministic chain MDP whose expectile fixed point is computed
 * exactly: states 0..4 (one-hot), actions ±1; +1 moves right, −1 moves left (floored at 0);
 * reaching state 4 pays 1 and terminates. Every (s, a) is in the dataset equally often, so the
 * expectile-τ Bellman operator has the fixed point V(s) = τ·max_a Q(s, a) + (1 − τ)·min_a Q(s, a).
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Critic from "../../src/rl/Critic.ts"

const B = CpuBackend.make()
const STATES = 5
const GOAL = 4
const gamma = 0.9
const STEPS = 2000

const step = (s: number, a: number) => {
  const next = a > 0 ? s + 1 : Math.max(s - 1, 0)
  return { next, reward: next === GOAL ? 1 : 0, terminal: next === GOAL }
}

/** The exact fixed point of Q(s, a) = r + γ·mask·V(s'), V = expectile_τ over the two actions. */
const fixedPoint = (tau: number) => {
  const q = Array.from({ length: GOAL }, () => [0, 0])
  for (let iteration = 0; iteration < 500; iteration++) {
    const v = q.map(([lo, hi]) => tau * Math.max(lo, hi) + (1 - tau) * Math.min(lo, hi))
    for (let s = 0; s < GOAL; s++) {
      ;[-1, 1].forEach((a, j) => {
        const { next, reward, terminal } = step(s, a)
        q[s][j] = reward + (terminal ? 0 : gamma * v[next])
      })
    }
  }
  return q
}

const oneHot = (s: number) => Array.from({ length: STATES }, (_, i) => (i === s ? 1 : 0))

const dataset = (): Critic.DeviceTransitions => {
  const rows: Array<{ s: number; a: number }> = []
  for (let s = 0; s < GOAL; s++) for (const a of [-1, 1]) rows.push({ s, a })
  const n = rows.length
  const f = (values: Array<number>, cols: number) => B.upload(Float32Array.from(values), n, cols)
  return {
    observations: f(rows.flatMap(({ s }) => oneHot(s)), STATES),
    actions: f(rows.map(({ a }) => a), 1),
    rewards: f(rows.map(({ s, a }) => step(s, a).reward), 1),
    masks: f(rows.map(({ s, a }) => (step(s, a).terminal ? 0 : 1)), 1),
    nextObservations: f(rows.flatMap(({ s, a }) => oneHot(step(s, a).next)), STATES)
  }
}

describe("IQL critic on a chain MDP", () => {
  it.each([0.5, 0.9])("converges to the exact expectile fixed point (τ = %s)", async (tau) => {
    const config = new Critic.CriticConfig({ hidden: 32, discount: gamma, valueLoss: "expectile", tau, linexBeta: 1, polyak: 0.1, lr: 3e-3, batch: 256 })
    const critic = Critic.create(B, config, STATES, 1, Rng.named(1, "critic"))
    const data = dataset()
    for (let i = 0; i < STEPS; i++) B.dispose(Critic.updateStep(B, critic, data, Rng.named(2, "batch"), i))
    const [adv] = Critic.advantages(B, critic, data.observations, data.actions)
    const expected = fixedPoint(tau)
    const qp = await B.read(adv)
    // Q − V on the dataset rows against the exact fixed point's advantages, plus Q itself.
    let worst = 0
    for (let s = 0; s < GOAL; s++) {
      const v = tau * Math.max(...expected[s]) + (1 - tau) * Math.min(...expected[s])
      ;[0, 1].forEach((j) => {
        worst = Math.max(worst, Math.abs(qp[2 * s + j] - (expected[s][j] - v)))
      })
    }
    expect(worst).toBeLessThan(0.03)
    // At τ = 0.9 the values approach Q*: moving right is better everywhere.
    for (let s = 0; s < GOAL; s++) expect(qp[2 * s + 1]).toBeGreaterThan(qp[2 * s])
  }, 60_000)
})
