/**
 * Synthetic experience (CPU backend):
 *   - decoding on the device equals Trajectories.decode on the host (to f32 rounding), done flags on either side
 *     of 0.5 included (the mask is 1 − done), and the reward scale multiplies the rewards only;
 *   - stackRows is an exact concatenation;
 *   - generation with λ = 0 equals unguided generation bit for bit, and λ > 0 moves the actions;
 *   - mixed batches of real and generated transitions hold round(share·rows) generated rows, each a row of the
 *     generated set, with its five fields from one transition;
 *   - the generation schedule: generation ⌊step/period⌋, guided only for PGD after generation 0;
 *   - OfflineData.rewardScale is the factor `prepare` scales locomotion rewards by.
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type { Tensor } from "../../src/domain/TensorBackend.ts"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import * as Trajectories from "../../src/data/Trajectories.ts"
import * as PolicyGuidance from "../../src/diffusion/PolicyGuidance.ts"
import * as TrajectoryModel from "../../src/diffusion/TrajectoryModel.ts"
import type * as Critic from "../../src/rl/Critic.ts"
import * as MixedBatches from "../../src/rl/MixedBatches.ts"
import * as OfflineData from "../../src/rl/OfflineData.ts"
import * as SyntheticExperience from "../../src/rl/SyntheticExperience.ts"
import { valuesOf } from "../fixtures/FiniteDifference.ts"

const B = CpuBackend.make()
const host = (t: Tensor) => Array.from(valuesOf(t))

// Channels [s0, s1, ã0, r, d].
const channels: Trajectories.Channels = { observationDim: 2, actionDim: 1 }
const normalisation: Trajectories.Normalisation = {
  mean: Float64Array.from([0.5, -1, 0.1, 0.3, 0.25]),
  std: Float64Array.from([2, 0.5, 0.7, 1.5, 0.5])
}
const [length, count] = [4, 3]
const frame: PolicyGuidance.TrajectoryFrame = { channels, normalisation, length }

describe("SyntheticExperience.decodeOnDevice", () => {
  it("equals the host decoding: states, tanh actions, scaled rewards, masks 1 − 1[d > 0.5], next states", () => {
    const x = Float32Array.from(valuesOf(B.normal(length * count, 5, Rng.named(1, "x"))))
    // Done entries that unnormalise to just below, at and just above 0.5, and far from it.
    const doneAt = (row: number, raw: number) => {
      x[row * 5 + 4] = Math.fround((raw - 0.25) / 0.5)
    }
    doneAt(0, 0.5)
    doneAt(1, 0.50001)
    doneAt(2, 0.49999)
    doneAt(4, 3)
    doneAt(5, -2)
    const decoded = SyntheticExperience.decodeOnDevice(B, B.upload(x, length * count, 5), frame, 2.5)
    const expected = Trajectories.decode(x, count, length, channels, normalisation)
    expect(decoded.observations.rows).toBe(count * (length - 1))
    const close = (a: ReadonlyArray<number>, b: ArrayLike<number>) => {
      expect(a.length).toBe(b.length)
      a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(b[i]))))
    }
    close(host(decoded.observations), expected.observations)
    close(host(decoded.nextObservations), expected.nextObservations)
    close(host(decoded.actions), expected.actions)
    close(host(decoded.rewards), Array.from(expected.rewards, (r) => r * 2.5))
    expect(host(decoded.masks)).toEqual(Array.from(expected.terminals, (d) => 1 - d))
    expect(Array.from(expected.terminals.subarray(0, 3))).toEqual([0, 1, 0])
    expect([expected.terminals[3], expected.terminals[4]]).toEqual([1, 0]) // x rows 4 and 5: window 1, steps 0 and 1
  })
})

describe("SyntheticExperience.stackRows", () => {
  it("concatenates rows exactly", () => {
    const parts = [2, 3, 1].map((rows, i) => B.normal(rows, 4, Rng.named(i, "part")))
    expect(host(SyntheticExperience.stackRows(B, parts))).toEqual(parts.flatMap(host))
  })
})

describe("SyntheticExperience.generate", () => {
  const modelConfig = TrajectoryModel.trajectoryModelConfig({ width: 8, depth: 2, groups: 4, steps: 10, edm: { steps: 6 } })
  const model = TrajectoryModel.create(B, modelConfig, Trajectories.channelCount(channels), Rng.named(0, "model"))
  // A target whose mean action depends on the state: μ(s) = tanh(s0 − s1).
  const target = PolicyGuidance.gaussianAroundActor((tape, states) =>
    tape.unary("tanh", tape.sub(tape.sliceCols(states, 0, 1), tape.sliceCols(states, 1, 1))))
  const options = (coefficient?: number): SyntheticExperience.GenerateOptions => ({
    model, modelConfig, frame, trajectories: 5, sampleBatch: 2, key: Rng.named(3, "generation"),
    ...(coefficient === undefined ? {} : { guidance: { target, config: PolicyGuidance.policyGuidanceConfig({ coefficient }) } })
  })

  it("with λ = 0 equals unguided generation bit for bit; λ > 0 moves the actions", () => {
    const unguided = SyntheticExperience.generate(B, options())
    const zero = SyntheticExperience.generate(B, options(0))
    const guided = SyntheticExperience.generate(B, options(1))
    for (const f of ["observations", "actions", "rewards", "masks", "nextObservations"] as const) {
      expect(host(zero[f]), f).toEqual(host(unguided[f]))
    }
    expect(unguided.observations.rows).toBe(5 * (length - 1))
    expect(host(guided.actions)).not.toEqual(host(unguided.actions))
  })

  it("samples in batches of sampleBatch trajectories, batch j from its own stream", () => {
    const all = host(SyntheticExperience.sampleTrajectories(B, options()))
    const second = host(TrajectoryModel.sample(B, model, modelConfig, {
      count: 2, length, channels: 5, key: Rng.split(Rng.named(3, "generation"), "batch-1")
    }))
    expect(all.length).toBe(5 * length * 5)
    expect(all.slice(2 * length * 5, 4 * length * 5)).toEqual(second)
  })

  it("mixed batches hold round(share·rows) generated transitions, each one of the generated set", () => {
    const generated = SyntheticExperience.generate(B, options())
    // Real rows marked by observations ≥ 1000 (no generated state comes near).
    const n = 50
    const mark = (cols: number) => B.upload(Float32Array.from({ length: n * cols }, (_, i) => 1000 + Math.floor(i / cols)), n, cols)
    const real: Critic.DeviceTransitions = { observations: mark(2), actions: mark(1), rewards: mark(1), masks: mark(1), nextObservations: mark(2) }
    const rows = 16
    const batch = MixedBatches.sample(B, real, rows, Rng.named(0, "batch"), 7, { data: generated, share: 0.3 })
    const k = Math.round(0.3 * rows)
    const generatedRows = new Map<string, string>()
    const g = { o: host(generated.observations), a: host(generated.actions), r: host(generated.rewards), s2: host(generated.nextObservations) }
    for (let j = 0; j < generated.observations.rows; j++) {
      generatedRows.set(`${g.o[2 * j]},${g.o[2 * j + 1]}`, `${g.a[j]},${g.r[j]},${g.s2[2 * j]},${g.s2[2 * j + 1]}`)
    }
    const b = { o: host(batch.observations), a: host(batch.actions), r: host(batch.rewards), s2: host(batch.nextObservations) }
    expect(batch.observations.rows).toBe(rows)
    for (let r = 0; r < rows; r++) {
      const key = `${b.o[2 * r]},${b.o[2 * r + 1]}`
      if (r < rows - k) {
        expect(b.o[2 * r], `row ${r} real`).toBeGreaterThanOrEqual(1000)
      } else {
        expect(generatedRows.get(key), `row ${r} generated`).toBe(`${b.a[r]},${b.r[r]},${b.s2[2 * r]},${b.s2[2 * r + 1]}`)
      }
    }
  })
})

describe("SyntheticExperience schedule", () => {
  it("generation ⌊step/period⌋; PGD guided after generation 0, unguided never", () => {
    expect([0, 6, 7, 13, 14].map((s) => SyntheticExperience.generationOf(s, 7))).toEqual([0, 0, 1, 1, 2])
    expect(SyntheticExperience.isGuided("pgd", 0)).toBe(false)
    expect(SyntheticExperience.isGuided("pgd", 1)).toBe(true)
    expect(SyntheticExperience.isGuided("unguided", 3)).toBe(false)
    expect(SyntheticExperience.methodOf("iql", "pgd")).toBe("iql-pgd")
  })
})

describe("OfflineData.rewardScale", () => {
  it("is the factor prepare scales locomotion rewards by, and 1 otherwise", () => {
    const n = 40
    const ds = OfflineDataset.make({
      observations: Float32Array.from({ length: n }, (_, i) => i), actions: new Float32Array(n),
      rewards: Float32Array.from({ length: n }, (_, i) => (i % 10) * 0.5 + (i >= 20 ? 1 : 0)),
      terminals: new Uint8Array(n), timeouts: Uint8Array.from({ length: n }, (_, i) => (i % 10 === 9 ? 1 : 0)),
      observationDim: 1, actionDim: 1
    })
    const transitions = OfflineDataset.qlearningTransitions(ds)
    const scale = OfflineData.rewardScale(ds, "locomotion")
    const { min, max } = OfflineDataset.returnRange(transitions)
    expect(scale).toBeCloseTo(1000 / (max - min), 12)
    const scaled = OfflineDataset.iqlRewardScaling(transitions)
    scaled.rewards.forEach((r, i) => expect(r).toBe(Math.fround(transitions.rewards[i] * scale)))
    expect(OfflineData.rewardScale(ds, "none")).toBe(1)
  })
})
