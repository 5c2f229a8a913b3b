/**
 * Evaluation allocates nothing that outlives an action step: every method's `act` (SWG, SWG-R,
 * diffusion BC, IDQL, IQL's actor) runs for many steps on the GPU backend, and the pool's live
 * buffers are the same after every step as before the first (IDQL used to keep one index buffer
 * per step). The CPU backend does not pool, so this is a GPU-tier test.
 */
import { assert } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Rng from "../../src/domain/Rng.ts"
import type { TensorBackend } from "../../src/domain/TensorBackend.ts"
import * as WeightFunction from "../../src/domain/WeightFunction.ts"
import * as Critic from "../../src/rl/Critic.ts"
import type { Device } from "../../src/rl/Device.ts"
import * as IqlActor from "../../src/rl/IqlActor.ts"
import * as SwgAgent from "../../src/rl/SwgAgent.ts"
import { Gpu } from "../../src/services/Gpu.ts"
import { describeGpu } from "../fixtures/GpuTest.ts"

const S = 3
const A = 2
const EPISODES = 3
const STEPS = 12

const live = (B: TensorBackend): number => {
  const n = B.stats().liveBuffers
  if (n === undefined) throw new Error(`${B.description} does not count live buffers`)
  return n
}

describeGpu("evaluation does not leak pooled buffers", (it) => {
  it.effect("live buffers stay flat over many act steps of every method", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const device: Device<never> = { ops: B, read: (t) => Effect.promise(() => B.read(t)) }
      const agent = SwgAgent.create(
        B,
        new SwgAgent.SwgAgentConfig({ ...Schema.decodeSync(SwgAgent.SwgAgentConfig)({}), hidden: 16, blocks: 2, diffusionSteps: 3 }),
        S, A, [0.3, 0.7], Rng.named(1, "swg")
      )
      const critic = Critic.create(B, Schema.decodeSync(Critic.CriticConfig)({ hidden: 16 }), S, A, Rng.named(2, "critic"))
      const actor = IqlActor.create(B, Schema.decodeSync(IqlActor.IqlActorConfig)({ hidden: 16 }), S, A, Rng.named(3, "actor"))
      const methods: ReadonlyArray<readonly [string, (obs: Float64Array, t: number) => Effect.Effect<Float64Array>]> = [
        ["swg", (obs, t) => SwgAgent.act(device, agent, { _tag: "Swg", guidanceScale: 10, temperature: 0 }, obs, Rng.at(Rng.named(4, "swg"), t))],
        ["swg-r", (obs, t) => SwgAgent.act(device, agent, { _tag: "SwgR", guidanceScale: 10, temperature: 1, candidates: 4, rule: "greedy" }, obs, Rng.at(Rng.named(4, "swg-r"), t))],
        ["diffusion-bc", (obs, t) => SwgAgent.act(device, agent, { _tag: "DiffusionBc", temperature: 1 }, obs, Rng.at(Rng.named(4, "bc"), t))],
        ["idql", (obs, t) =>
          SwgAgent.act(device, agent, { _tag: "Idql", candidates: 4, temperature: 1, rule: "greedy", critic, weightFunction: WeightFunction.expectile() }, obs, Rng.at(Rng.named(4, "idql"), t))],
        ["iql", (obs) => IqlActor.act(device, actor, obs)]
      ]
      for (const [method, act] of methods) {
        const before = live(B)
        const counts: Array<number> = []
        for (let t = 0; t < STEPS; t++) {
          const obs = Float64Array.from({ length: EPISODES * S }, (_, i) => Math.sin(i + t))
          const actions = yield* act(obs, t)
          assert.strictEqual(actions.length, EPISODES * A)
          counts.push(live(B))
        }
        assert.deepStrictEqual(counts, counts.map(() => before), `${method}: live buffers per step (before: ${before})`)
      }
    }))
})
