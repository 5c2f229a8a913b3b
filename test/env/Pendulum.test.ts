/**
 * Pendulum-v1: the step against Gymnasium's formula, the reset distribution, determinism by seed and
 * the Environment contract (time limit, action checks, closing).
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Environment from "../../src/env/Environment.ts"
import * as Pendulum from "../../src/env/Pendulum.ts"

const angle = fc.double({ min: -20, max: 20, noNaN: true })
const speed = fc.double({ min: -8, max: 8, noNaN: true })
const action = fc.double({ min: -3, max: 3, noNaN: true })

const constantPolicy = (value: number) => (observations: Float64Array) =>
  new Float64Array(observations.length / 3).fill(value)

describe("Pendulum", () => {
  it("angleNormalize wraps into [−π, π) and preserves the angle mod 2π", () => {
    fc.assert(
      fc.property(angle, (x) => {
        const r = Pendulum.angleNormalize(x)
        expect(r).toBeGreaterThanOrEqual(-Math.PI)
        expect(r).toBeLessThan(Math.PI)
        expect(Math.cos(r)).toBeCloseTo(Math.cos(x), 9)
        expect(Math.sin(r)).toBeCloseTo(Math.sin(x), 9)
      })
    )
    expect(Pendulum.angleNormalize(Math.PI)).toBeCloseTo(-Math.PI, 12)
    expect(Pendulum.angleNormalize(-3 * Math.PI / 2)).toBeCloseTo(Math.PI / 2, 12)
  })

  it("a step of the env follows Gymnasium's update with u = 2·clip(a, ±1)", () => {
    const env = Pendulum.make({ batch: 1 })
    env.reset(0)
    fc.assert(
      fc.property(fc.double({ min: -Math.PI, max: Math.PI, noNaN: true }), speed, action, (th, thdot, a) => {
        const obs0 = env.setState(0, { theta: th, thetaDot: thdot })
        expect([...obs0]).toEqual([Math.cos(th), Math.sin(th), thdot])
        const { observations, rewards } = env.step(Float64Array.of(a))
        const u = 2 * Math.min(1, Math.max(-1, a))
        const wrapped = ((th + Math.PI) % (2 * Math.PI) + 2 * Math.PI) % (2 * Math.PI) - Math.PI
        const cost = wrapped ** 2 + 0.1 * thdot ** 2 + 0.001 * u ** 2
        const newThdot = Math.min(8, Math.max(-8, thdot + (3 * 10 / 2 * Math.sin(th) + 3 * u) * 0.05))
        const newTh = th + newThdot * 0.05
        expect(rewards[0]).toBeCloseTo(-cost, 12)
        expect(observations[2]).toBeCloseTo(newThdot, 12)
        expect(observations[0]).toBeCloseTo(Math.cos(newTh), 12)
        expect(observations[1]).toBeCloseTo(Math.sin(newTh), 12)
        expect(env.state(0).theta).toBeCloseTo(newTh, 12)
      })
    )
  })

  it("clips the speed at 8 rad/s and the torque at 2 N·m", () => {
    const { next } = Pendulum.dynamics({ theta: Math.PI / 2, thetaDot: 7.9 }, 100)
    expect(next.thetaDot).toBe(8)
    expect(Pendulum.dynamics({ theta: 0, thetaDot: 0 }, 100).reward).toBeCloseTo(-0.001 * 4, 15)
  })

  it("resets θ ∼ U(−π, π), θ̇ ∼ U(−1, 1), every member differently", () => {
    const env = Pendulum.make({ batch: 2000 })
    const obs = env.reset(3)
    let sum = 0
    for (let i = 0; i < env.batch; i++) {
      const { theta, thetaDot } = env.state(i)
      expect(Math.abs(theta)).toBeLessThan(Math.PI)
      expect(Math.abs(thetaDot)).toBeLessThan(1)
      expect(obs[3 * i]).toBe(Math.cos(theta))
      sum += theta
    }
    expect(Math.abs(sum / env.batch)).toBeLessThan(4 * Math.PI / Math.sqrt(3 * env.batch))
    expect(new Set(Array.from({ length: env.batch }, (_, i) => env.state(i).theta)).size).toBe(env.batch)
  })

  it("is deterministic by seed: same seed, same trajectory bits; another seed differs", () => {
    const trajectory = (seed: number): Array<number> => {
      const env = Pendulum.make({ batch: 3 })
      const out = [...env.reset(seed)]
      for (let t = 0; t < 50; t++) out.push(...env.step(Float64Array.of(0.3, -0.7, Math.sin(t))).observations)
      return out
    }
    expect(trajectory(11)).toEqual(trajectory(11))
    expect(trajectory(12)).not.toEqual(trajectory(11))
  })

  it("a member's episode does not depend on the batch size", () => {
    const small = Pendulum.make({ batch: 1 })
    const large = Pendulum.make({ batch: 5 })
    expect(large.reset(9).subarray(0, 3)).toEqual(small.reset(9))
    for (let t = 0; t < 20; t++) {
      const a = Math.cos(t)
      expect(large.step(new Float64Array(5).fill(a)).observations.subarray(0, 3)).toEqual(
        small.step(Float64Array.of(a)).observations
      )
    }
  })

  it("runs 200 steps, never terminates, and rolls out one episode per member", () => {
    const env = Pendulum.make({ batch: 4 })
    const result = Environment.rollout(env, constantPolicy(0), 1)
    expect([...result.lengths]).toEqual([200, 200, 200, 200])
    expect([...result.terminated]).toEqual([0, 0, 0, 0])
    for (const r of result.returns) expect(r).toBeLessThan(0)
  })

  it("rejects wrong action shapes and non-finite actions, and refuses to step once closed", () => {
    const env = Pendulum.make({ batch: 2 })
    env.reset(0)
    const reasonOf = (run: () => unknown): string => {
      try {
        run()
      } catch (error) {
        expect(error).toBeInstanceOf(Environment.EnvironmentError)
        const e = error as Environment.EnvironmentError
        expect(e.environment).toBe("Pendulum-v1")
        return e.reason._tag
      }
      throw new Error("expected a failure")
    }
    expect(reasonOf(() => env.step(new Float64Array(3)))).toBe("InvalidAction")
    expect(reasonOf(() => env.step(Float64Array.of(0, Number.NaN)))).toBe("InvalidAction")
    expect(reasonOf(() => Pendulum.make({ batch: 0 }))).toBe("InvalidOptions")
    env.close()
    env.close()
    expect(reasonOf(() => env.step(new Float64Array(2)))).toBe("Closed")
    expect(reasonOf(() => env.reset(0))).toBe("Closed")
  })
})
