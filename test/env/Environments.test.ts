/**
 * The Environments service: scoped constructors close their environment on success, failure and
 * interruption; construction errors are typed; rolloutEffect runs effectful policies; normalised scores.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import * as Environment from "../../src/env/Environment.ts"
import { Environments } from "../../src/env/Environments.ts"
import * as Mujoco from "../../src/env/Mujoco.ts"

const closedReason = (env: Environment.VectorEnv) =>
  Effect.flip(Environment.attempt(() => env.reset(0))).pipe(Effect.map((error) => error.reason._tag))

describe("Environment.normalizedScore", () => {
  it("maps REF_MIN to 0 and REF_MAX to 100 for every task", () => {
    for (const [task, { max, min }] of Object.entries(Environment.referenceScores)) {
      const name = task as Environment.ScoredTask
      assert.closeTo(Environment.normalizedScore(name, min), 0, 1e-9)
      assert.closeTo(Environment.normalizedScore(name, max), 100, 1e-9)
    }
    assert.closeTo(Environment.normalizedScore("hopper-v2", 1607.0138475), 50, 1e-6)
  })
})

describe("Environments", () => {
  layer(Environments.layer)((it) => {
    it.effect("closes a scoped environment when its scope ends", () =>
      Effect.gen(function*() {
        const environments = yield* Environments
        const env = yield* Effect.scoped(
          Effect.gen(function*() {
            const env = yield* environments.locomotion({ task: "hopper", batch: 2 })
            yield* Environment.attempt(() => env.reset(0))
            return env
          })
        )
        assert.strictEqual(yield* closedReason(env), "Closed")
      }))

    it.effect("closes it when the scope fails, and reports a typed InvalidAction", () =>
      Effect.gen(function*() {
        const environments = yield* Environments
        let captured: Environment.VectorEnv | undefined
        const error = yield* Effect.flip(Effect.scoped(
          Effect.gen(function*() {
            const env = yield* environments.maze2d({ maze: "umaze", batch: 2 })
            captured = env
            yield* Environment.attempt(() => env.reset(0))
            return yield* Environment.attempt(() => env.step(new Float64Array(3)))
          })
        ))
        assert.strictEqual(error.environment, "maze2d-umaze-v1")
        assert.strictEqual(error.reason._tag, "InvalidAction")
        assert.include(error.message, "expected 4 action entries, got 3")
        assert.isDefined(captured)
        if (captured !== undefined) assert.strictEqual(yield* closedReason(captured), "Closed")
      }))

    it.effect("closes it when the fiber using it is interrupted", () =>
      Effect.gen(function*() {
        const environments = yield* Environments
        let captured: Environment.VectorEnv | undefined
        const fiber = yield* Effect.forkChild(Effect.scoped(
          Effect.gen(function*() {
            captured = yield* environments.pendulum({ batch: 1 })
            return yield* Effect.never
          })
        ))
        yield* Effect.yieldNow
        yield* Fiber.interrupt(fiber)
        assert.isDefined(captured)
        if (captured !== undefined) assert.strictEqual(yield* closedReason(captured), "Closed")
      }))

    it.effect("fails with typed errors for bad options and missing models", () =>
      Effect.gen(function*() {
        const environments = yield* Environments
        const missing = yield* Effect.flip(
          Effect.scoped(environments.locomotion({ task: "walker2d", batch: 1, assets: "/nonexistent/models" }))
        )
        assert.strictEqual(missing.environment, "walker2d-v2")
        assert.strictEqual(missing.reason._tag, "ModelNotFound")
        const badBatch = yield* Effect.flip(Effect.scoped(environments.maze2d({ maze: "large", batch: 1.5 })))
        assert.strictEqual(badBatch.reason._tag, "InvalidOptions")
      }))

    it.effect("50 scoped locomotion environments leave the wasm heap where it was", () =>
      Effect.gen(function*() {
        const environments = yield* Environments
        const tasks = ["halfcheetah", "hopper", "walker2d"] as const
        const cycle = (k: number) =>
          Effect.scoped(Effect.gen(function*() {
            const env = yield* environments.locomotion({ task: tasks[k % 3], batch: 2 })
            yield* Environment.attempt(() => env.reset(k))
          }))
        yield* cycle(0)
        const before = Mujoco.heapBytes(environments.runtime)
        for (let k = 0; k < 50; k++) yield* cycle(k)
        assert.isAtMost(Mujoco.heapBytes(environments.runtime), before + 16 * 2 ** 20)
      }))

    it.effect("rolloutEffect runs an effectful policy to the end of every episode", () =>
      Effect.gen(function*() {
        const environments = yield* Environments
        const env = yield* environments.locomotion({ task: "hopper", batch: 3 })
        let calls = 0
        const result = yield* Environment.rolloutEffect(
          env,
          (observations) =>
            Effect.sync(() => {
              calls += 1
              return new Float64Array((observations.length / env.observationDim) * env.actionDim).fill(0.5)
            }),
          2
        )
        assert.strictEqual(calls, Math.max(...result.lengths))
        for (let i = 0; i < 3; i++) {
          assert.isAbove(result.lengths[i], 0)
          assert.strictEqual(result.terminated[i], result.lengths[i] < 1000 ? 1 : 0)
        }
        const failed = yield* Effect.exit(Environment.rolloutEffect(env, () => Effect.succeed(new Float64Array(1)), 0))
        assert.isTrue(Exit.isFailure(failed))
      }))

    it.effect("runningOnly hands the policy only the running rows and changes no episode", () =>
      Effect.gen(function*() {
        const environments = yield* Environments
        const env = yield* environments.locomotion({ task: "hopper", batch: 4 })
        // A row-wise deterministic policy whose episodes end at different steps.
        const policy = (observations: Float64Array) => {
          const rows = observations.length / env.observationDim
          const actions = new Float64Array(rows * env.actionDim)
          for (let r = 0; r < rows; r++) {
            for (let j = 0; j < env.actionDim; j++) actions[r * env.actionDim + j] = Math.tanh(3 * observations[r * env.observationDim + 1 + j])
          }
          return actions
        }
        const rowsSeen: Array<number> = []
        const full = yield* Environment.rolloutEffect(env, (obs) => Effect.sync(() => policy(obs)), 5)
        const compact = yield* Environment.rolloutEffect(
          env,
          (obs) => Effect.sync(() => (rowsSeen.push(obs.length / env.observationDim), policy(obs))),
          5,
          { runningOnly: true }
        )
        assert.deepStrictEqual(Array.from(compact.returns), Array.from(full.returns))
        assert.deepStrictEqual(Array.from(compact.lengths), Array.from(full.lengths))
        const sorted = Array.from(full.lengths).sort((a, b) => a - b)
        assert.isBelow(sorted[0], sorted[3], "the episodes must end at different steps for this test to bite")
        // After the first episode ends, the policy sees fewer rows.
        assert.strictEqual(rowsSeen[0], 4)
        assert.strictEqual(rowsSeen[sorted[0]], 4 - sorted.filter((l) => l === sorted[0]).length)
        assert.strictEqual(rowsSeen.length, sorted[3])
      }))
  })
})

describe("Environment.vectorize", () => {
  it("keeps done members done: zero reward, frozen observation, sticky flags, no more simulation", () => {
    const stepped = [0, 0, 0]
    const { env } = Environment.vectorize({
      name: "counter",
      observationDim: 1,
      actionDim: 1,
      batch: 3,
      maxEpisodeSteps: 3,
      resetMember: (i, seed, observations) => {
        observations[i] = seed
      },
      stepMember: (i, actions, observations, outcome) => {
        stepped[i] += 1
        observations[i] += 1
        outcome.reward = 10 + actions[i]
        outcome.terminated = i === 0 && observations[i] === 101
      },
      free: () => {}
    })
    assert.deepStrictEqual([...env.reset(100)], [100, 100, 100])
    const first = env.step(Float64Array.of(5, -5, 0.5))
    assert.deepStrictEqual([...first.rewards], [11, 9, 10.5])
    assert.deepStrictEqual([...first.terminated], [1, 0, 0])
    const steps = [env.step(new Float64Array(3)), env.step(new Float64Array(3)), env.step(new Float64Array(3))]
    assert.deepStrictEqual(steps.map((s) => [...s.observations]), [[101, 102, 102], [101, 103, 103], [101, 103, 103]])
    assert.deepStrictEqual(steps.map((s) => [...s.rewards]), [[0, 10, 10], [0, 10, 10], [0, 0, 0]])
    assert.deepStrictEqual(steps.map((s) => [...s.truncated]), [[0, 0, 0], [0, 1, 1], [0, 1, 1]])
    assert.deepStrictEqual(stepped, [1, 3, 3])
    const result = Environment.rollout(env, () => new Float64Array(3), 0)
    assert.deepStrictEqual([...result.lengths], [3, 3, 3])
    assert.deepStrictEqual([...result.returns], [30, 30, 30])
  })
})
