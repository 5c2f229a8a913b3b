/**
 * The Pendulum dataset of `npm start`: the controller really swings up and balances (checked on the simulated state,
 * not on a return computed by the same code), the behaviour replaces the controller's action at the configured rate,
 * the file layout is D4RL's, and the normalised score maps its references to 0 and 100.
 */
import { describe, expect, it } from "vitest"
import { Schema } from "effect"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import * as PendulumData from "../../src/datagen/PendulumData.ts"
import * as Pendulum from "../../src/env/Pendulum.ts"

const config = (fields: Record<string, unknown>) => Schema.decodeUnknownSync(PendulumData.PendulumDataConfig)(fields)

/** θ after `steps` steps of the controller from (θ, θ̇). */
const runController = (theta: number, thetaDot: number, steps: number) => {
  const env = Pendulum.make({ batch: 1 })
  env.reset(0)
  let obs = env.setState(0, { theta, thetaDot })
  let last = 0
  for (let t = 0; t < steps; t++) {
    obs = env.step(PendulumData.controller(obs)).observations
    if (Math.cos(env.state(0).theta) < 0.99) last = t
  }
  const state = env.state(0)
  env.close()
  return { theta: Pendulum.angleNormalize(state.theta), thetaDot: state.thetaDot, lastStepAwayFromTop: last }
}

describe("PendulumData", () => {
  it("the controller swings up from hanging at rest and then stays upright", () => {
    const r = runController(Math.PI, 0, 200)
    expect(Math.abs(r.theta)).toBeLessThan(0.05)
    expect(Math.abs(r.thetaDot)).toBeLessThan(0.05)
    // it is up well before the episode ends (swing-up with |u| ≤ 2 takes a few pumps)
    expect(r.lastStepAwayFromTop).toBeLessThan(150)
  })

  it("the controller balances a small offset", () => {
    const r = runController(0.3, -0.5, 60)
    expect(Math.abs(r.theta)).toBeLessThan(1e-3)
  })

  it("replaces the controller's action by a uniform one at the configured rate", () => {
    const c = config({ episodes: 40, replaceShare: 0.3, controllerNoise: 0 })
    const ds = PendulumData.generate(c)
    const controller = PendulumData.controller(Float64Array.from(ds.observations))
    let kept = 0
    let inside = true
    for (let i = 0; i < ds.size; i++) {
      // a uniform draw lands within 1e-3 of the controller's action with probability 1e-3
      if (Math.abs(ds.actions[i] - controller[i]) < 1e-3) kept++
      inside &&= Math.abs(ds.actions[i]) <= 1
    }
    expect(inside).toBe(true)
    // 0.7 up to binomial noise (σ ≈ 0.005 at 8000 rows), the 1e-3 coincidences and a few rows whose stored f32
    // observation puts them on the other side of the controller's switch
    expect(Math.abs(kept / ds.size - 0.7)).toBeLessThan(0.02)
  })

  it("writes D4RL's layout: episodes one after the other, next observations, a timeout on each last step", () => {
    const ds = PendulumData.generate(config({ episodes: 6 }))
    expect(OfflineDataset.validate(ds)._tag).toBe("Success")
    expect(ds.size).toBe(6 * Pendulum.maxEpisodeSteps)
    const episodes = OfflineDataset.episodes(ds)
    expect(episodes.map((e) => e.end - e.start)).toEqual(Array(6).fill(Pendulum.maxEpisodeSteps))
    expect(episodes.every((e) => e.timeout && !e.terminal)).toBe(true)
    // within an episode, s_{t+1} = s'_t
    for (let i = 0; i + 1 < Pendulum.maxEpisodeSteps; i++) {
      for (let k = 0; k < 3; k++) expect(ds.observations[3 * (i + 1) + k]).toBe(ds.nextObservations![3 * i + k])
    }
    expect(ds.metadata.env_name).toBe("Pendulum-v1")
  })

  it("scores the references 0 and 100, and the controller far above random", () => {
    const refs = PendulumData.references(20, 3)
    expect(PendulumData.normalizedScore(refs, refs.random)).toBe(0)
    expect(PendulumData.normalizedScore(refs, refs.controller)).toBeCloseTo(100, 10)
    // random torques leave it hanging (cost ≈ π² a step at the bottom); the controller is up within ~2 s
    expect(refs.random).toBeLessThan(-800)
    expect(refs.controller).toBeGreaterThan(-400)
  })
})
