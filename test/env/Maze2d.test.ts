/**
 * Maze2D on mujoco-js: the generated MJCF, reward and velocity clip, determinism and batch
 * independence, and the uniform-random policy's return against D4RL's REF_MIN (d4rl/infos.py).
 */
import { beforeAll, describe, expect, it } from "vitest"
import * as Rng from "../../src/domain/Rng.ts"
import * as Environment from "../../src/env/Environment.ts"
import * as Maze2d from "../../src/env/Maze2d.ts"
import * as Mujoco from "../../src/env/Mujoco.ts"

let runtime: Mujoco.Runtime
beforeAll(async () => {
  runtime = await Mujoco.load()
})

const randomPolicy = (seed: number, actionDim: number): Environment.Policy => (observations, t) => {
  const u = new Float64Array((observations.length / 4) * actionDim)
  Rng.fillUniform(Rng.at(Rng.named(seed, "test.randomPolicy"), t), u)
  for (let k = 0; k < u.length; k++) u[k] = 2 * u[k] - 1
  return u
}

const meanAndSd = (xs: ArrayLike<number>): { mean: number; sd: number } => {
  let mean = 0
  for (let k = 0; k < xs.length; k++) mean += xs[k] / xs.length
  let ss = 0
  for (let k = 0; k < xs.length; k++) ss += (xs[k] - mean) ** 2
  return { mean, sd: Math.sqrt(ss / (xs.length - 1)) }
}

describe("Maze2d layouts and MJCF", () => {
  it("parses D4RL's mazes: sizes, goal cells and reset cells (empty cells, then the goal)", () => {
    const umaze = Maze2d.parse(Maze2d.layouts.umaze)
    expect([umaze.rows, umaze.cols]).toEqual([5, 5])
    expect(umaze.goal).toEqual([1, 1])
    expect(umaze.resetCells).toEqual([[1, 2], [1, 3], [2, 3], [3, 1], [3, 2], [3, 3], [1, 1]])
    expect(Maze2d.parse(Maze2d.layouts.medium).goal).toEqual([6, 6])
    expect(Maze2d.parse(Maze2d.layouts.large).goal).toEqual([7, 9])
    expect(Maze2d.parse(Maze2d.layouts.large).resetCells).toHaveLength(46)
  })

  it("compiles to a 2-DoF point mass with one box per wall, dt 0.01, Euler, no gravity", () => {
    const maze = Maze2d.parse(Maze2d.layouts.medium)
    const model = Mujoco.compile(runtime, "test", Maze2d.mjcf(maze))
    const walls = maze.walls.reduce((a, b) => a + b, 0)
    expect([model.nq, model.nv, model.nu]).toEqual([2, 2, 2])
    expect(model.ngeom).toBe(walls + 2)
    expect(model.opt.timestep).toBe(0.01)
    expect(model.opt.integrator).toBe(runtime.module.mjtIntegrator.mjINT_EULER.value)
    expect([...(model.opt.gravity as Float64Array)]).toEqual([0, 0, 0])
    expect([...(model.actuator_gear as Float64Array)].filter((g) => g !== 0)).toEqual([100, 100])
    model.delete()
  })
})

