/**
 * Maze2D data in D4RL's layout and conventions (scripts/generation/generate_maze2d_datasets.py --noisy, then
 * relabel_maze2d_rewards.py): shapes, timeouts, stale rows, relabelled rewards, determinism, and that the scripted
 * controller's behaviour scores far above a uniform-random policy.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Maze2dData from "../../src/datagen/Maze2dData.ts"
import * as Environment from "../../src/env/Environment.ts"
import * as Maze2d from "../../src/env/Maze2d.ts"
import * as Mujoco from "../../src/env/Mujoco.ts"

let runtime: Mujoco.Runtime
beforeAll(async () => {
  runtime = await Mujoco.load()
})
afterAll(() => runtime.probe.delete())

const config = (fields: Record<string, unknown>) => Schema.decodeUnknownSync(Maze2dData.Maze2dDataConfig)(fields)

/** An infos/* array (Float32Array for the maze data). */
const info = (ds: OfflineDataset.OfflineDataset, key: string): Float32Array => ds.infos[key].data as Float32Array

const sameArray = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.prototype.every.call(a, (x: number, i: number) => Object.is(x, b[i]))

describe("Maze2dData", () => {
  it("uses D4RL's sizes, noise and task names by default", () => {
    const c = config({ maze: "medium" })
    assert.strictEqual(Maze2dData.sizeOf(c), 2_000_000)
    assert.strictEqual(c.actionNoise, 0.5)
    assert.strictEqual(Maze2dData.taskName(c), "maze2d-medium-v1")
    assert.strictEqual(Maze2dData.taskName(config({ maze: "large", reward: "dense" })), "maze2d-large-dense-v1")
    assert.deepStrictEqual(Maze2dData.defaultSizes, { umaze: 1_000_000, medium: 2_000_000, large: 4_000_000 })
  })

  it("is deterministic by seed: same seed → identical arrays, another seed → other data", () => {
    const a = Maze2dData.generateSync(runtime, config({ maze: "umaze", size: 3000, seed: 7 }))
    const b = Maze2dData.generateSync(runtime, config({ maze: "umaze", size: 3000, seed: 7 }))
    const c = Maze2dData.generateSync(runtime, config({ maze: "umaze", size: 3000, seed: 8 }))
    for (const key of ["observations", "actions", "rewards", "timeouts"] as const) assert.isTrue(sameArray(a[key], b[key]), key)
    for (const key of ["goal", "qpos", "qvel"]) assert.isTrue(sameArray(info(a, key), info(b, key)), key)
    assert.isFalse(sameArray(a.observations, c.observations))
  })

  it("follows D4RL's layout: shapes, no next_observations, no terminals, actions in ±1, rewards from s", () => {
    const n = 20_000
    const ds = Maze2dData.generateSync(runtime, config({ maze: "umaze", size: n, seed: 1 }))
    assert.strictEqual(ds.size, n)
    assert.strictEqual(ds.observations.length, 4 * n)
    assert.strictEqual(ds.actions.length, 2 * n)
    assert.isUndefined(ds.nextObservations)
    assert.deepStrictEqual(Object.keys(ds.infos).sort(), ["goal", "qpos", "qvel"])
    for (const key of ["goal", "qpos", "qvel"]) assert.deepStrictEqual(ds.infos[key].shape, [n, 2])
    assert.isTrue(ds.terminals.every((t) => t === 0))
    assert.isTrue(ds.actions.every((a) => a >= -1 && a <= 1))
    // the noise is there: many actions saturate, not all of them
    const saturated = ds.actions.filter((a) => Math.abs(a) === 1).length / ds.actions.length
    assert.isAbove(saturated, 0.2)
    assert.isBelow(saturated, 0.95)
    // sparse relabel against the fixed goal (1, 1), from the observation of the same row
    for (let i = 0; i < n; i++) {
      const d = Math.sqrt((ds.observations[4 * i] - 1) ** 2 + (ds.observations[4 * i + 1] - 1) ** 2)
      if (ds.rewards[i] !== (d <= 0.5 ? 1 : 0)) assert.fail(`row ${i}: reward ${ds.rewards[i]} at distance ${d}`)
    }
  })

  it("puts timeouts where the target is reached or after 300 steps, and keeps D4RL's stale row after each", () => {
    const n = 30_000
    const ds = Maze2dData.generateSync(runtime, config({ maze: "umaze", size: n, seed: 2 }))
    const goal = info(ds, "goal")
    const qpos = info(ds, "qpos")
    let start = 0
    let segments = 0
    for (let i = 0; i < n; i++) {
      if (ds.timeouts[i] === 0) continue
      const length = i - start + 1
      // done fires at ts ≥ 300 at the latest: 301 rows per segment at most
      assert.isAtMost(length, Maze2d.maxEpisodeSteps.umaze + 1)
      for (let j = start; j <= i; j++) {
        if (goal[2 * j] !== goal[2 * start] || goal[2 * j + 1] !== goal[2 * start + 1]) assert.fail(`target changed inside a segment at ${j}`)
      }
      if (i + 1 < n) {
        // D4RL does not advance s after `done`: the next row repeats the observation while the simulator moved on
        assert.isTrue(sameArray(ds.observations.subarray(4 * i, 4 * i + 4), ds.observations.subarray(4 * i + 4, 4 * i + 8)))
        assert.isFalse(qpos[2 * i] === qpos[2 * i + 2] && qpos[2 * i + 1] === qpos[2 * i + 3])
        // targets lie within 0.1 of a cell centre
        const [gx, gy] = [goal[2 * i + 2], goal[2 * i + 3]]
        assert.isAtMost(Math.abs(gx - Math.round(gx)), 0.1 + 1e-6)
        assert.isAtMost(Math.abs(gy - Math.round(gy)), 0.1 + 1e-6)
      }
      start = i + 1
      segments++
    }
    // D4RL's maze2d-umaze-v1 has one timeout per ~80 steps (its first ones: 91, 144, 230)
    assert.isAbove(segments, n / 150)
    assert.isBelow(segments, n / 40)
  })

  it("records the true state in every row when the stale-row quirk is off", () => {
    const ds = Maze2dData.generateSync(runtime, config({ maze: "medium", size: 5000, seed: 3, staleObservationAfterDone: false }))
    const qpos = info(ds, "qpos")
    const qvel = info(ds, "qvel")
    for (let i = 0; i < ds.size; i++) {
      const row = [qpos[2 * i], qpos[2 * i + 1], qvel[2 * i], qvel[2 * i + 1]]
      if (!sameArray(ds.observations.subarray(4 * i, 4 * i + 4), row)) assert.fail(`row ${i} differs from qpos‖qvel`)
    }
  })

  it("scores far above a uniform-random policy, in the data and as a behaviour", () => {
    // D4RL's data chases random targets and picks a new one on arrival, so its reward per step (against the fixed
    // goal) is about random's; what sets it apart is that it reaches its targets, and that the controller, pointed
    // at the goal, scores far above random on the task.
    const solvedFraction = (actionNoise: number): number => {
      const ds = Maze2dData.generateSync(runtime, config({ maze: "umaze", size: 30_000, seed: 4, actionNoise }))
      let segments = 0
      let solved = 0
      let start = 0
      for (let i = 0; i < ds.size; i++) {
        if (ds.timeouts[i] === 0) continue
        segments++
        if (i - start + 1 <= Maze2d.maxEpisodeSteps.umaze) solved++
        start = i + 1
      }
      return solved / segments
    }
    // σ = 1000 drowns the controller: the actions are uniformly random signs (bang-bang random policy)
    assert.isAbove(solvedFraction(0.5), 0.95)
    assert.isBelow(solvedFraction(1000), 0.5)

    const env = Maze2d.make(runtime, { maze: "umaze", batch: 50 })
    const random = Environment.rollout(env, (observations, t) => {
      const u = new Float64Array(observations.length / 2)
      Rng.fillUniform(Rng.at(Rng.named(0, "test.random"), t), u)
      return u.map((x) => 2 * x - 1)
    }, 0)
    env.close()
    const randomReturn = random.returns.reduce((s, r) => s + r, 0) / random.returns.length
    const behaviour = Maze2dData.evaluateBehaviour(runtime, config({ maze: "umaze" }), 20, 5)
    assert.isAbove(behaviour.mean, 4 * randomReturn)
    assert.isAbove(behaviour.normalizedScore, 100)
    assert.isBelow(Environment.normalizedScore("maze2d-umaze-v1", randomReturn), 30)
  })
})
