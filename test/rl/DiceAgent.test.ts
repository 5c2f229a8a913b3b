/**
 * The Diffusion-DICE agent's act on small untrained networks (CPU backend): every method gives one finite
 * action per state under both selections; guide-only at scale 0 is the behaviour model's own sample; with
 * candidates, the chosen action is the candidate the critic scores highest (argmax); a failed read is a typed failure.
 */
import { it } from "@effect/vitest"
import { Data, Effect, Schema } from "effect"
import { describe, expect } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as DiceBehaviour from "../../src/diffusion/DiceBehaviour.ts"
import * as Critic from "../../src/rl/Critic.ts"
import * as DiceAgent from "../../src/rl/DiceAgent.ts"
import * as DiceSelect from "../../src/rl/DiceSelect.ts"
import type { Device } from "../../src/rl/Device.ts"

const B = CpuBackend.make()
const S = 3
const A = 2
const device: Device<never> = { ops: B, read: (t) => Effect.promise(() => B.read(t)) }
const small = new DiceAgent.DiceAgentConfig({ ...Schema.decodeSync(DiceAgent.DiceAgentConfig)({}), hidden: 16, blocks: 1, guidanceHidden: 16, guidanceLayers: 2 })
const agent = DiceAgent.create(B, small, S, A, Rng.named(1, "dice-agent"))
const critic = Critic.create(B, new Critic.CriticConfig({ ...Schema.decodeSync(Critic.CriticConfig)({}), hidden: 8, valueLoss: "dice", ensemble: 3 }), S, A, Rng.named(2, "critic"))
const observations = Float64Array.from({ length: 4 * S }, (_, i) => Math.sin(i))

describe("Diffusion-DICE act", () => {
  for (const method of DiceSelect.DiceMethods) {
    for (const selection of ["argmax", "softmax"] as const) {
      it.effect(`${method} with ${selection}: one finite action per state`, () =>
        Effect.gen(function*() {
          const actions = yield* DiceAgent.act(device, agent, { method, candidates: 4, guidanceScale: 2, selection, critic }, observations, Rng.named(3, "act"))
          expect(actions.length).toBe(4 * A)
          for (const a of actions) expect(Number.isFinite(a)).toBe(true)
        }))
    }
  }

  it.effect("guide-only at scale 0 is the behaviour model's own sample", () =>
    Effect.gen(function*() {
      const key = Rng.named(4, "act")
      const actions = yield* DiceAgent.act(device, agent, { method: "d-dice-guide-only", candidates: 4, guidanceScale: 0, selection: "argmax", critic }, observations, key)
      const plain = yield* Effect.promise(() => B.read(DiceBehaviour.sample({
        backend: B, network: agent.network, layout: agent.behaviour.layout, params: agent.behaviour.ema!, rows: 4,
        condition: B.upload(Float32Array.from(observations), 4, S), key
      })))
      Array.from(actions).forEach((a, i) => expect(a).toBeCloseTo(plain[i], 6))
    }))

  it.effect("select-only picks the candidate with the highest ensemble-mean Q", () =>
    Effect.gen(function*() {
      const key = Rng.named(5, "act")
      const k = 4
      const actions = yield* DiceAgent.act(device, agent, { method: "d-dice-select-only", candidates: k, guidanceScale: 2, selection: "argmax", critic }, observations, key)
      const condition = DiceSelect.repeatRows(B, B.upload(Float32Array.from(observations), 4, S), k)
      const candidates = DiceBehaviour.sample({ backend: B, network: agent.network, layout: agent.behaviour.layout, params: agent.behaviour.ema!, rows: 4 * k, condition, key })
      const scores = yield* Effect.promise(() => B.read(DiceSelect.criticScores(B, critic, "argmax", condition, candidates)))
      const values = yield* Effect.promise(() => B.read(candidates))
      for (let r = 0; r < 4; r++) {
        let best = r * k
        for (let j = 1; j < k; j++) if (scores[r * k + j] > scores[best]) best = r * k + j
        expect(actions[r * A]).toBeCloseTo(values[best * A], 6)
        expect(actions[r * A + 1]).toBeCloseTo(values[best * A + 1], 6)
      }
    }))

  it.effect("a failed read is a typed failure of act", () =>
    Effect.gen(function*() {
      class ReadFailed extends Data.TaggedError("ReadFailed")<{}> {}
      const failing: Device<ReadFailed> = { ops: B, read: () => Effect.fail(new ReadFailed()) }
      const exit = yield* Effect.exit(DiceAgent.act(failing, agent, { method: "d-dice", candidates: 2, guidanceScale: 1, selection: "argmax", critic }, observations, Rng.named(6, "act")))
      expect(exit._tag).toBe("Failure")
      expect(JSON.stringify(exit)).toContain("ReadFailed")
    }))
})