describe("Maze2d env", () => {
  it("names the D4RL tasks and their time limits", () => {
    for (const [maze, steps] of [["umaze", 300], ["medium", 600], ["large", 800]] as const) {
      const env = Maze2d.make(runtime, { maze, batch: 1 })
      expect([env.name, env.maxEpisodeSteps, env.observationDim, env.actionDim]).toEqual([`maze2d-${maze}-v1`, steps, 4, 2])
      env.close()
    }
    const dense = Maze2d.make(runtime, { maze: "large", batch: 1, reward: "dense" })
    expect(dense.name).toBe("maze2d-large-dense-v1")
    dense.close()
  })

  it("rewards [‖qpos − goal‖ ≤ 0.5] (sparse) or exp(−‖qpos − goal‖) (dense) after the step", () => {
    const sparse = Maze2d.make(runtime, { maze: "umaze", batch: 1 })
    const dense = Maze2d.make(runtime, { maze: "umaze", batch: 1, reward: "dense" })
    sparse.reset(0)
    dense.reset(0)
    for (const [x, y] of [[1, 1], [1.3, 1.3], [1.4, 1.4], [2.5, 3], [3, 1]]) {
      sparse.setState(0, [x, y], [0, 0])
      dense.setState(0, [x, y], [0, 0])
      const s = sparse.step(Float64Array.of(0, 0))
      const d = dense.step(Float64Array.of(0, 0))
      const distance = Math.hypot(s.observations[0] - 1, s.observations[1] - 1)
      expect(s.rewards[0]).toBe(distance <= 0.5 ? 1 : 0)
      expect(d.rewards[0]).toBeCloseTo(Math.exp(-distance), 14)
    }
    sparse.close()
    dense.close()
  })

  it("clips qvel to ±5 before each step and keeps the ball out of the walls", () => {
    const env = Maze2d.make(runtime, { maze: "umaze", batch: 1 })
    env.reset(0)
    env.setState(0, [1.0, 2.0], [40, -40])
    const { observations } = env.step(Float64Array.of(0, 0))
    // from a clipped (5, −5): one damped Euler step moves 0.05 per axis, nowhere near the unclipped 0.4
    expect(Math.abs(observations[0] - 1.0)).toBeLessThan(0.06)
    expect(Math.abs(observations[1] - 2.0)).toBeLessThan(0.06)
    env.setState(0, [3.0, 2.0], [0, 0])
    let obs: Float64Array = new Float64Array(4)
    for (let t = 0; t < 200; t++) obs = env.step(Float64Array.of(1, 0)).observations
    // row 4 is wall: its box spans world x ∈ [4.5, 5.5], i.e. qpos x ≤ 4.5 − 1.2 − 0.1 (+ contact softness)
    expect(obs[0]).toBeLessThan(3.25)
    expect(obs[0]).toBeGreaterThan(3.1)
    env.close()
  })

  it("resets at a reset cell + U(±0.1) with qvel = 0.1·N(0, 1)", () => {
    const env = Maze2d.make(runtime, { maze: "medium", batch: 500 })
    const obs = env.reset(5)
    const cells = new Set<string>()
    let velocitySquares = 0
    for (let i = 0; i < env.batch; i++) {
      const x = Math.round(obs[4 * i])
      const y = Math.round(obs[4 * i + 1])
      expect(Math.abs(obs[4 * i] - x)).toBeLessThanOrEqual(0.1)
      expect(Math.abs(obs[4 * i + 1] - y)).toBeLessThanOrEqual(0.1)
      expect(env.maze.resetCells).toContainEqual([x, y])
      cells.add(`${x},${y}`)
      velocitySquares += obs[4 * i + 2] ** 2 + obs[4 * i + 3] ** 2
    }
    expect(cells.size).toBe(env.maze.resetCells.length)
    expect(Math.sqrt(velocitySquares / (2 * env.batch))).toBeCloseTo(0.1, 1)
    env.close()
  })

  it("is deterministic by seed, and a member's trajectory is bit-identical to a lone episode's", () => {
    const run = (seed: number, batch: number): Array<number> => {
      const env = Maze2d.make(runtime, { maze: "large", batch })
      const policy = randomPolicy(seed, 2)
      const out = [...env.reset(seed)]
      for (let t = 0; t < 100; t++) out.push(...env.step(policy(new Float64Array(4 * batch), t)).observations)
      env.close()
      return out
    }
    const a = run(21, 3)
    expect(run(21, 3)).toEqual(a)
    expect(run(22, 3)).not.toEqual(a)
    const lone = Maze2d.make(runtime, { maze: "large", batch: 1 })
    const shared = Maze2d.make(runtime, { maze: "large", batch: 3 })
    const start = shared.reset(4)
    lone.reset(0)
    lone.setState(0, start.subarray(8, 10), start.subarray(10, 12))
    for (let t = 0; t < 100; t++) {
      const u = randomPolicy(1, 2)(new Float64Array(12), t)
      const s = shared.step(u).observations.subarray(8, 12)
      expect(lone.step(u.subarray(4, 6)).observations).toEqual(s)
    }
    lone.close()
    shared.close()
  })
})

// 20 000 episodes per maze (seeds 0–19, batch 1000) gave mean ± s.e. 27.94 ± 0.40 (umaze),
// 18.00 ± 0.40 (medium), 10.29 ± 0.30 (large), per-episode s.d. 56 / 57 / 43: 73–92 % of random
// episodes never touch the goal, so D4RL's 100-episode REF_MIN has a standard error of about
// 5.6 / 5.7 / 4.3 (23–64 % of its value). Checks: a two-sample z-test against REF_MIN at 3σ, the
// normalised score within ±15 points of 0, and our own 20k-episode mean at 4σ.
const randomMeans = { umaze: 27.94, medium: 18.0, large: 10.29 } as const

describe("Maze2d uniform-random policy vs D4RL REF_MIN", () => {
  const episodes = 400
  for (const maze of ["umaze", "medium", "large"] as const) {
    it(`${maze}: mean return is consistent with REF_MIN (${episodes} episodes)`, () => {
      const env = Maze2d.make(runtime, { maze, batch: episodes })
      const { lengths, returns } = Environment.rollout(env, randomPolicy(100, 2), 100)
      env.close()
      expect(new Set(lengths)).toEqual(new Set([env.maxEpisodeSteps]))
      const { mean, sd } = meanAndSd(returns)
      const refMin = Environment.referenceScores[env.name].min
      const standardError = Math.sqrt(sd ** 2 / episodes + sd ** 2 / 100)
      console.log(`${env.name}: random mean ${mean.toFixed(2)} (s.d. ${sd.toFixed(1)}), REF_MIN ${refMin}`)
      expect(Math.abs(mean - refMin)).toBeLessThan(3 * standardError)
      expect(Math.abs(Environment.normalizedScore(env.name, mean))).toBeLessThan(15)
      expect(Math.abs(mean - randomMeans[maze])).toBeLessThan(4 * sd / Math.sqrt(episodes))
    })
  }
})
