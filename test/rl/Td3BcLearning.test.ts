/**
 * TD3+BC learns a better-than-behaviour policy.
 *
 * 1. A continuous-action chain (test/fixtures/ChainMdp.ts; f64 CPU backend): states 0..4 (one-hot), a ∈ [−1, 1]; a > 0 moves right, a ≤ 0 left
 *    (floored at 0); reaching state 4 pays 1 and ends the episode; γ = 0.8. The data hold, at each of states 0..3,
 *    the actions ±(k + ½)/8, k = 0..7: a uniform behaviour whose conditional mean is exactly 0, so behaviour cloning
 *    alone gives π ≈ 0, which moves left. The behaviour's value is computed exactly here; the optimum is γ^(3 − s).
 *    TD3+BC (α = 2.5) must act right at every state (π > 0.04; measured 0.077, 0.115, 0.116, 0.109 after 3000
 *    steps), so it earns the optimum; with α = 1e-4 (BC alone) the actions stay within ±0.04 of 0 (measured
 *    −0.021, −0.018, −0.011, 0.005), mostly moving left: the critic term is what does it.
 * 2. Pendulum (the swing-up data of datagen/PendulumData, 30 % of actions uniform; WASM backend for speed): after
 *    6000 steps TD3+BC's mean return over 10 episodes beats the data's own mean return by more than 40 (measured:
 *    data −277.0; TD3+BC at 5000 steps −203, −201, −203 for seeds 0, 1, 2, and −179 at 6000 for seed 0).
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import * as PendulumData from "../../src/datagen/PendulumData.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type { TensorBackend } from "../../src/domain/TensorBackend.ts"
import * as Environment from "../../src/env/Environment.ts"
import * as Pendulum from "../../src/env/Pendulum.ts"
import type { DeviceTransitions } from "../../src/rl/Critic.ts"
import * as OfflineData from "../../src/rl/OfflineData.ts"
import * as Td3Bc from "../../src/rl/Td3Bc.ts"
import * as WasmBackend from "../../src/wasm/WasmBackend.ts"
import { GAMMA, GOAL, oneHot, STATES, step, transitions } from "../fixtures/ChainMdp.ts"

const GRID = 8

/** The actions ±(k + ½)/8, k = 0..7, at each state: a uniform behaviour with mean action 0. */
const chainData = (B: TensorBackend): DeviceTransitions =>
  transitions(B, Array.from({ length: GRID }, (_, k) => [-1, 1].map((sign) => (sign * (k + 0.5)) / GRID)).flat())

/** The uniform behaviour's exact value: V(s) = ½(r_right + γ·mask·V(s + 1)) + ½·γ·V(max(s − 1, 0)). */
const behaviourValue = (): Array<number> => {
  const v = new Array(GOAL + 1).fill(0)
  for (let iteration = 0; iteration < 2000; iteration++) {
    for (let s = 0; s < GOAL; s++) {
      const right = step(s, 1)
      v[s] = 0.5 * (right.reward + (right.terminal ? 0 : GAMMA * v[right.next])) + 0.5 * GAMMA * v[Math.max(s - 1, 0)]
    }
  }
  return v
}

/** Discounted return of a deterministic policy (its action at each state) from `start`, over at most 50 steps. */
const policyReturn = (actions: ArrayLike<number>, start: number): number => {
  let s = start
  let total = 0
  for (let t = 0; t < 50; t++) {
    const { next, reward, terminal } = step(s, actions[s])
    total += GAMMA ** t * reward
    if (terminal) break
    s = next
  }
  return total
}

const chainPolicy = async (alpha: number): Promise<Float32Array> => {
  const B = CpuBackend.make()
  const config = Schema.decodeSync(Td3Bc.Td3BcConfig)({ hidden: 32, batch: 64, lr: 1e-3, discount: GAMMA, alpha, normalizeObservations: false })
  const agent = Td3Bc.create(B, config, STATES, 1, Rng.named(0, "td3bc-chain"))
  const data = chainData(B)
  for (let i = 0; i < 3000; i++) B.dispose(Td3Bc.updateStep(B, agent, data, Rng.named(1, "td3bc-chain-batch"), i))
  const states = Float64Array.from(Array.from({ length: GOAL }, (_, s) => oneHot(s)).flat())
  return Float32Array.from(await Effect.runPromise(Td3Bc.act({ ops: B, read: (t) => Effect.promise(() => B.read(t)) }, agent, states)))
}

describe("TD3+BC learns a better-than-behaviour policy", () => {
  it("on a chain whose behaviour's mean action is 0: acts right everywhere and earns the optimum", async () => {
    const behaviour = behaviourValue()
    const actions = await chainPolicy(2.5)
    for (let s = 0; s < GOAL; s++) {
      expect(actions[s], `π(${s})`).toBeGreaterThan(0.04)
      expect(policyReturn(actions, s)).toBeCloseTo(GAMMA ** (GOAL - 1 - s), 12)
      expect(policyReturn(actions, s)).toBeGreaterThan(behaviour[s] + 0.1)
    }
    // BC alone (α → 0) stays near the data's mean action 0: the critic term is what moves the policy.
    const bc = await chainPolicy(1e-4)
    for (let s = 0; s < GOAL; s++) expect(Math.abs(bc[s]), `BC π(${s})`).toBeLessThan(0.04)
  }, 120_000)

  it("on Pendulum swing-up data: beats the data's mean return", async () => {
    const B = WasmBackend.make()
    const raw = PendulumData.generate(Schema.decodeSync(PendulumData.PendulumDataConfig)({}))
    const ds = OfflineDataset.clipActions(OfflineDataset.qlearningTransitions(raw))
    const config = Schema.decodeSync(Td3Bc.Td3BcConfig)({ hidden: 64 })
    const agent = Td3Bc.create(B, config, 3, 1, Rng.named(0, "td3bc"), Td3Bc.normaliserOf(config, ds))
    const data = OfflineData.upload(B, ds)
    for (let i = 0; i < 6000; i++) B.dispose(Td3Bc.updateStep(B, agent, data, Rng.named(0, "batch"), i))
    const env = Pendulum.make({ batch: 10 })
    const device = { ops: B, read: (t: Parameters<TensorBackend["read"]>[0]) => Effect.promise(() => B.read(t)) }
    const rollout = await Effect.runPromise(Environment.rolloutEffect(env, (obs: Float64Array) => Td3Bc.act(device, agent, obs), 7))
    const td3bc = Array.from(rollout.returns).reduce((a, b) => a + b, 0) / rollout.returns.length
    const behaviour = Array.from(raw.rewards).reduce((a, b) => a + b, 0) / 40
    console.log(`Pendulum: data ${behaviour.toFixed(1)}, TD3+BC ${td3bc.toFixed(1)}`)
    expect(td3bc).toBeGreaterThan(behaviour + 40)
  }, 300_000)
})
