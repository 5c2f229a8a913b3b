/**
 * The Agent service over a tiny trained run directory (CPU backend): every method loads from the
 * directory alone and acts; IQL's actions match a forward pass written here in f64 from the
 * checkpoint's own numbers; the SWG options reach the sampler; and every failure is a typed
 * AgentError naming what is wrong (missing or corrupt checkpoint, observation width, NaN, options
 * the method does not take, a failed device read).
 */
import { copyFile, mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Rng from "../../src/domain/Rng.ts"
import * as Parameters from "../../src/nn/Parameters.ts"
import * as Mlp from "../../src/nn/Mlp.ts"
import * as SyntheticExperience from "../../src/rl/SyntheticExperience.ts"
import * as Agent from "../../src/services/Agent.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { GpuError, ReadbackFailed } from "../../src/services/Gpu.ts"
import { ACTION_DIM, OBSERVATION_DIM, STEPS, trainTinyRun } from "../fixtures/TinyRun.ts"

const root = await mkdtemp(join(tmpdir(), "agent-"))
const runDir = await Effect.runPromise(trainTinyRun(root))

const base = Layer.mergeAll(Backend.layerCpu, Checkpoints.layer)
const agentLayer = (options: Agent.AgentOptions) => Agent.Agent.layer(options).pipe(Layer.provide(base))

/** Four observations of Pendulum (cos θ, sin θ, θ̇). */
const observations = Float64Array.from([1, 0, 0, 0, 1, 2, -1, 0, -3, 0.6, -0.8, 5])
const ROWS = 4

/** The methods the tiny run trains (PGD's agents on synthetic experience act in test/programs/OfflinePgd.test.ts). */
const tinyRunMethods = Agent.AgentMethod.literals.filter((m) => !(SyntheticExperience.SyntheticMethods as ReadonlyArray<string>).includes(m))

const withAgent = <A, E>(options: Agent.AgentOptions, f: (agent: Agent.AgentShape) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    return yield* f(yield* Agent.Agent)
  }).pipe(Effect.provide(agentLayer(options)))

