/**
 * ARS-V2t (Mania et al. 2018): the update rule recomputed by hand from the rollouts, the running observation
 * statistics, that halfcheetah's return improves within a few iterations, determinism, and exact resumption.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it, layer } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as Rng from "../../src/domain/Rng.ts"
import * as Ars from "../../src/datagen/Ars.ts"
import { Environments } from "../../src/env/Environments.ts"
import * as Locomotion from "../../src/env/Locomotion.ts"
import * as Mujoco from "../../src/env/Mujoco.ts"
import * as Pendulum from "../../src/env/Pendulum.ts"
import { Progress } from "../../src/services/Progress.ts"

let runtime: Mujoco.Runtime
let scratch: string
beforeAll(async () => {
  runtime = await Mujoco.load()
  scratch = mkdtempSync(join(tmpdir(), "dgrl-ars-"))
})
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const config = (fields: Record<string, unknown>) => Schema.decodeUnknownSync(Ars.ArsConfig)(fields)

describe("Ars core", () => {
  it("normalises with μ = 0, σ = 1 before statistics exist, and drops constant dimensions", () => {
    assert.deepStrictEqual(Ars.normaliser({ count: 0, mean: [0, 0], m2: [0, 0] }), { mean: [0, 0], invStd: [1, 1] })
    const { invStd, mean } = Ars.normaliser({ count: 5, mean: [1, 2], m2: [4, 0] })
    assert.deepStrictEqual(mean, [1, 2])
    assert.closeTo(invStd[0], 1 / (1 + 1e-8), 1e-15)
    assert.strictEqual(invStd[1], 0)
    const actions = new Float64Array(2)
    Ars.act({ observationDim: 2, actionDim: 1, weights: [2, 5], mean: [1, 2], invStd: [0.5, 0] }, Float64Array.of(3, 9, 1, 7), actions)
    assert.deepStrictEqual([...actions], [2, 0])
  })

  it("applies M ← M + α/(b·σ_R)·Σ_top-b (r₊ − r₋)·δ with shifted returns, and tracks all visited observations", () => {
    const c = config({ task: "pendulum", directions: 4, topDirections: 2, horizon: 30, shift: 0.5, seed: 3 })
    const env = Pendulum.make({ batch: 8 })
    let state = Ars.initialState(3, 1)
    const seen: Array<number> = []
    for (let j = 0; j < 3; j++) {
      const returns = new Float64Array(8)
      const lengths = new Int32Array(8)
      const step = Ars.iterate(env, c, state, {
        beforeStep: (_t, obs, _actions, active) => {
          for (let m = 0; m < 8; m++) if (active[m] === 1) seen.push(...obs.subarray(3 * m, 3 * m + 3))
        },
        afterStep: (_t, result, active) => {
          for (let m = 0; m < 8; m++) {
            if (active[m] === 0) continue
            returns[m] += result.rewards[m]
            lengths[m] += 1
          }
        }
      })
      // the update, by hand
      const deltas = new Float64Array(4 * 3)
      Rng.fillNormal(Rng.at(Rng.named(3, "Ars.directions"), j), deltas)
      const r = Array.from(returns, (x, m) => x - 0.5 * lengths[m])
      const top = [0, 1, 2, 3].sort((a, b) => Math.max(r[2 * b], r[2 * b + 1]) - Math.max(r[2 * a], r[2 * a + 1])).slice(0, 2)
      const used = top.flatMap((k) => [r[2 * k], r[2 * k + 1]])
      const mu = used.reduce((s, x) => s + x, 0) / 4
      const sigma = Math.sqrt(used.reduce((s, x) => s + (x - mu) ** 2, 0) / 4)
      const expected = [...state.weights]
      for (const k of top) for (let q = 0; q < 3; q++) expected[q] += (0.02 / (2 * sigma)) * (r[2 * k] - r[2 * k + 1]) * deltas[3 * k + q]
      for (let q = 0; q < 3; q++) assert.closeTo(step.state.weights[q], expected[q], 1e-12)
      assert.deepStrictEqual(step.summary.lengths, Array.from(lengths))
      state = step.state
    }
    // running statistics = exact mean and sample variance of every observation the policies saw
    assert.strictEqual(state.count, seen.length / 3)
    for (let k = 0; k < 3; k++) {
      const xs = seen.filter((_, i) => i % 3 === k)
      const mean = xs.reduce((s, x) => s + x, 0) / xs.length
      const m2 = xs.reduce((s, x) => s + (x - mean) ** 2, 0)
      assert.closeTo(state.mean[k], mean, 1e-12)
      assert.closeTo(state.m2[k], m2, 1e-9 * Math.max(1, m2))
    }
    env.close()
  })

  it("improves halfcheetah's return within a few iterations", () => {
    const c = config({ task: "halfcheetah", directions: 8, topDirections: 4, horizon: 100, seed: 0 })
    const env = Locomotion.make(runtime, { task: "halfcheetah", batch: 16 })
    const evalEnv = Locomotion.make(runtime, { task: "halfcheetah", batch: 8 })
    let state = Ars.initialState(17, 6)
    const before = Ars.evaluate(evalEnv, Ars.policyOf(state, 17, 6), 123, 100).mean
    for (let j = 0; j < 12; j++) state = Ars.iterate(env, c, state).state
    const after = Ars.evaluate(evalEnv, Ars.policyOf(state, 17, 6), 123, 100).mean
    env.close()
    evalEnv.close()
    assert.isBelow(Math.abs(before), 5)
    assert.isAbove(after, before + 20)
  })

  it("picks the best checkpoint as expert and the one closest to the fraction of its return as medium", () => {
    const policy = { observationDim: 1, actionDim: 1, weights: [0], mean: [0], invStd: [1] }
    const at = (iteration: number, evalReturn: number): Ars.Checkpoint => ({
      iteration, envSteps: 0, seconds: 0, evalReturn, evalReturnStd: 0, evalLength: 0, policy
    })
    const run = [at(0, -5), at(5, 100), at(10, 450), at(15, 1000), at(20, 800), at(25, 990)]
    const picks = Ars.pick(run, 0.4)
    assert.strictEqual(picks.expert.iteration, 15)
    assert.strictEqual(picks.medium.iteration, 10)
    assert.strictEqual(Ars.pick(run, 0.05).medium.iteration, 5)
    // a jump (walker2d-like): 1400 is closer to 0.4·4300 = 1720 than 3000 is
    const jump = Ars.pick([at(0, 100), at(5, 1400), at(10, 3000), at(15, 4300), at(20, 1700)], 0.4)
    assert.deepStrictEqual([jump.medium.iteration, jump.expert.iteration], [5, 15])
    // another score (e.g. the return under action noise) decides instead of the noise-free one
    const noisy = new Map([[0, 0], [5, 200], [10, 900], [15, 300], [20, 2000]])
    const checkpoints = [at(0, 100), at(5, 1400), at(10, 3000), at(15, 4300), at(20, 1700)]
    const byNoisy = Ars.pick(checkpoints, 0.4, (c) => noisy.get(c.iteration) ?? 0)
    assert.deepStrictEqual([byNoisy.medium.iteration, byNoisy.expert.iteration], [10, 20])
  })
})

describe("Ars.train", () => {
  layer(Layer.mergeAll(Environments.layer, Progress.layerSilent))((it) => {
    const base = { task: "pendulum", directions: 4, topDirections: 2, horizon: 50, evalEvery: 2, evalEpisodes: 3, seed: 11 }

    it.effect("is deterministic by seed and resumes exactly where a shorter budget stopped", () =>
      Effect.gen(function*() {
        const whole = yield* Ars.train(config({ ...base, maxIterations: 6 }))
        const again = yield* Ars.train(config({ ...base, maxIterations: 6 }))
        assert.deepStrictEqual(again.state.weights, whole.state.weights)
        assert.deepStrictEqual(whole.checkpoints.map((c) => c.iteration), [0, 2, 4, 6])
        const other = yield* Ars.train(config({ ...base, maxIterations: 6, seed: 12 }))
        assert.notDeepEqual(other.state.weights, whole.state.weights)

        const runPath = join(scratch, "pendulum.json")
        const first = yield* Ars.train(config({ ...base, maxIterations: 3 }), { runPath })
        assert.strictEqual(first.state.iteration, 3)
        const resumed = yield* Ars.train(config({ ...base, maxIterations: 6 }), { runPath })
        assert.deepStrictEqual(resumed.state.weights, whole.state.weights)
        assert.deepStrictEqual(resumed.state.mean, whole.state.mean)
        assert.deepStrictEqual(resumed.history, whole.history)
        const saved = yield* Ars.load(runPath)
        assert.deepStrictEqual(saved?.state, resumed.state)
        // a rerun with a spent budget trains nothing
        const rerun = yield* Ars.train(config({ ...base, maxIterations: 6 }), { runPath })
        assert.strictEqual(rerun.history.length, 6)
        assert.deepStrictEqual(rerun.checkpoints, resumed.checkpoints)
      }))

    it.effect("refuses a run file made with other hyperparameters, and b > N", () =>
      Effect.gen(function*() {
        const runPath = join(scratch, "mismatch.json")
        yield* Ars.train(config({ ...base, maxIterations: 1 }), { runPath })
        const mismatch = yield* Effect.flip(Ars.train(config({ ...base, maxIterations: 2, stepSize: 0.5 }), { runPath }))
        assert.strictEqual(mismatch._tag === "DatagenError" && mismatch.reason._tag, "CacheMismatch")
        const invalid = yield* Effect.flip(Ars.train(config({ ...base, topDirections: 5 })))
        assert.strictEqual(invalid._tag === "DatagenError" && invalid.reason._tag, "InvalidConfig")
      }))
  })
})
