/**
 * HalfCheetah/Hopper/Walker2d-v2 on mujoco-js: v2 reward terms recomputed by hand from a known state,
 * termination on crafted states, observation layout, reset noise, determinism, batch independence,
 * an assets directory replacing the built-in models, model errors with MuJoCo's message, and that
 * closing frees the wasm heap. (The built-in models themselves: LocomotionModels.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Rng from "../../src/domain/Rng.ts"
import * as Environment from "../../src/env/Environment.ts"
import * as Locomotion from "../../src/env/Locomotion.ts"
import * as Mjcf from "../../src/env/models/Mjcf.ts"
import * as Mujoco from "../../src/env/Mujoco.ts"

let runtime: Mujoco.Runtime
let scratch: string
beforeAll(async () => {
  runtime = await Mujoco.load()
  scratch = mkdtempSync(join(tmpdir(), "dgrl-env-"))
})
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const tasks = ["halfcheetah", "hopper", "walker2d"] as const

const uniformActions = (seed: number, t: number, n: number): Float64Array => {
  const u = new Float64Array(n)
  Rng.fillUniform(Rng.at(Rng.named(seed, "test.randomPolicy"), t), u)
  for (let k = 0; k < n; k++) u[k] = 2 * u[k] - 1
  return u
}

const reasonOf = (run: () => unknown): Environment.EnvironmentErrorReason => {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(Environment.EnvironmentError)
    return (error as Environment.EnvironmentError).reason
  }
  throw new Error("expected an EnvironmentError")
}

/** qpos0 of each task, as the XMLs define it (rootz of hopper/walker2d has ref = 1.25). */
const standing = (task: Locomotion.Task): Array<number> =>
  task === "hopper" ? [0, 1.25, 0, 0, 0, 0] : [0, task === "walker2d" ? 1.25 : 0, 0, 0, 0, 0, 0, 0, 0]

describe("Locomotion v2 reward, by hand", () => {
  for (const task of tasks) {
    it(`${task}: (x' − x)/dt + healthy − w·‖clip(a)‖² from a set state`, () => {
      const env = Locomotion.make(runtime, { task, batch: 1 })
      env.reset(0)
      const qpos = standing(task).map((q, k) => q + 0.01 * Math.sin(k + 1))
      const qvel = standing(task).map((_, k) => (k === 0 ? 1.5 : 0.1 * Math.cos(k)))
      env.setState(0, qpos, qvel)
      const action = Array.from({ length: env.actionDim }, (_, k) => (k === 0 ? 3 : k === 1 ? -2 : 0.25 * k))
      const clipped = action.map((a) => Math.min(1, Math.max(-1, a)))
      const x0 = env.state(0).qpos[0]
      const { observations, rewards, terminated } = env.step(Float64Array.from(action))
      const after = env.state(0)
      const dt = task === "halfcheetah" ? 0.01 * 5 : 0.002 * 4
      expect(env.dt).toBe(dt)
      const forward = (after.qpos[0] - x0) / dt
      const control = clipped.reduce((s, a) => s + a * a, 0)
      const expected = task === "halfcheetah" ? forward - 0.1 * control : forward + 1 - 1e-3 * control
      expect(forward).toBeGreaterThan(0.5)
      expect(rewards[0]).toBeCloseTo(expected, 10)
      expect(terminated[0]).toBe(0)
      const bound = task === "halfcheetah" ? Infinity : 10
      expect([...observations]).toEqual([
        ...after.qpos.slice(1),
        ...[...after.qvel].map((v) => Math.min(bound, Math.max(-bound, v)))
      ])
      env.close()
    })
  }
})