describe("Agent", () => {
  for (const method of tinyRunMethods) {
    it.effect(`${method}: loads from the run directory alone and acts`, () =>
      withAgent({ runDir, method }, (agent) =>
        Effect.gen(function*() {
          expect(agent.info).toMatchObject({
            method, runDir, task: "pendulum-noisy", observationDim: OBSERVATION_DIM, actionDim: ACTION_DIM, checkpointStep: STEPS,
            generatesWeights: ["swg", "swg-r", "diffusion-bc", "idql"].includes(method)
          })
          const acted = yield* agent.actWithWeights(observations)
          assert.strictEqual(acted.actions.length, ROWS * ACTION_DIM)
          // D-DICE leaves clipping to the environment, as its reference does; the others act within [−1, 1].
          for (const a of acted.actions) expect(method.startsWith("d-dice") ? Number.isFinite(a) : Math.abs(a) <= 1).toBe(true)
          if (!agent.info.generatesWeights) assert.isUndefined(acted.weights)
          // The weight coordinate is clipped to the reference range [1e-4, 1] every denoising step.
          else for (const w of acted.weights!) expect(w >= Math.fround(1e-4) && w <= 1).toBe(true)
          assert.deepStrictEqual(yield* agent.act(new Float64Array(0)), new Float64Array(0))
        })), 60_000)
  }

  it.effect("checkpointsOf lists the files loadRun reads for each method: a directory with only those loads, one without any of them does not", () =>
    Effect.gen(function*() {
      for (const method of tinyRunMethods) {
        const listed = Agent.checkpointsOf(runDir, method)
        const only = yield* Effect.promise(() => mkdtemp(join(tmpdir(), `only-${method}-`)))
        for (const file of listed) yield* Effect.promise(() => copyFile(file, join(only, basename(file))))
        yield* Agent.loadRun(only, [method])
        for (const missing of listed) {
          const without = yield* Effect.promise(() => mkdtemp(join(tmpdir(), `without-${method}-`)))
          for (const file of listed.filter((f) => f !== missing)) yield* Effect.promise(() => copyFile(file, join(without, basename(file))))
          expect(yield* Effect.flip(Agent.loadRun(without, [method]))).toMatchObject({ _tag: "CheckpointError", path: join(without, basename(missing)) })
        }
      }
    }).pipe(Effect.provide(base)), 60_000)

  it.effect("IQL's actions are tanh(MLP(s)) of the checkpoint's parameters, computed here in f64", () =>
    Effect.gen(function*() {
      const saved = yield* (yield* Checkpoints).load(join(runDir, "iql-actor.safetensors"))
      const flat = saved.tensors.find((t) => t.name === "actor/params")!.data as Float32Array
      const hidden = 16
      const layout = Parameters.layout([
        ...Mlp.specs("pi", { inputs: OBSERVATION_DIM, widths: [hidden, hidden, ACTION_DIM], activation: "relu" }),
        { name: "pi.logStd", rows: 1, cols: ACTION_DIM, init: { kind: "zeros" } }
      ])
      const at = (name: string) => layout.offsets[layout.specs.findIndex((s) => s.name === name)]
      const dense = (x: ReadonlyArray<number>, layer: number, rows: number, cols: number, relu: boolean) =>
        Array.from({ length: cols }, (_, j) => {
          let sum = flat[at(`pi.${layer}.b`) + j]
          for (let i = 0; i < rows; i++) sum += x[i] * flat[at(`pi.${layer}.w`) + i * cols + j]
          return relu ? Math.max(sum, 0) : sum
        })
      const expected = Array.from({ length: ROWS }, (_, r) => {
        const s = Array.from(observations.subarray(r * OBSERVATION_DIM, (r + 1) * OBSERVATION_DIM))
        return dense(dense(dense(s, 0, OBSERVATION_DIM, hidden, true), 1, hidden, hidden, true), 2, hidden, ACTION_DIM, false).map(Math.tanh)
      }).flat()
      const actions = yield* withAgent({ runDir, method: "iql" }, (agent) => agent.act(observations))
      actions.forEach((a, i) => expect(a).toBeCloseTo(expected[i], 5))
      // A trained actor is not its initialisation: at least one action is away from tanh(0) = 0.
      expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(1e-3)
    }).pipe(Effect.provide(base)), 60_000)

  it.effect("the SWG model is restored with its EMA parameters (what sampling uses)", () =>
    Effect.gen(function*() {
      const saved = yield* (yield* Checkpoints).load(join(runDir, "swg.safetensors"))
      const run = yield* Agent.loadRun(runDir, ["swg"])
      const ema = yield* (yield* Backend).read(run.swg!.agent.model.ema!)
      assert.deepStrictEqual(ema, saved.tensors.find((t) => t.name === "swg/ema")!.data)
    }).pipe(Effect.provide(base)), 60_000)

  it.effect("options reach the sampler: ρ = 0 at temperature 0 is diffusion BC at temperature 0; ρ and temperature change actions", () =>
    Effect.gen(function*() {
      const key = Rng.named(7, "test")
      const swg = (options: Agent.ActOptions) => withAgent({ runDir, method: "swg" }, (a) => a.act(observations, { key, ...options }))
      const unguided = yield* swg({ guidanceScale: 0, temperature: 0 })
      const bc = yield* withAgent({ runDir, method: "diffusion-bc" }, (a) => a.act(observations, { key, temperature: 0 }))
      assert.deepStrictEqual(unguided, bc)
      const guided = yield* swg({ guidanceScale: 30, temperature: 0 })
      expect(Array.from(guided)).not.toEqual(Array.from(unguided))
      // At temperature 0 the key does not matter; at temperature 1 it does.
      assert.deepStrictEqual(yield* swg({ temperature: 0, key: Rng.named(8, "other") }), yield* swg({ temperature: 0 }))
      expect(Array.from(yield* swg({ temperature: 1, key: Rng.named(8, "other") }))).not.toEqual(Array.from(yield* swg({ temperature: 1 })))
    }), 60_000)

  it.effect("calls without a key draw fresh noise each time; a key makes a call repeatable", () =>
    withAgent({ runDir, method: "diffusion-bc" }, (agent) =>
      Effect.gen(function*() {
        const first = yield* agent.act(observations)
        const second = yield* agent.act(observations)
        expect(Array.from(second)).not.toEqual(Array.from(first))
        const key = Rng.named(1, "k")
        assert.deepStrictEqual(yield* agent.act(observations, { key }), yield* agent.act(observations, { key }))
      })), 60_000)
})

