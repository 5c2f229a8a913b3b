/**
 * The critic's DICE value loss (Diffusion-DICE: V minimises mean[f*((Q − V)/α) + V/α] with the soft-χ²
 * conjugate, Q backed up from the current V) on the chain MDP of test/fixtures/ChainMdp.ts: states 0..4 (one-hot),
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
import { fixedPointQ, GAMMA, GOAL, trainCritic } from "../fixtures/ChainMdp.ts"

const B = CpuBackend.make()
const TOLERANCE = 0.01
const ALPHAS = [0.1, 0.5, 2]

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
  const q = fixedPointQ((qs) => diceValue(alpha, qs))
  return { q, v: q.map((qs) => diceValue(alpha, qs)) }
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
    const base = { hidden: 16, discount: GAMMA, valueLoss: "dice", tau: 0.7, linexBeta: 1, diceAlpha: alpha, ensemble: 3, polyak: 0.1, ...FORMS[form] } as const
    const { critic: created, data, q, advantages: adv } = await trainCritic(B, base)
    expect(Critic.lossNames(created.config)).toEqual(["v_loss", "q_loss", "ensemble_loss"])
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