describe("Locomotion observations and termination", () => {
  it("clips qvel at ±10 in hopper/walker2d observations, not in halfcheetah's", () => {
    for (const task of tasks) {
      const env = Locomotion.make(runtime, { task, batch: 1 })
      env.reset(0)
      const qvel = standing(task).map((_, k) => (k === 3 ? 50 : k === 4 ? -50 : 0))
      const obs = env.setState(0, standing(task), qvel)
      const nq = standing(task).length
      expect(obs.length).toBe(env.observationDim)
      expect([obs[nq - 1 + 3], obs[nq - 1 + 4]]).toEqual(task === "halfcheetah" ? [50, -50] : [10, -10])
      env.close()
    }
  })

  it("isHealthy follows the v2 rules on crafted states", () => {
    const hop = (z: number, angle: number, rest = 0, v = 0): boolean =>
      Locomotion.isHealthy("hopper", [123, z, angle, rest, 0, 0], [v, 0, 0, 0, 0, 0])
    expect(hop(1.25, 0)).toBe(true)
    expect(hop(0.7, 0)).toBe(false)
    expect(hop(0.71, 0.19)).toBe(true)
    expect(hop(1.25, 0.2)).toBe(false)
    expect(hop(1.25, -0.2)).toBe(false)
    expect(hop(1.25, 0, 100)).toBe(false)
    expect(hop(1.25, 0, 99)).toBe(true)
    expect(hop(1.25, 0, 0, -100)).toBe(false)
    expect(hop(1.25, 0, Number.NaN)).toBe(false)
    expect(Locomotion.isHealthy("hopper", [Infinity, 1.25, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0])).toBe(false)
    const walk = (z: number, angle: number): boolean =>
      Locomotion.isHealthy("walker2d", [5, z, angle, 3, 3, 3, 3, 3, 3], [200, 0, 0, 0, 0, 0, 0, 0, 0])
    expect(walk(1.25, 0)).toBe(true)
    expect(walk(0.8, 0)).toBe(false)
    expect(walk(2, 0)).toBe(false)
    expect(walk(1.99, 0.99)).toBe(true)
    expect(walk(1.25, 1)).toBe(false)
    expect(walk(1.25, -1)).toBe(false)
    expect(Locomotion.isHealthy("halfcheetah", [0, -5, Math.PI, 0, 0, 0, 0, 0, 0], new Array(9).fill(1e6))).toBe(true)
  })

  it("terminates hopper and walker2d episodes from unhealthy states, and stays done", () => {
    const cases: Array<[Locomotion.Task, (q: Array<number>, v: Array<number>) => void, boolean]> = [
      ["hopper", () => {}, false],
      ["hopper", (q) => (q[1] = 0.6), true],
      ["hopper", (q) => (q[2] = 0.35), true],
      ["hopper", (q) => (q[2] = -0.35), true],
      ["hopper", (_, v) => (v[0] = 150), true],
      ["hopper", (q) => (q[0] = 150), false],
      ["walker2d", () => {}, false],
      ["walker2d", (q) => (q[1] = 0.6), true],
      ["walker2d", (q) => (q[1] = 2.5), true],
      ["walker2d", (q) => (q[2] = 1.3), true],
      ["walker2d", (q) => (q[2] = -1.3), true],
      ["halfcheetah", (q) => (q[2] = Math.PI), false]
    ]
    for (const [task, craft, expected] of cases) {
      const env = Locomotion.make(runtime, { task, batch: 2 })
      env.reset(0)
      const qpos = standing(task)
      const qvel = standing(task).map(() => 0)
      craft(qpos, qvel)
      env.setState(1, qpos, qvel)
      const zeros = new Float64Array(2 * env.actionDim)
      const first = env.step(zeros)
      expect([task, first.terminated[1]]).toEqual([task, expected ? 1 : 0])
      expect(first.terminated[0]).toBe(0)
      if (expected) {
        const second = env.step(zeros)
        expect(second.terminated[1]).toBe(1)
        expect(second.rewards[1]).toBe(0)
        const d = env.observationDim
        expect(second.observations.subarray(d, 2 * d)).toEqual(first.observations.subarray(d, 2 * d))
        expect(second.rewards[0]).not.toBe(0)
      }
      env.close()
    }
  })

  it("resets with the v2 noise: U(±0.1)/0.1·N(0, 1) for halfcheetah, U(±0.005) for hopper and walker2d", () => {
    for (const task of tasks) {
      const env = Locomotion.make(runtime, { task, batch: 200 })
      env.reset(1)
      const q0 = standing(task)
      const wide = task === "halfcheetah"
      let squares = 0
      for (let i = 0; i < env.batch; i++) {
        const { qpos, qvel } = env.state(i)
        qpos.forEach((q, k) => expect(Math.abs(q - q0[k])).toBeLessThanOrEqual(wide ? 0.1 : 0.005))
        qvel.forEach((v) => {
          if (!wide) expect(Math.abs(v)).toBeLessThanOrEqual(0.005)
          squares += v * v
        })
      }
      const rms = Math.sqrt(squares / (env.batch * q0.length))
      expect(rms).toBeCloseTo(wide ? 0.1 : 0.005 / Math.sqrt(3), wide ? 2 : 3)
      env.close()
    }
  })
})

