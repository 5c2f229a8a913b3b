/**
 * The dynamics error's state setter and metric (mujoco-js). Transitions recorded from the environment itself must
 * give ≈ 0 error: exactly 0 up to the solver's warm start from f64 observations, and only the rounding's effect from
 * observations stored as float32 (as D4RL files are), for hopper, walker2d and halfcheetah. The same transitions
 * with the actions of other rows, or with s′ moved by 0.01, give errors orders of magnitude larger, so the check
 * can fail. `byPosition` against means and standard errors computed by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Rng from "../../src/domain/Rng.ts"
import * as DynamicsError from "../../src/env/DynamicsError.ts"
import * as Locomotion from "../../src/env/Locomotion.ts"
import * as Mujoco from "../../src/env/Mujoco.ts"

let runtime: Mujoco.Runtime
beforeAll(async () => {
  runtime = await Mujoco.load()
})
const envs: Array<Locomotion.LocomotionEnv> = []
afterAll(() => envs.forEach((e) => e.close()))

/**
 * Trajectories of `length` observations of uniform random actions on [−0.3, 0.3] from reset (full-range random
 * actions spin walker2d's joints past the ±10 velocity clip within a few steps), members that stayed healthy only.
 */
const record = (task: Locomotion.Task, count: number, length: number) => {
  const env = Locomotion.make(runtime, { task, batch: count })
  envs.push(env)
  const { actionDim: A, observationDim: S } = env
  const observations = new Float64Array(count * length * S)
  const actions = new Float64Array(count * length * A)
  let obs = env.reset(5)
  let alive = new Uint8Array(count).fill(1)
  for (let t = 0; t < length; t++) {
    const a = new Float64Array(count * A)
    Rng.fillUniform(Rng.at(Rng.named(1, "dynamics-test"), t), a)
    for (let k = 0; k < a.length; k++) a[k] = 0.3 * (2 * a[k] - 1)
    for (let j = 0; j < count; j++) {
      observations.set(obs.subarray(j * S, (j + 1) * S), (j * length + t) * S)
      actions.set(a.subarray(j * A, (j + 1) * A), (j * length + t) * A)
    }
    const step = env.step(a)
    alive = alive.map((x, j) => (step.terminated[j] === 1 && t < length - 1 ? 0 : x))
    obs = step.observations
  }
  const keep = Array.from({ length: count }, (_, j) => j).filter((j) => alive[j] === 1)
  const pick = (xs: Float64Array, width: number) => Float64Array.from(keep.flatMap((j) => Array.from(xs.subarray(j * length * width, (j + 1) * length * width))))
  return { env, trajectories: { count: keep.length, length, observations: pick(observations, S), actions: pick(actions, A) } }
}

describe("DynamicsError", () => {
  it.each(["hopper", "walker2d", "halfcheetah"] as const)("%s: transitions of the environment itself give ≈ 0 error", (task) => {
    const { env, trajectories } = record(task, 6, 12)
    expect(trajectories.count).toBeGreaterThanOrEqual(3)
    const exact = DynamicsError.trajectoryErrors(env, trajectories)
    const rounded = DynamicsError.trajectoryErrors(env, {
      ...trajectories, observations: Float64Array.from(Float32Array.from(trajectories.observations))
    })
    // The other rows' actions, and s′ moved by 0.01 in every coordinate.
    const transitions = DynamicsError.transitionsOf(env, trajectories)
    const n = transitions.observations.length / env.observationDim
    const shifted = Float64Array.from({ length: transitions.actions.length }, (_, i) => transitions.actions[(i + env.actionDim) % transitions.actions.length])
    const wrongActions = DynamicsError.transitionErrors(env, { ...transitions, actions: shifted }).errors
    const moved = DynamicsError.transitionErrors(env, { ...transitions, nextObservations: Float64Array.from(transitions.nextObservations, (x) => x + 0.01) }).errors
    const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length
    // A velocity observed at its clip (±10, hopper and walker2d) may stand for a larger one: those rows are counted
    // and left out here; every other row must be rebuilt exactly.
    const rebuilt = (xs: Float64Array) => Array.from(xs).filter((_, i) => exact.atVelocityBound[i] === 0)
    const atBound = exact.atVelocityBound.reduce((a, b) => a + b, 0)
    console.log(
      `${task}: ${n} transitions, ${atBound} starting at the velocity clip; mean error of the others: f64 ${mean(rebuilt(exact.errors)).toExponential(2)}, ` +
        `f32 ${mean(rebuilt(rounded.errors)).toExponential(2)}, other actions ${mean(rebuilt(wrongActions)).toExponential(2)}, s′ + 0.01 ${mean(rebuilt(moved)).toExponential(2)}`
    )
    expect(atBound).toBeLessThan(n / 4)
    expect(Math.max(...rebuilt(exact.errors))).toBeLessThan(1e-12)
    expect(Math.max(...rebuilt(rounded.errors))).toBeLessThan(1e-9)
    expect(mean(rebuilt(moved))).toBeCloseTo(1e-4, 8)
    expect(mean(rebuilt(wrongActions))).toBeGreaterThan(1e-4)
    expect(exact.byPosition).toHaveLength(11)
  })

  it("byPosition: mean and standard error over trajectories at each position", () => {
    // 3 trajectories × 2 positions.
    const errors = [1, 10, 2, 20, 6, 60]
    const [p0, p1] = DynamicsError.byPosition(errors, 3, 2)
    expect(p0).toMatchObject({ position: 0, count: 3, mean: 3 })
    expect(p0.standardError).toBeCloseTo(Math.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 2 / 3), 12)
    expect(p1).toMatchObject({ position: 1, count: 3, mean: 30 })
    expect(p1.standardError).toBeCloseTo(10 * p0.standardError, 12)
    expect(DynamicsError.byPosition([4, 5], 1, 2).map((p) => p.standardError)).toEqual([0, 0])
  })

  it("stateOf: qpos = (0, o[0 .. nq − 2]), qvel = the rest (hopper: nq = nv = 6, 11 values)", () => {
    const o = Array.from({ length: 11 }, (_, i) => i + 1)
    const { qpos, qvel } = DynamicsError.stateOf(6, 6, o)
    expect(Array.from(qpos)).toEqual([0, 1, 2, 3, 4, 5])
    expect(Array.from(qvel)).toEqual([6, 7, 8, 9, 10, 11])
  })
})
