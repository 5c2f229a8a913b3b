/**
 * The SWG agent against the reference (CPU backend):
 *   - the clip of ŵ₀ before the log: with a network whose weight head is pinned so that ŵ₀ lies off
 *     the data's weight range [0.3, 0.7], the reference clip [1e-4, 1] guides with exactly the
 *     analytic −ρ·σ_t·∂ log ŵ₀/∂z_t, the data-range option not at all;
 *   - the iterate's clip bounds under each option;
 *   - SWG-R's score is the unclipped ŵ₀ of the last step, and ties are broken at random;
 *   - one τ: the critic's and the weight function's must agree (typed error naming both);
 *   - `act` is an effect whose failed read is a typed failure, not a defect.
 */
import { it } from "@effect/vitest"
import { Data, Effect, Schema } from "effect"
import { describe, expect } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as SamplerSteps from "../../src/domain/SamplerSteps.ts"
import type { Tensor } from "../../src/domain/TensorBackend.ts"
import * as WeightFunction from "../../src/domain/WeightFunction.ts"
import * as SwgPolicy from "../../src/diffusion/SwgPolicy.ts"
import * as Critic from "../../src/rl/Critic.ts"
import type { Device } from "../../src/rl/Device.ts"
import * as IqlActor from "../../src/rl/IqlActor.ts"
import * as SwgAgent from "../../src/rl/SwgAgent.ts"
import * as Offline from "../../src/programs/Offline.ts"

const B = CpuBackend.make()
const S = 3
const A = 2
/** The data's weight range with hard expectile weights, τ = 0.7. */
const DATA_RANGE = [0.3, 0.7] as const

const device: Device<never> = { ops: B, read: (t) => Effect.promise(() => B.read(t)) }

const agentWith = (weightClip: "reference" | "data-range", diffusionSteps = 5) =>
  SwgAgent.create(
    B,
    new SwgAgent.SwgAgentConfig({ ...Schema.decodeSync(SwgAgent.SwgAgentConfig)({}), hidden: 16, blocks: 2, diffusionSteps, weightClip }),
    S, A, DATA_RANGE, Rng.named(1, "swg-init")
  )

/**
 * Pins the weight head's last layer to ε^w ≡ c (zero weights, bias c) in the parameters and the
 * EMA copy: then ŵ₀ = (w_t − σ_t·c)/α_t exactly, and ∂ log ŵ₀/∂z_t = (0, …, 0, 1/(α_t·ŵ₀)).
 */
const pinWeightHead = async (agent: SwgAgent.SwgAgent, c: number) => {
  const layout = agent.model.layout
  for (const flat of [agent.model.params, agent.model.ema!]) {
    const values = await B.read(flat)
    layout.specs.forEach((spec, i) => {
      if (spec.name === "body.weightHead1.w") values.fill(0, layout.offsets[i], layout.offsets[i] + spec.rows * spec.cols)
      if (spec.name === "body.weightHead1.b") values.fill(c, layout.offsets[i], layout.offsets[i] + 1)
    })
    B.write(flat, values)
  }
}

