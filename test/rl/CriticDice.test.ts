/**
 * The critic's DICE value loss (Diffusion-DICE: V minimises mean[f*((Q − V)/α) + V/α] with the soft-χ²
 * conjugate, Q backed up from the current V) on the chain MDP of Critic.test.ts: states 0..4 (one-hot),
 * actions ±1; +1 moves right, −1 left (floored at 0); reaching state 4 pays 1 and terminates. Every
 * (s, a) is in the dataset equally often, so setting the V gradient of each state to zero gives
 *   mean_a w*((Q(s, a) − V(s))/α) = 1,   Q(s, a) = r + γ·mask·V(s'),
 * with w* = (f*)' increasing, so V(s) is found by bisection. The host iterates these same
 * semi-gradient equations to their fixed point; Q (min of the target heads) and V must be within 0.01 of it.
 * The fixed points of the α tested differ from each other by far more than that (checked below), and
 * from the IQL expectile fixed point, so a critic trained with another α or loss fails.
 * The Q ensemble is trained on the same target, so its mean must land on the same Q. Both V forms are run: IQL's
 * (LayerNorm on the input, Adam) and Diffusion-DICE's (LayerNorm after each hidden layer, AdamW with decay 1e-4).
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Divergence from "../../src/domain/Divergence.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Model from "../../src/nn/Model.ts"
import * as Critic from "../../src/rl/Critic.ts"

const B = CpuBackend.make()
const STATES = 5
const GOAL = 4
const gamma = 0.8
const TOLERANCE = 0.01
const ALPHAS = [0.1, 0.5, 2]

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

/** V solving mean_a w*((q_a − V)/α) = 1 (bisection; the left side decreases in V). */
const diceValue = (alpha: number, qs: ReadonlyArray<number>): number => {
  const h = (v: number) => qs.reduce((acc, q) => acc + Divergence.ratio((q - v) / alpha), 0) / qs.length - 1
  let [lo, hi] = [Math.min(...qs) - 100 * alpha, Math.max(...qs) + 100 * alpha]
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2
    if (h(mid) > 0) lo = mid
    else hi = mid
  }
  return (lo + hi) / 2
}

/** The fixed point of the DICE equations above, by iteration on the host (f64). */
const fixedPoint = (alpha: number) => {
  const q = Array.from({ length: GOAL }, () => [0, 0])
  for (let iteration = 0; iteration < 500; iteration++) {
    const v = q.map((qs) => diceValue(alpha, qs))
    for (let s = 0; s < GOAL; s++) {
      ;[-1, 1].forEach((a, j) => {
        const { next, reward, terminal } = step(s, a)
        q[s][j] = reward + (terminal ? 0 : gamma * v[next])
      })
    }
  }
  return { q, v: q.map((qs) => diceValue(alpha, qs)) }
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

describe("DICE critic on a chain MDP", () => {
  it("the fixed points of the α tested are far apart (> 5× the tolerance in V somewhere)", () => {
    const points = ALPHAS.map(fixedPoint)
    for (let i = 1; i < points.length; i++) {
      const gap = Math.max(...points[i].v.map((v, s) => Math.abs(v - points[i - 1].v[s])))
      expect(gap).toBeGreaterThan(5 * TOLERANCE)
    }
  })

  // "input": V with IQL's input LayerNorm and Adam; "reference": Diffusion-DICE's V (LayerNorm after each hidden layer)
  // and AdamW with weight decay 1e-4 on Q, V and the ensemble.
  const FORMS = {
    input: {},
    reference: { valueLayerNorm: "hidden", weightDecay: 1e-4 }
  } as const
  it.each(ALPHAS.flatMap((alpha) => (["input", "reference"] as const).map((form) => [alpha, form] as const)))(
    "converges to the exact DICE fixed point (α = %s, %s V and optimiser), ensemble included", async (alpha, form) => {
    const base = { hidden: 16, discount: gamma, valueLoss: "dice", tau: 0.7, linexBeta: 1, diceAlpha: alpha, ensemble: 3, polyak: 0.1, ...FORMS[form] } as const
    const created = Critic.create(B, new Critic.CriticConfig({ ...base, lr: SCHEDULE[0][1], batch: SCHEDULE[0][2] }), STATES, 1, Rng.named(1, "critic"))
    expect(Critic.lossNames(created.config)).toEqual(["v_loss", "q_loss", "ensemble_loss"])
    const data = dataset()
    let i = 0
    for (const [steps, lr, batch] of SCHEDULE) {
      const critic = { ...created, config: new Critic.CriticConfig({ ...base, lr, batch }) }
      for (let end = i + steps; i < end; i++) B.dispose(Critic.updateStep(B, critic, data, Rng.named(2, "batch"), i))
    }
    const qp = Model.bind(B, created.q, created.q.ema ?? created.q.params)
    const q = await B.read(Critic.minQ(qp.tape, Critic.qValues(qp, created.config, qp.tape.leaf(data.observations), qp.tape.leaf(data.actions))).value)
    const adv = await B.read(Critic.advantages(B, created, data.observations, data.actions)[0])
    const ep = Model.bind(B, created.ensemble!, created.ensemble!.params)
    const members = await B.read(Critic.ensembleValues(ep, created.config, ep.tape.leaf(data.observations), ep.tape.leaf(data.actions)).value)
    const expected = fixedPoint(alpha)
    for (let s = 0; s < GOAL; s++) {
      ;[0, 1].forEach((j) => {
        const row = 2 * s + j
        const label = `s = ${s}, a = ${j === 0 ? -1 : 1}`
        expect(Math.abs(q[row] - expected.q[s][j]), `Q(${label}) = ${q[row]}, exact ${expected.q[s][j]}`).toBeLessThanOrEqual(TOLERANCE)
        const v = q[row] - adv[row]
        expect(Math.abs(v - expected.v[s]), `V(${s}) = ${v}, exact ${expected.v[s]}`).toBeLessThanOrEqual(TOLERANCE)
        const mean = (members[3 * row] + members[3 * row + 1] + members[3 * row + 2]) / 3
        expect(Math.abs(mean - expected.q[s][j]), `ensemble mean Q(${label}) = ${mean}`).toBeLessThanOrEqual(TOLERANCE)
      })
    }
    // the ratios at the fixed point average 1 per state
    const w = Critic.diceRatios(created.config, adv)
    for (let s = 0; s < GOAL; s++) expect((w[2 * s] + w[2 * s + 1]) / 2).toBeCloseTo(1, 1)
  }, 180_000)

  it("the default stays IQL's expectile loss with no ensemble, and a config without the DICE keys encodes as before", async () => {
    const { Schema } = await import("effect")
    const c = Schema.decodeSync(Critic.CriticConfig)({})
    expect(c.valueLoss).toBe("expectile")
    expect(Critic.diceAlpha(c)).toBe(0.5)
    expect(Critic.ensembleSize(c)).toBe(0)
    expect(Object.keys(Schema.encodeSync(Critic.CriticConfig)(c))).not.toContain("diceAlpha")
    const critic = Critic.create(B, c, 3, 2, Rng.named(0, "critic"))
    expect(Object.keys(Critic.models(critic))).toEqual(["q", "v"])
    expect(Critic.lossNames(c)).toEqual(["v_loss", "q_loss"])
  })
})
