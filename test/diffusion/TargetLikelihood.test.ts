/**
 * The target policy's log-likelihood of transitions (the PGD λ measurement): against Gaussian log densities computed
 * by hand (unit σ as PGD's TD3+BC target, σ = 0.5 as a Gaussian actor), against the trained agents' own mean actions
 * (TD3+BC's μ(s) with its observation normaliser, IQL's tanh-mean with its log std clipped at −5), and the summaries
 * over trajectories (per-trajectory means, standard error, paired difference) on small hand-worked sets.
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type { Tensor } from "../../src/domain/TensorBackend.ts"
import * as PolicyGuidance from "../../src/diffusion/PolicyGuidance.ts"
import * as TargetLikelihood from "../../src/diffusion/TargetLikelihood.ts"
import * as OfflinePgd from "../../src/programs/OfflinePgd.ts"
import * as IqlActor from "../../src/rl/IqlActor.ts"
import * as Td3Bc from "../../src/rl/Td3Bc.ts"
import { valuesOf } from "../fixtures/FiniteDifference.ts"

const B = CpuBackend.make({ precision: "f64" })
const device = { ops: B, read: (t: Tensor) => Effect.promise(() => B.read(t)) }
// Inputs go up as float32 (0.2 is not exact there), hence 6 digits against the hand values below.
const upload = (rows: ReadonlyArray<ReadonlyArray<number>>) => B.upload(Float32Array.from(rows.flat()), rows.length, rows[0].length)

// Two states [s0, s1], actions of two dims; μ(s) = 0.5·s.
const states = [[0.2, 0.6], [-1, 0]]
const actions = [[0.5, -0.2], [-0.5, 0]]
const halfOfState = (tape: Parameters<PolicyGuidance.TargetPolicy["logProb"]>[0], s: Parameters<PolicyGuidance.TargetPolicy["logProb"]>[1]) =>
  tape.affine(s, 0.5)

describe("TargetLikelihood.logLikelihoods", () => {
  it("unit Gaussian around μ(s) (PGD's TD3+BC target): −½‖a − μ‖² − log 2π for two action dims", () => {
    const target = PolicyGuidance.gaussianAroundActor(halfOfState)
    const out = valuesOf(TargetLikelihood.logLikelihoods(B, target, upload(states), upload(actions)))
    // Row 0: a − μ = (0.4, −0.5), ½·0.41 = 0.205, log 2π = 1.8378770664. Row 1: a = μ.
    expect(out[0]).toBeCloseTo(-2.0428770664, 6)
    expect(out[1]).toBeCloseTo(-1.8378770664, 6)
  })

  it("Gaussian actor with σ = 0.5: −½‖(a − μ)/σ‖² − Σ log σ − log 2π", () => {
    const target = PolicyGuidance.gaussianActor((tape, s) => ({
      mean: halfOfState(tape, s), logStd: tape.leaf(B.fill(1, 2, Math.log(0.5)))
    }))
    const out = valuesOf(TargetLikelihood.logLikelihoods(B, target, upload(states), upload(actions)))
    // Row 0: z = (0.8, −1), ½·1.64 = 0.82; −2·log 0.5 = +1.3862943611. Row 1: z = 0.
    expect(out[0]).toBeCloseTo(-0.82 - 1.8378770664 + 1.3862943611, 6)
    expect(out[1]).toBeCloseTo(-1.8378770664 + 1.3862943611, 6)
  })

  it("TD3+BC's target is N(μ(s), I) with μ the agent's own actions (observation normaliser applied)", async () => {
    const normaliser = { shift: Float32Array.from([0.3, -0.2, 1]), scale: Float32Array.from([2, 0.5, 1.5]) }
    const agent = Td3Bc.create(B, Schema.decodeSync(Td3Bc.Td3BcConfig)({ hidden: 8 }), 3, 2, Rng.named(3, "td3bc-target"), normaliser)
    const s = [[0.1, 0.4, -0.3], [1.2, -0.7, 0.5], [-0.4, 0.2, 0.9]]
    const a = [[0.3, -0.6], [-0.9, 0.1], [0.05, 0.7]]
    const mu = await Effect.runPromise(Td3Bc.act(device, agent, Float64Array.from(s.flat())))
    const out = valuesOf(TargetLikelihood.logLikelihoods(B, OfflinePgd.td3bcTarget(agent, agent.actor), upload(s), upload(a)))
    for (let i = 0; i < 3; i++) {
      const sq = (a[i][0] - mu[2 * i]) ** 2 + (a[i][1] - mu[2 * i + 1]) ** 2
      expect(out[i]).toBeCloseTo(-0.5 * sq - Math.log(2 * Math.PI), 6)
    }
  })

  it("IQL's target is N(tanh-mean(s), exp(clip(logStd, −5, 2))²) with the actor's own mean", async () => {
    const actor = IqlActor.create(B, Schema.decodeSync(IqlActor.IqlActorConfig)({ hidden: 8 }), 3, 3, Rng.named(4, "iql-target"))
    const at = actor.model.layout.specs.findIndex((spec) => spec.name === "pi.logStd")
    const params = Float32Array.from(await B.read(actor.model.params))
    const logStd = [-0.7, 0.3, -6]
    params.set(logStd, actor.model.layout.offsets[at])
    B.write(actor.model.params, params)
    const s = [[0.1, 0.4, -0.3], [1.2, -0.7, 0.5]]
    const a = [[0.3, -0.6, 0.2], [-0.9, 0.1, 0.4]]
    const mean = await Effect.runPromise(IqlActor.act(device, actor, Float64Array.from(s.flat())))
    const out = valuesOf(TargetLikelihood.logLikelihoods(B, OfflinePgd.iqlTarget(actor, actor.model.params), upload(s), upload(a)))
    const clipped = [-0.7, 0.3, -5]
    for (let i = 0; i < 2; i++) {
      let expected = -1.5 * Math.log(2 * Math.PI)
      for (let k = 0; k < 3; k++) expected += -0.5 * ((a[i][k] - mean[3 * i + k]) / Math.exp(clipped[k])) ** 2 - clipped[k]
      // σ = e^−5 magnifies the float32 rounding of the inputs: a relative tolerance.
      expect(Math.abs(out[i] - expected)).toBeLessThan(1e-6 * Math.abs(expected))
    }
  })
})

describe("TargetLikelihood summaries over trajectories", () => {
  // Three trajectories of two positions: per-trajectory means 2, 2, 5.
  const values = [1, 3, 2, 2, 6, 4]

  it("mean of the per-trajectory means, standard error with n − 1", () => {
    const e = TargetLikelihood.summarise(values, 3)
    expect(e.count).toBe(3)
    expect(e.mean).toBeCloseTo(3, 12)
    // deviations −1, −1, 2: variance 6/2 = 3, s.e. √(3/3) = 1.
    expect(e.standardError).toBeCloseTo(1, 12)
  })

  it("paired difference trajectory by trajectory; the mean at each position", () => {
    // Baseline means 0, 1, 2: differences 2, 1, 3, mean 2, variance 1, s.e. √(1/3).
    const d = TargetLikelihood.pairedDifference(values, [0, 0, 1, 1, 2, 2], 3)
    expect(d.mean).toBeCloseTo(2, 12)
    expect(d.standardError).toBeCloseTo(Math.sqrt(1 / 3), 12)
    expect(Array.from(TargetLikelihood.byPosition(values, 3))).toEqual([3, 3])
    expect(() => TargetLikelihood.pairedDifference(values, [0, 0], 3)).toThrow(RangeError)
    expect(() => TargetLikelihood.summarise(values, 4)).toThrow(RangeError)
    expect(() => TargetLikelihood.byPosition(values, 4)).toThrow(RangeError)
  })
})
