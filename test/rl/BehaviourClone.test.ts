/**
 * The floor every guided method starts from (issue #18): trained on a small dataset, the SWG model
 * sampled unguided (diffusion BC) reproduces the behaviour policy's actions at the data's states.
 *
 * The behaviour policy is known: at state s ∈ [−1, 1]², a = μ(s) + 0.15·ξ with μ(s) = 0.6·tanh(W s)
 * and ξ ~ N(0, I₂), so at every probe state exact behaviour samples can be drawn and compared with
 * the model's by sliced W2 (BehaviourFit.cloudGap). The bound is stated against two references on
 * the same cloud sizes: exact against exact (the metric's sampling noise) and the policy at another
 * state (μ moved by ≈ 0.3, what a model that misreads the state would do). A model that ignores the
 * state, or is half as spread, or shifted by a standard deviation, fails it. Measured here (3000 steps of a
 * 2×64 LN-ResNet, 40 s of CPU on the WASM backend): model 0.028, exact-vs-exact 0.023, misread state 0.148;
 * after 1500 steps the model scored 0.079 and failed.
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as Rng from "../../src/domain/Rng.ts"
import * as WeightFunction from "../../src/domain/WeightFunction.ts"
import * as DiffusionTraining from "../../src/diffusion/Training.ts"
import * as BehaviourFit from "../../src/rl/BehaviourFit.ts"
import type { Device } from "../../src/rl/Device.ts"
import * as SwgAgent from "../../src/rl/SwgAgent.ts"
import * as WasmBackend from "../../src/wasm/WasmBackend.ts"

const S = 2
const A = 2
const N = 8192
const NOISE = 0.15
const W = [[1.5, 1], [-1, 1.5]]

const mu = (s0: number, s1: number): [number, number] => [0.6 * Math.tanh(W[0][0] * s0 + W[0][1] * s1), 0.6 * Math.tanh(W[1][0] * s0 + W[1][1] * s1)]

const normals = (n: number, key: Rng.RngKey): Float64Array => {
  const u = new Float64Array(2 * n)
  Rng.fillUniform(key, u)
  return Float64Array.from({ length: n }, (_, i) => Math.sqrt(-2 * Math.log(1 - u[2 * i])) * Math.cos(2 * Math.PI * u[2 * i + 1]))
}

/** `n` behaviour actions at state s ([n, A] flat). */
const behaviour = (s: readonly [number, number], n: number, key: Rng.RngKey, shift = 0, spread = NOISE): Float64Array => {
  const m = mu(s[0], s[1])
  const xi = normals(n * A, key)
  return Float64Array.from(xi, (x, j) => m[j % A] + shift + spread * x)
}

describe("diffusion BC reproduces the behaviour policy (issue #18 guard)", () => {
  it("at 8 probe states, unguided samples are within 2× the exact-vs-exact sliced W2, and far from a misread state", async () => {
    const B = WasmBackend.make({ threads: 1 })
    const device: Device<never> = { ops: B, read: (t) => Effect.promise(() => B.read(t)) }
    // The dataset: states uniform on [−1, 1]², behaviour actions; weights from random advantages (independent of
    // the action, so unguided sampling must ignore them).
    const u = new Float64Array(N * S)
    Rng.fillUniform(Rng.named(0, "states"), u)
    const states = Float32Array.from(u, (x) => 2 * x - 1)
    const actions = new Float32Array(N * A)
    const xi = normals(N * A, Rng.named(0, "actions"))
    for (let i = 0; i < N; i++) {
      const m = mu(states[i * S], states[i * S + 1])
      for (let d = 0; d < A; d++) actions[i * A + d] = m[d] + NOISE * xi[i * A + d]
    }
    const advantages = Float32Array.from(normals(N, Rng.named(0, "advantages")))
    const f = WeightFunction.expectile(0.7)
    const { z, range } = SwgAgent.augmentedData(f, actions, A, advantages)
    const config = new SwgAgent.SwgAgentConfig({
      ...Schema.decodeSync(SwgAgent.SwgAgentConfig)({}),
      hidden: 64, blocks: 2, batch: 256, steps: 3000, lrDecaySteps: 6000, lr: 1e-3, dropout: 0, weightFunction: f
    })
    const agent = SwgAgent.create(B, config, S, A, range, Rng.named(0, "swg-init"))
    const data: DiffusionTraining.DiffusionData = { z0: B.upload(z, N, A + 1), condition: B.upload(states, N, S) }
    const tables = DiffusionTraining.noiseTables(B, agent.schedule)
    for (let i = 0; i < config.steps; i++) B.dispose(SwgAgent.trainStep(B, agent, data, tables, Rng.named(0, "swg"), i))

    const probes: Array<[number, number]> = [[0, 0], [0.5, 0.5], [-0.5, 0.5], [0.5, -0.5], [-0.5, -0.5], [0.8, 0], [0, -0.8], [-0.3, 0.7]]
    const n = 256
    const key = Rng.named(1, "fit")
    const gaps = { model: 0, exact: 0, misread: 0 }
    for (const [p, s] of probes.entries()) {
      const observations = new Float64Array(n * S)
      for (let i = 0; i < n; i++) observations.set(s, i * S)
      const sampled = await Effect.runPromise(
        SwgAgent.act(device, agent, { _tag: "DiffusionBc", temperature: 1 }, observations, Rng.at(Rng.named(2, "bc"), p)))
      const reference = behaviour(s, n, Rng.at(Rng.named(3, "reference"), p))
      const exact = behaviour(s, n, Rng.at(Rng.named(4, "exact"), p))
      // The policy at a state 0.25 away: what misreading the state costs.
      const misread = behaviour([s[0] + 0.25, s[1] - 0.25], n, Rng.at(Rng.named(4, "exact"), p))
      gaps.model += BehaviourFit.cloudGap(sampled, reference, A, 64, key).slicedW2 / probes.length
      gaps.exact += BehaviourFit.cloudGap(exact, reference, A, 64, key).slicedW2 / probes.length
      gaps.misread += BehaviourFit.cloudGap(misread, reference, A, 64, key).slicedW2 / probes.length
    }
    // The references must be apart for the bound to mean anything.
    expect(gaps.misread).toBeGreaterThan(3 * gaps.exact)
    expect(gaps.model).toBeLessThan(2 * gaps.exact)
    expect(gaps.model).toBeLessThan(0.5 * gaps.misread)
  }, 300_000)

  it("the bound rejects a state-blind, a narrow and a shifted policy (the check can fail)", () => {
    const key = Rng.named(1, "fit")
    const s: [number, number] = [0.5, 0.5]
    const n = 256
    const reference = behaviour(s, n, Rng.named(3, "reference"))
    const exact = BehaviourFit.cloudGap(behaviour(s, n, Rng.named(4, "exact")), reference, A, 64, key).slicedW2
    const blind = behaviour([0, 0], n, Rng.named(5, "blind"))
    const narrow = behaviour(s, n, Rng.named(5, "narrow"), 0, NOISE / 2)
    const shifted = behaviour(s, n, Rng.named(5, "shifted"), NOISE)
    for (const cloud of [blind, narrow, shifted]) expect(BehaviourFit.cloudGap(cloud, reference, A, 64, key).slicedW2).toBeGreaterThan(2 * exact)
  })
})
