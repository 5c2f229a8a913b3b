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
import * as Rng from "../../src/domain/Rng.ts"
import * as Model from "../../src/nn/Model.ts"
import * as Critic from "../../src/rl/Critic.ts"

const B = CpuBackend.make()
const STATES = 5
const GOAL = 4
const gamma = 0.8
const TOLERANCE = 0.01

/** (steps, lr, batch) stages: a fast start, a steady stretch, then lr decaying 1e-3 → 1e-5 in 12 stages. */
const SCHEDULE: ReadonlyArray<readonly [number, number, number]> = [
  [300, 3e-3, 64],
  [600, 1e-3, 256],
  ...Array.from({ length: 12 }, (_, i) => [50, 1e-3 * 0.01 ** ((i + 1) / 12), 256] as const)
]

const step = (s: number, a: number) => {
  const next = a > 0 ? s + 1 : Math.max(s - 1, 0)
  return { next, reward: next === GOAL ? 1 : 0, terminal: next === GOAL }
}

const expectileOfTwo = (tau: number, [x, y]: ReadonlyArray<number>) => tau * Math.max(x, y) + (1 - tau) * Math.min(x, y)

/** The exact fixed point of Q(s, a) = r + γ·mask·V(s'), V = expectile_τ over the two actions. */
const fixedPoint = (tau: number) => {
  const q = Array.from({ length: GOAL }, () => [0, 0])
  for (let iteration = 0; iteration < 500; iteration++) {
    const v = q.map((qs) => expectileOfTwo(tau, qs))
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
  it.each([0.5, 0.7, 0.9])("converges to the exact expectile fixed point (τ = %s)", async (tau) => {
    const base = { hidden: 16, discount: gamma, valueLoss: "expectile", tau, linexBeta: 1, polyak: 0.1 } as const
    const created = Critic.create(B, new Critic.CriticConfig({ ...base, lr: SCHEDULE[0][1], batch: SCHEDULE[0][2] }), STATES, 1, Rng.named(1, "critic"))
    const data = dataset()
    let i = 0
    for (const [steps, lr, batch] of SCHEDULE) {
      const critic = { ...created, config: new Critic.CriticConfig({ ...base, lr, batch }) }
      for (let end = i + steps; i < end; i++) B.dispose(Critic.updateStep(B, critic, data, Rng.named(2, "batch"), i))
    }
    // Q = min of the target heads, as the advantages use it.
    const qp = Model.bind(B, created.q, created.q.ema ?? created.q.params)
    const q = await B.read(Critic.minQ(qp.tape, Critic.qValues(qp, created.config, qp.tape.leaf(data.observations), qp.tape.leaf(data.actions))).value)
    const adv = await B.read(Critic.advantages(B, created, data.observations, data.actions)[0])
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