describe("Locomotion determinism", () => {
  for (const task of tasks) {
    it(`${task}: same seed → same bits, other seed → different; member i equals a lone episode`, () => {
      const run = (seed: number): Array<number> => {
        const env = Locomotion.make(runtime, { task, batch: 2 })
        const out = [...env.reset(seed)]
        for (let t = 0; t < 30; t++) {
          const r = env.step(uniformActions(seed, t, 2 * env.actionDim))
          out.push(...r.observations, ...r.rewards, ...r.terminated)
        }
        env.close()
        return out
      }
      const a = run(5)
      expect(run(5)).toEqual(a)
      expect(run(6)).not.toEqual(a)

      const shared = Locomotion.make(runtime, { task, batch: 3 })
      const lone = Locomotion.make(runtime, { task, batch: 1 })
      shared.reset(8)
      lone.reset(0)
      const start = shared.state(2)
      lone.setState(0, start.qpos, start.qvel)
      const m = shared.actionDim
      const d = shared.observationDim
      for (let t = 0; t < 30; t++) {
        const u = uniformActions(9, t, 3 * m)
        const s = shared.step(u)
        const l = lone.step(u.subarray(2 * m, 3 * m))
        expect(l.observations).toEqual(s.observations.subarray(2 * d, 3 * d))
        expect([l.rewards[0], l.terminated[0]]).toEqual([s.rewards[2], s.terminated[2]])
      }
      shared.close()
      lone.close()
    })
  }
})

describe("Locomotion model loading and freeing", () => {
  it("loads the model XML from an assets directory instead of the built-in one", () => {
    const dir = mkdtempSync(join(scratch, "assets-"))
    const hopper = Locomotion.tasks.hopper.model
    writeFileSync(join(dir, "hopper.xml"), Mjcf.toXml({ ...hopper, option: { ...hopper.option, timestep: 0.005 } }))
    const env = Locomotion.make(runtime, { task: "hopper", batch: 1, assets: dir })
    expect(env.dt).toBe(0.005 * 4)
    env.close()
  })

  it("fails with ModelNotFound naming the path when the XML is missing", () => {
    const reason = reasonOf(() => Locomotion.make(runtime, { task: "hopper", batch: 1, assets: join(scratch, "none") }))
    expect(reason._tag).toBe("ModelNotFound")
    expect((reason as Environment.ModelNotFound).path).toBe(join(scratch, "none", "hopper.xml"))
  })

  it("fails with InvalidModel carrying MuJoCo's message for bad XML", () => {
    const dir = mkdtempSync(join(scratch, "bad-"))
    writeFileSync(join(dir, "half_cheetah.xml"), `not xml <<`)
    writeFileSync(join(dir, "hopper.xml"), `<mujoco><compiler coordinate="global"/></mujoco>`)
    writeFileSync(join(dir, "walker2d.xml"), `<mujoco><worldbody><geom type="nope"/></worldbody></mujoco>`)
    const messages = tasks.map((task) => {
      const reason = reasonOf(() => Locomotion.make(runtime, { task, batch: 1, assets: dir }))
      expect(reason._tag).toBe("InvalidModel")
      return reason.message
    })
    expect(messages[0]).toContain("XML parse error")
    expect(messages[1]).toContain("global coordinates no longer supported")
    expect(messages[2]).toContain("invalid keyword: 'nope'")
  })

  it("fails with InvalidModel when the XML is another robot", () => {
    const dir = mkdtempSync(join(scratch, "swap-"))
    writeFileSync(join(dir, "hopper.xml"), `<mujoco><worldbody><body><joint type="slide"/><geom size="0.1"/></body></worldbody></mujoco>`)
    const reason = reasonOf(() => Locomotion.make(runtime, { task: "hopper", batch: 1, assets: dir }))
    expect(reason._tag).toBe("InvalidModel")
    expect(reason.message).toContain("expected 3 actuators")
  })

  it("creating and closing 50 environments does not grow the wasm heap", () => {
    const cycle = (k: number): void => {
      const env = Locomotion.make(runtime, { task: tasks[k % 3], batch: 4 })
      env.reset(k)
      env.step(new Float64Array(4 * env.actionDim))
      env.close()
    }
    for (let k = 0; k < 3; k++) cycle(k)
    const before = Mujoco.heapBytes(runtime)
    for (let k = 0; k < 50; k++) cycle(k)
    expect(Mujoco.heapBytes(runtime)).toBeLessThanOrEqual(before + 16 * 2 ** 20)
    const leaked = Array.from({ length: 6 }, (_, k) => Locomotion.make(runtime, { task: tasks[k % 3], batch: 1 }))
    expect(Mujoco.heapBytes(runtime)).toBeGreaterThan(before)
    leaked.forEach((env) => env.close())
  })
})