describe("the clip of ŵ₀ (issue: guidance switched off off the data range)", () => {
  const rho = 10
  const c = 0.5
  /** ŵ₀ targets: three off the data range (in (1e-4, 1)), one inside it. */
  const targets = [0.05, 0.2, 0.9, 0.5]

  const guidedMinusUnguided = async (weightClip: "reference" | "data-range") => {
    const agent = agentWith(weightClip)
    await pinWeightHead(agent, c)
    const grid = SamplerSteps.discreteGrid(agent.schedule)
    const point = grid[2]
    const rows = targets.length
    // z_t = (a, w_t) with w_t = α·ŵ₀ + σ·c, so that the pinned network predicts ŵ₀ = target.
    const z = Float32Array.from(targets.flatMap((w0, r) => [0.3 * r - 0.4, 0.1 - 0.2 * r, point.alpha * w0 + point.sigma * c]))
    const condition = B.upload(Float32Array.from({ length: rows * S }, (_, i) => Math.sin(i)), rows, S)
    const eps = async (scale: number) => {
      const options = SwgAgent.samplingOptions(B, agent, condition, scale, 0, Rng.named(2, "unused"))
      return B.read(SwgPolicy.denoiser(options)(B.upload(z, rows, A + 1), point))
    }
    const [guided, plain] = [await eps(rho), await eps(0)]
    return { diff: guided.map((g, i) => g - plain[i]), point }
  }

  it("reference [1e-4, 1]: guidance is −ρ·σ/(α·ŵ₀) on the weight, 0 on the actions, for every ŵ₀ in (1e-4, 1)", async () => {
    const { diff, point } = await guidedMinusUnguided("reference")
    targets.forEach((w0, r) => {
      const expected = (-rho * point.sigma) / (point.alpha * w0)
      expect(Math.abs(diff[r * (A + 1) + A] - expected)).toBeLessThan(1e-3 * Math.abs(expected))
      for (let d = 0; d < A; d++) expect(diff[r * (A + 1) + d]).toBe(0)
    })
  })

  it("data-range option: guidance is exactly zero where ŵ₀ is off [0.3, 0.7], and unchanged inside it", async () => {
    const { diff, point } = await guidedMinusUnguided("data-range")
    targets.forEach((w0, r) => {
      const inside = w0 >= DATA_RANGE[0] && w0 <= DATA_RANGE[1]
      const expected = inside ? (-rho * point.sigma) / (point.alpha * w0) : 0
      expect(Math.abs(diff[r * (A + 1) + A] - expected)).toBeLessThanOrEqual(1e-3 * Math.abs(expected))
    })
  })

  it("the iterate's weight is clipped to [1e-4, 1] (reference) or the data's range (option); actions to [−1, 1]", async () => {
    for (const [option, lo, hi] of [["reference", 1e-4, 1], ["data-range", 0.3, 0.7]] as const) {
      const clip = SwgAgent.iterateClip(B, agentWith(option))
      expect(Array.from(await B.read(clip.lo))).toEqual([-1, -1, Math.fround(lo)])
      expect(Array.from(await B.read(clip.hi))).toEqual([1, 1, Math.fround(hi)])
    }
  })

  it("the reference upper clip is 1 for weights in (0, 1] and the weight function's maximum above that", () => {
    expect(SwgAgent.referenceClip(WeightFunction.expectile(0.9))).toEqual([1e-4, 1])
    expect(SwgAgent.referenceClip(WeightFunction.smoothExpectile(0.7, 3))).toEqual([1e-4, 1])
    expect(SwgAgent.referenceClip(WeightFunction.expAdvantage(3, 0.001, 80))).toEqual([1e-4, 80])
    const [, linexHi] = SwgAgent.referenceClip(new WeightFunction.Linex({ beta: 1 }))
    expect(Number.isFinite(linexHi) && linexHi > 1e38).toBe(true)
  })

  it("the reference clip and the smooth expectile are the defaults; the data-range clip and the hard expectile are selectable in the config", () => {
    expect(Schema.decodeSync(SwgAgent.SwgAgentConfig)({}).weightClip).toBe("reference")
    expect(Schema.decodeSync(SwgAgent.SwgAgentConfig)({}).weightFunction).toEqual(WeightFunction.smoothExpectile(0.7, 3))
    const c = Schema.decodeUnknownSync(Offline.OfflineConfig)({
      task: "t", dataset: "d", runDir: "r",
      swg: { weightFunction: { _tag: "Expectile", tau: 0.7 }, weightClip: "data-range" },
      evaluation: { swgRRule: "categorical" }
    })
    expect(c.swg.weightFunction).toEqual(WeightFunction.expectile(0.7))
    expect(c.swg.weightClip).toBe("data-range")
    expect(c.evaluation.swgRRule).toBe("categorical")
    expect(Schema.decodeUnknownSync(Offline.OfflineConfig)({ task: "t", dataset: "d", runDir: "r" }).evaluation.swgRRule).toBe("greedy")
  })
})

