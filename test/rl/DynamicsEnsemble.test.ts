/**
 * The dynamics ensemble (CPU backend) on a known linear system s′ = s + (0.5·a, −0.2·s₀): the standardisation against
 * moments computed by hand; after training, every member predicts s′ on fresh points to within a few hundredths;
 * rollouts under a known policy follow the exact rollout of the system, each step's action being the policy's.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type * as Critic from "../../src/rl/Critic.ts"
import * as DynamicsEnsemble from "../../src/rl/DynamicsEnsemble.ts"
import { valuesOf } from "../fixtures/FiniteDifference.ts"

const B = CpuBackend.make()
const device = { ops: B, read: (t: Parameters<typeof B.read>[0]) => Effect.promise(() => B.read(t)) }
const step = (s: ArrayLike<number>, a: number) => [s[0] + 0.5 * a, s[1] - 0.2 * s[0]]

/** n transitions: s ~ N(0, I), a ~ U(−1, 1). */
const transitions = (n: number, seed: number) => {
  const s = new Float64Array(2 * n)
  Rng.fillNormal(Rng.named(seed, "s"), s)
  const u = new Float64Array(n)
  Rng.fillUniform(Rng.named(seed, "a"), u)
  const a = u.map((x) => 2 * x - 1)
  const next = Float64Array.from({ length: 2 * n }, (_, i) => step(s.subarray(2 * Math.floor(i / 2)), a[Math.floor(i / 2)])[i % 2])
  return { s, a, next }
}

describe("DynamicsEnsemble", () => {
  it("standardisation: the moments of [s, a] and of Δs", () => {
    const st = DynamicsEnsemble.standardisationOf([0, 1, 2, 3], [1, 1], [1, 1, 2, 5], 2, 1)
    expect(Array.from(st.inputMean)).toEqual([1, 2, 1])
    expect(Array.from(st.inputStd)).toEqual([1, 1, 1]) // the zero std of a becomes 1
    expect(Array.from(st.outputMean)).toEqual([0.5, 1])
    expect(Array.from(st.outputStd)).toEqual([0.5, 1])
  })

  it("learns a linear system and rolls it out under a known policy", async () => {
    const data = transitions(2000, 1)
    const c = DynamicsEnsemble.dynamicsEnsembleConfig({ members: 3, hidden: 32, steps: 800, batch: 128, lr: 3e-3 })
    const e = DynamicsEnsemble.create(B, c, 2, 1, DynamicsEnsemble.standardisationOf(data.s, data.a, data.next, 2, 1), Rng.named(0, "init"))
    const up = (x: Float64Array, cols: number) => B.upload(Float32Array.from(x), x.length / cols, cols)
    const device2: Critic.DeviceTransitions = {
      observations: up(data.s, 2), actions: up(data.a, 1), rewards: B.zeros(2000, 1), masks: B.zeros(2000, 1), nextObservations: up(data.next, 2)
    }
    for (let i = 0; i < c.steps; i++) B.dispose(DynamicsEnsemble.trainStep(B, e, device2, Rng.named(0, "batch"), i))
    const test = transitions(200, 2)
    for (let m = 0; m < c.members; m++) {
      const predicted = valuesOf(DynamicsEnsemble.predict(B, e, m, up(test.s, 2), up(test.a, 1)))
      const worst = Math.max(...Array.from(predicted, (p, i) => Math.abs(p - test.next[i])))
      expect(worst, `member ${m}`).toBeLessThan(0.05)
    }
    // Rollouts of a = tanh(−0.5·s₁) from 4 states, 6 rows, against the exact ones.
    const policy = (s: Float64Array) => Effect.succeed(Float64Array.from({ length: s.length / 2 }, (_, j) => Math.tanh(-0.5 * s[2 * j + 1])))
    const starts = Float64Array.from([0.5, -0.5, 1, 0, -1, 1, 0, 0.3])
    const r = await Effect.runPromise(DynamicsEnsemble.rollout(device, e, starts, 6, policy, Rng.named(0, "members")))
    expect([r.count, r.length, r.observations.length, r.actions.length]).toEqual([4, 6, 48, 24])
    for (let j = 0; j < 4; j++) {
      let s = [starts[2 * j], starts[2 * j + 1]]
      for (let t = 0; t < 6; t++) {
        const row = j * 6 + t
        expect(Math.abs(r.observations[2 * row] - s[0]) + Math.abs(r.observations[2 * row + 1] - s[1]), `trajectory ${j} step ${t}`).toBeLessThan(0.1)
        expect(r.actions[row]).toBeCloseTo(Math.tanh(-0.5 * r.observations[2 * row + 1]), 6)
        s = step(s, Math.tanh(-0.5 * s[1]))
      }
    }
  }, 60_000)
})