describe("AgentError", () => {
  const reasonOf = <A>(effect: Effect.Effect<A, Agent.AgentError>) => Effect.map(Effect.flip(effect), (e) => e.reason)

  it.effect("a run directory without the method's checkpoint: MissingCheckpoint naming the file", () =>
    Effect.gen(function*() {
      const empty = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "agent-empty-")))
      const error = yield* Effect.flip(withAgent({ runDir: empty, method: "swg" }, (a) => Effect.succeed(a)))
      expect(error.reason).toMatchObject({ _tag: "MissingCheckpoint", path: join(empty, "swg.safetensors") })
      expect(error.message).toBe(`agent swg (${empty}): no checkpoint ${join(empty, "swg.safetensors")}`)
    }), 60_000)

  it.effect("a corrupt checkpoint: InvalidCheckpoint naming the file", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "agent-corrupt-")))
      yield* Effect.promise(() => writeFile(join(dir, "critic.safetensors"), "not safetensors"))
      const reason = yield* reasonOf(withAgent({ runDir: dir, method: "iql" }, (a) => Effect.succeed(a)))
      expect(reason).toMatchObject({ _tag: "InvalidCheckpoint", path: join(dir, "critic.safetensors") })
    }), 60_000)

  it.effect("observations of the wrong width, or with a NaN, are typed failures", () =>
    withAgent({ runDir, method: "swg" }, (agent) =>
      Effect.gen(function*() {
        expect(yield* reasonOf(agent.act([1, 0, 0, 1]))).toMatchObject({ _tag: "ObservationWidth", expected: 3, values: 4 })
        expect(yield* reasonOf(agent.act([1, 0, 0, 1, 0, Number.NaN]))).toMatchObject({ _tag: "NonFiniteObservation", row: 1, column: 2 })
      })), 60_000)

  it.effect("options the method does not take, or out of range, are InvalidActOptions", () =>
    Effect.gen(function*() {
      const iql = yield* reasonOf(withAgent({ runDir, method: "iql" }, (a) => a.act(observations, { guidanceScale: 1 })))
      expect(iql).toMatchObject({ _tag: "InvalidActOptions", detail: "iql takes no options, not guidanceScale" })
      const swg = yield* reasonOf(withAgent({ runDir, method: "swg" }, (a) => a.act(observations, { candidates: 4 })))
      expect(swg.message).toBe("swg takes guidanceScale, temperature, not candidates")
      const temperature = yield* reasonOf(withAgent({ runDir, method: "swg-r" }, (a) => a.act(observations, { temperature: -1 })))
      expect(temperature.message).toContain("temperature must be finite and ≥ 0")
      const candidates = yield* reasonOf(withAgent({ runDir, method: "idql" }, (a) => a.act(observations, { candidates: 0.5 })))
      expect(candidates.message).toContain("candidates must be a positive integer")
    }), 60_000)

  it.effect("a failed device read is DeviceFailure carrying the GpuError, not a defect", () =>
    Effect.gen(function*() {
      const failingRead = Layer.effect(Backend, Effect.gen(function*() {
        const b = yield* Backend
        return Backend.of({ ...b, read: () => Effect.fail(new GpuError({ reason: new ReadbackFailed({ message: "mapAsync rejected" }) })) })
      })).pipe(Layer.provide(Backend.layerCpu))
      for (const method of tinyRunMethods) {
        const error = yield* Effect.flip(
          Effect.gen(function*() {
            return yield* (yield* Agent.Agent).act(observations)
          }).pipe(
            Effect.provide(Agent.Agent.layer({ runDir, method }).pipe(Layer.provide(Layer.merge(failingRead, Checkpoints.layer))))
          )
        )
        expect(error.reason).toMatchObject({ _tag: "DeviceFailure", error: { _tag: "GpuError", reason: { _tag: "ReadbackFailed" } } })
        expect(error.message).toContain("reading a tensor back failed: mapAsync rejected")
      }
    }), 60_000)
})

describe("Agent: SWG's weight clip is a sampling choice", () => {
  const tiny = { runDir, method: "swg" as const }
  const act = (swgWeightClip: "reference" | "data-range") =>
    withAgent({ ...tiny, defaults: { ...Agent.defaultActDefaults, swgWeightClip } }, (agent) =>
      agent.actWithWeights(observations, { key: Rng.named(3, "clip") }))

  it.effect("the defaults' clip overrides the checkpoint's: data-range keeps every generated weight in the data's [0.3, 0.7], and the actions differ from the reference clip's", () =>
    Effect.gen(function*() {
      const dataRange = yield* act("data-range")
      const reference = yield* act("reference")
      // The tiny run's smooth expectile weights (τ = 0.7) lie inside [0.3, 0.7], and so does the data-range clip.
      for (const w of dataRange.weights!) expect(w >= Math.fround(0.3) && w <= Math.fround(0.7)).toBe(true)
      expect(Array.from(dataRange.actions)).not.toEqual(Array.from(reference.actions))
    }), 60_000)
})