describe("SWG-R: ranking by ŵ₀ and ties", () => {
  it("sampleWithWeight returns the unclipped ŵ₀ of the last step, while z₀'s weight is clipped", async () => {
    // One step from z_T = 0 (temperature 0): ŵ₀ = (0 − σ·c)/α < 0, far below the clip's 1e-4.
    const agent = agentWith("reference", 1)
    const c = 0.8
    await pinWeightHead(agent, c)
    const [point] = SamplerSteps.discreteGrid(agent.schedule)
    const condition = B.upload(Float32Array.from([0.1, -0.2, 0.3, 0.5, 0.4, -0.6]), 2, S)
    const { z0, weight } = SwgPolicy.sampleWithWeight(SwgAgent.samplingOptions(B, agent, condition, 0, 0, Rng.named(3, "s")))
    const w = await B.read(weight)
    const z = await B.read(z0)
    for (let r = 0; r < 2; r++) {
      expect(w[r]).toBeCloseTo((-point.sigma * c) / point.alpha, 5)
      expect(z[r * (A + 1) + A]).toBeCloseTo(1e-4, 8)
    }
  })

  it("act(SwgR, greedy) returns the candidate with the largest ŵ₀", async () => {
    const agent = agentWith("reference")
    const observations = Float64Array.from([0.2, -0.1, 0.4])
    const n = 8
    const key = Rng.named(4, "swg-r")
    const actions = await Effect.runPromise(SwgAgent.act(device, agent, { _tag: "SwgR", guidanceScale: 3, temperature: 1, candidates: n, rule: "greedy" }, observations, key))
    // The same candidates, drawn with the same key and condition.
    const condition = B.upload(Float32Array.from({ length: n * S }, (_, i) => observations[i % S]), n, S)
    const { z0, weight } = SwgPolicy.sampleWithWeight(SwgAgent.samplingOptions(B, agent, condition, 3, 1, key))
    const w = await B.read(weight)
    const z = await B.read(z0)
    const best = w.indexOf(Math.max(...w))
    expect(w.filter((x) => x === w[best]).length).toBe(1)
    expect(Array.from(actions)).toEqual([z[best * (A + 1)], z[best * (A + 1) + 1]])
  })

  it("greedy: exact ties are broken uniformly at random (each tied candidate ≈ equally often, never always the first)", () => {
    const trials = 4000
    const count = (scores: Array<number>) => {
      const counts = scores.map(() => 0)
      for (let k = 0; k < trials; k++) counts[SwgAgent.pick(scores, 1, scores.length, "greedy", Rng.named(k, "pick"))[0]]++
      return counts
    }
    // Four tied: each ≈ 1000 (binomial s.d. ≈ 27; the bound is 5 s.d.).
    for (const c of count([0.7, 0.7, 0.7, 0.7])) expect(Math.abs(c - trials / 4)).toBeLessThan(140)
    // Two tied at the top: only those two, ≈ 2000 each.
    const partial = count([0.2, 0.7, 0.7, 0.1])
    expect(partial[0] + partial[3]).toBe(0)
    expect(Math.abs(partial[1] - trials / 2)).toBeLessThan(160)
    // A unique best is always taken.
    expect(count([0.1, 0.2, 0.9, 0.3])[2]).toBe(trials)
  })

  it("greedy over several rows picks within each row", () => {
    const rows = SwgAgent.pick([1, 1, 0, 5, 2, 2], 3, 2, "greedy", Rng.named(0, "rows"))
    expect(rows[0] === 0 || rows[0] === 1).toBe(true)
    expect(rows[1]).toBe(3)
    expect(rows[2] === 4 || rows[2] === 5).toBe(true)
  })

  it("categorical: ∝ max(score, 0), uniform when no score is positive", () => {
    const trials = 4000
    const counts = [0, 0, 0]
    for (let k = 0; k < trials; k++) counts[SwgAgent.pick([1, 3, -2], 1, 3, "categorical", Rng.named(k, "cat"))[0] % 3]++
    expect(counts[2]).toBe(0)
    expect(Math.abs(counts[1] / trials - 0.75)).toBeLessThan(0.035)
    const zero = [0, 0, 0]
    for (let k = 0; k < trials; k++) zero[SwgAgent.pick([0, -1, 0], 1, 3, "categorical", Rng.named(k, "zero"))[0]]++
    for (const c of zero) expect(Math.abs(c - trials / 3)).toBeLessThan(150)
  })
})

