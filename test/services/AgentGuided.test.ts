/**
 * QGPO and the three D-DICE methods as Agents over the tiny run (CPU backend; test/services/Agent.test.ts has every
 * method load and act): an act call leaves no tensor live (counted by test/fixtures/LiveTensors.ts) and closing the
 * agent gives its models back; the Agent with `evaluate`'s defaults acts exactly as `evaluate` did before it ran them
 * as Agents (the models built from the offline config's sections, the method's own act, the same key); a missing
 * checkpoint is MissingCheckpoint naming the file.
 */
import { copyFile, mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Offline from "../../src/programs/Offline.ts"
import { restore } from "../../src/programs/ResumableLoop.ts"
import * as Critic from "../../src/rl/Critic.ts"
import * as DiceAgent from "../../src/rl/DiceAgent.ts"
import * as QgpoAgent from "../../src/rl/QgpoAgent.ts"
import * as Agent from "../../src/services/Agent.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { counting } from "../fixtures/LiveTensors.ts"
import { OBSERVATION_DIM, tinyConfig, trainTinyRun } from "../fixtures/TinyRun.ts"

const root = await mkdtemp(join(tmpdir(), "agent-guided-"))
const runDir = await Effect.runPromise(trainTinyRun(root))

const methods = ["qgpo", "d-dice", "d-dice-guide-only", "d-dice-select-only"] as const
const base = Layer.mergeAll(Backend.layerCpu, Checkpoints.layer)

/** Four observations of Pendulum (cos θ, sin θ, θ̇). */
const observations = Float64Array.from([1, 0, 0, 0, 1, 2, -1, 0, -3, 0.6, -0.8, 5])

describe("QGPO and D-DICE agents", () => {
  for (const method of methods) {
    it.effect(`${method}: act leaves no tensor live, and closing the agent gives its models back`, () =>
      Effect.gen(function*() {
        const tensors = counting(CpuBackend.make())
        const backend = Layer.effect(Backend, Effect.gen(function*() {
          const b = yield* Backend
          return Backend.of({ ops: tensors.backend, run: (build) => b.run(() => build(tensors.backend)), read: b.read })
        })).pipe(Layer.provide(Backend.layerCpu))
        const counts = yield* Effect.scoped(Effect.gen(function*() {
          const agent = yield* Agent.load({ runDir, method })
          const loaded = tensors.live()
          expect(loaded).toBeGreaterThan(0)
          const after: Array<number> = []
          for (let call = 0; call < 3; call++) {
            const actions = yield* agent.act(observations)
            assert.strictEqual(actions.length, observations.length / OBSERVATION_DIM)
            after.push(tensors.live())
          }
          return { loaded, after }
        })).pipe(Effect.provide(Layer.merge(backend, Checkpoints.layer)))
        assert.deepStrictEqual(counts.after, [counts.loaded, counts.loaded, counts.loaded], `${method}: live tensors after each act`)
        assert.strictEqual(tensors.live(), 0, `${method}: live tensors after the agent closed`)
      }), 60_000)
  }

  it.effect("act as evaluate did before it ran them as Agents: the offline config's settings, the method's own act, the same key", () =>
    Effect.gen(function*() {
      const backend = yield* Backend
      const checkpoints = yield* Checkpoints
      const tiny = yield* tinyConfig(root)
      // Evaluated with another QGPO guidance scale and temperature than trained with: the evaluation's config decides.
      const c = new Offline.OfflineConfig({ ...tiny, qgpo: new QgpoAgent.QgpoAgentConfig({ ...tiny.qgpo, guidanceScale: 5, temperature: 0.5 }) })
      const key = (name: string) => Rng.split(Rng.named(c.seed, "evaluate"), name)
      const load = (path: string) => Effect.map(checkpoints.load(path), (saved) => saved.tensors)
      // QGPO and D-DICE as evaluate built them: from the offline config's sections, restored from the run directory
      const swg = (yield* Agent.loadSwgModel(join(runDir, "swg.safetensors"))).agent
      const qgpo = QgpoAgent.create(backend.ops, c.qgpo, swg, OBSERVATION_DIM, Rng.named(c.seed, "qgpo-init"))
      yield* restore("qgpo", { q: qgpo.q, energy: qgpo.energy }, yield* load(join(runDir, "qgpo.safetensors")), {})
      const critic = Critic.create(backend.ops, c.dice.critic, OBSERVATION_DIM, 1, Rng.named(c.seed, "dice-critic"))
      const dice = DiceAgent.create(backend.ops, c.dice.agent, OBSERVATION_DIM, 1, Rng.named(c.seed, "dice-init"))
      yield* restore("critic", Critic.models(critic), yield* load(join(runDir, "dice-critic.safetensors")), {})
      yield* restore("behaviour", { behaviour: dice.behaviour }, yield* load(join(runDir, "dice-behaviour.safetensors")), {})
      yield* restore("guidance", { guidance: dice.guidance }, yield* load(join(runDir, "dice-guidance.safetensors")), {})
      const diceOptions = { candidates: c.dice.candidates, guidanceScale: c.dice.guidanceScale, selection: DiceAgent.selectionFor(c.dice, c.task), critic }
      const before = (method: (typeof methods)[number], t: number) =>
        method === "qgpo"
          ? QgpoAgent.act(backend, qgpo, observations, Rng.at(key("qgpo"), t))
          : DiceAgent.act(backend, dice, { ...diceOptions, method }, observations, Rng.at(key(method), t))

      const trained = yield* Agent.loadRun(runDir, methods)
      for (const method of methods) {
        const agent = yield* Agent.fromRun(trained, method, { defaults: Offline.actDefaults(c) })
        for (let t = 0; t < 3; t++) {
          assert.deepStrictEqual(yield* agent.act(observations, { key: Rng.at(key(method), t) }), yield* before(method, t), `${method} at step ${t}`)
        }
      }
      // The checkpoint's own settings differ: without evaluate's defaults QGPO acts otherwise.
      const own = yield* Agent.fromRun(trained, "qgpo")
      expect(own.info.defaults).toEqual({ guidanceScale: tiny.qgpo.guidanceScale, temperature: tiny.qgpo.temperature })
      expect(Array.from(yield* own.act(observations, { key: Rng.at(key("qgpo"), 0) }))).not.toEqual(Array.from(yield* before("qgpo", 0)))
      Agent.disposeRun(backend.ops, trained)
    }).pipe(Effect.provide(base)), 120_000)

  it.effect("the options each takes reach its act; the others are InvalidActOptions", () =>
    Effect.gen(function*() {
      const trained = yield* Agent.loadRun(runDir, methods)
      const agents = Object.fromEntries(yield* Effect.forEach(methods, (m) => Effect.map(Agent.fromRun(trained, m), (a) => [m, a] as const)))
      const key = Rng.named(5, "options")
      const differs = (a: Float64Array, b: Float64Array) => expect(Array.from(a)).not.toEqual(Array.from(b))
      differs(yield* agents.qgpo.act(observations, { key, guidanceScale: 0 }), yield* agents.qgpo.act(observations, { key, guidanceScale: 30 }))
      differs(yield* agents.qgpo.act(observations, { key, temperature: 0 }), yield* agents.qgpo.act(observations, { key, temperature: 1 }))
      differs(
        yield* agents["d-dice-guide-only"].act(observations, { key, guidanceScale: 0 }),
        yield* agents["d-dice-guide-only"].act(observations, { key, guidanceScale: 30 })
      )
      differs(
        yield* agents["d-dice-select-only"].act(observations, { key, candidates: 1 }),
        yield* agents["d-dice-select-only"].act(observations, { key, candidates: 8 })
      )
      const reason = (e: Effect.Effect<unknown, Agent.AgentError>) => Effect.map(Effect.flip(e), (error) => error.reason.message)
      expect(yield* reason(agents["d-dice-guide-only"].act(observations, { candidates: 4 }))).toBe("d-dice-guide-only takes guidanceScale, not candidates")
      expect(yield* reason(agents["d-dice-select-only"].act(observations, { guidanceScale: 1 }))).toBe("d-dice-select-only takes candidates, not guidanceScale")
      expect(yield* reason(agents["d-dice"].act(observations, { temperature: 1 }))).toBe("d-dice takes guidanceScale, candidates, not temperature")
      expect(yield* reason(agents.qgpo.act(observations, { candidates: 2 }))).toBe("qgpo takes guidanceScale, temperature, not candidates")
      Agent.disposeRun((yield* Backend).ops, trained)
    }).pipe(Effect.provide(base)), 120_000)

  it.effect("a run directory without the method's checkpoint: MissingCheckpoint naming the file", () =>
    Effect.gen(function*() {
      // The SWG model alone: QGPO lacks qgpo.safetensors, D-DICE its critic (the first file it loads).
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "agent-guided-missing-")))
      yield* Effect.promise(() => copyFile(join(runDir, "swg.safetensors"), join(dir, "swg.safetensors")))
      for (const method of methods) {
        const error = yield* Effect.flip(Effect.scoped(Agent.load({ runDir: dir, method })))
        const file = method === "qgpo" ? "qgpo.safetensors" : "dice-critic.safetensors"
        expect(error.reason).toMatchObject({ _tag: "MissingCheckpoint", path: join(dir, file) })
        expect(error.message).toBe(`agent ${method} (${dir}): no checkpoint ${join(dir, file)}`)
      }
    }).pipe(Effect.provide(base)), 60_000)
})