describe("train-swg's weight spread and its note", () => {
  it("augmentedData reports the spread of the weights it appends, and the note fires only for flat smooth weights", () => {
    const smooth = WeightFunction.smoothExpectile(0.7, 3)
    const flat = Float32Array.from({ length: 100 }, (_, i) => (i - 49.5) / 5000) // |A| ≤ 0.01: every weight near 1/2
    const { spread, z } = SwgAgent.augmentedData(smooth, new Float32Array(100), 1, flat)
    expect(spread.nearMidpoint).toBe(1)
    expect(spread.std).toBeCloseTo(WeightFunction.spread(smooth, Array.from({ length: 100 }, (_, i) => z[2 * i + 1])).std, 8) // z holds them in f32
    const note = Offline.flatWeightsNote(smooth, spread)
    expect(note).toContain("100 % of the weights")
    expect(note).toContain('"_tag": "Expectile", "tau": 0.7')
    // spread weights (|A| up to 1): 7 % near 1/2, no note; the hard expectile never gets one
    const wide = Float32Array.from({ length: 100 }, (_, i) => (i - 49.5) / 50)
    expect(Offline.flatWeightsNote(smooth, SwgAgent.augmentedData(smooth, new Float32Array(100), 1, wide).spread)).toBeUndefined()
    expect(Offline.flatWeightsNote(WeightFunction.expectile(0.7), { std: 0, nearMidpoint: 1, tolerance: 0.02 })).toBeUndefined()
  })
})

describe("one τ", () => {
  const critic = (tau: number, valueLoss: "expectile" | "quantile" | "linex" = "expectile") =>
    new Critic.CriticConfig({ ...Schema.decodeSync(Critic.CriticConfig)({}), tau, valueLoss })

  it.effect("a critic τ and a weight-function τ that differ fail with TauMismatch naming both", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Critic.checkWeightTau(critic(0.7), WeightFunction.expectile(0.9)))
      expect(error._tag).toBe("TauMismatch")
      expect(error.criticTau).toBe(0.7)
      expect(error.weightTau).toBe(0.9)
      expect(error.message).toContain("0.7")
      expect(error.message).toContain("0.9")
      const smooth = yield* Effect.flip(Critic.checkWeightTau(critic(0.9, "quantile"), WeightFunction.smoothExpectile(0.7)))
      expect(smooth.weightFunction).toBe("SmoothExpectile")
    }))

  it.effect("agreeing τ, weight functions without τ and the linex critic pass", () =>
    Effect.gen(function*() {
      yield* Critic.checkWeightTau(critic(0.7), WeightFunction.expectile(0.7))
      yield* Critic.checkWeightTau(critic(0.9), WeightFunction.expAdvantage())
      yield* Critic.checkWeightTau(critic(0.9, "linex"), WeightFunction.expectile(0.7))
    }))
})

class ReadFailed extends Data.TaggedError("ReadFailed")<{ readonly rows: number }> {}

describe("act is an effect with a typed read failure", () => {
  const failing: Device<ReadFailed> = { ops: B, read: (t: Tensor) => Effect.fail(new ReadFailed({ rows: t.rows })) }
  const observations = Float64Array.from([0.2, -0.1, 0.4, 0.3, 0.3, 0.1])

  it.effect("SwgAgent.act (every selector) and IqlActor.act fail with the device's error", () =>
    Effect.gen(function*() {
      const agent = agentWith("reference", 2)
      const criticConfig = new Critic.CriticConfig({ ...Schema.decodeSync(Critic.CriticConfig)({}), hidden: 8 })
      const criticModel = Critic.create(B, criticConfig, S, A, Rng.named(5, "critic"))
      const selectors: Array<SwgAgent.Selector> = [
        { _tag: "Swg", guidanceScale: 1, temperature: 0 },
        { _tag: "SwgR", guidanceScale: 1, temperature: 1, candidates: 2, rule: "greedy" },
        { _tag: "DiffusionBc", temperature: 1 },
        { _tag: "Idql", candidates: 2, temperature: 1, rule: "greedy", critic: criticModel, weightFunction: WeightFunction.expectile() }
      ]
      for (const selector of selectors) {
        // A defect would fail this test instead of reaching `flip`.
        const error = yield* Effect.flip(SwgAgent.act(failing, agent, selector, observations, Rng.named(6, "k")))
        expect(error).toBeInstanceOf(ReadFailed)
      }
      const actor = IqlActor.create(B, Schema.decodeSync(IqlActor.IqlActorConfig)({ hidden: 8 }), S, A, Rng.named(7, "actor"))
      const error = yield* Effect.flip(IqlActor.act(failing, actor, observations))
      expect(error).toEqual(new ReadFailed({ rows: 2 }))
      const ok = yield* IqlActor.act(device, actor, observations)
      expect(ok.length).toBe(2 * A)
    }))
})
