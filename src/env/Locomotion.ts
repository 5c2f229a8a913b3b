/**
 * HalfCheetah-v2, Hopper-v2 and Walker2d-v2 (gym/envs/mujoco/{half_cheetah,hopper,walker2d}.py, the v2
 * files D4RL imports) on mujoco-js, vectorised. The models are built in code (./models/), from the
 * published gym model parameters; a directory of model XMLs may be given instead to load other models.
 */
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as Rng from "../domain/Rng.ts"
import * as Environment from "./Environment.ts"
import * as HalfCheetah from "./models/HalfCheetah.ts"
import * as Hopper from "./models/Hopper.ts"
import * as Mjcf from "./models/Mjcf.ts"
import * as Walker2d from "./models/Walker2d.ts"
import * as Mujoco from "./Mujoco.ts"

/** The three D4RL locomotion tasks. */
export type Task = "halfcheetah" | "hopper" | "walker2d"

/** What differs between the tasks (the v2 env files and their model parameters). */
export interface TaskSpec {
  readonly name: Environment.ScoredTask
  /** The built-in model. */
  readonly model: Mjcf.Model
  /** Its file name in an assets directory given instead (Gymnasium's names). */
  readonly file: string
  /** `mj_step`s per env step. */
  readonly frameSkip: number
  readonly observationDim: number
  readonly actionDim: number
  /** w in the control cost w·‖a‖². */
  readonly controlCost: number
  /** Reward per step while healthy (alive bonus). */
  readonly healthyReward: number
  /** |qvel| bound in the observation; Infinity for none. */
  readonly observedVelocityBound: number
  /** Reset noise: "wide" qpos += U(±0.1), qvel += 0.1·N(0, 1); "narrow" qpos, qvel += U(±0.005). */
  readonly resetNoise: "wide" | "narrow"
}

/** Per-task settings. */
export const tasks: Readonly<Record<Task, TaskSpec>> = {
  halfcheetah: {
    name: "halfcheetah-v2",
    model: HalfCheetah.model,
    file: "half_cheetah.xml",
    frameSkip: HalfCheetah.frameSkip,
    observationDim: 17,
    actionDim: 6,
    controlCost: 0.1,
    healthyReward: 0,
    observedVelocityBound: Infinity,
    resetNoise: "wide"
  },
  hopper: {
    name: "hopper-v2",
    model: Hopper.model,
    file: "hopper.xml",
    frameSkip: Hopper.frameSkip,
    observationDim: 11,
    actionDim: 3,
    controlCost: 1e-3,
    healthyReward: 1,
    observedVelocityBound: 10,
    resetNoise: "narrow"
  },
  walker2d: {
    name: "walker2d-v2",
    model: Walker2d.model,
    file: "walker2d.xml",
    frameSkip: Walker2d.frameSkip,
    observationDim: 17,
    actionDim: 6,
    controlCost: 1e-3,
    healthyReward: 1,
    observedVelocityBound: 10,
    resetNoise: "narrow"
  }
}

/** Gym's time limit for the v2 locomotion tasks. */
export const maxEpisodeSteps = 1000

/**
 * A directory of model XMLs to load instead of the built-in models when `Options.assets` is not
 * given: `$DGRL_MUJOCO_ASSETS` when set and non-empty, else none.
 */
export const assetsOverride: string | undefined = process.env.DGRL_MUJOCO_ASSETS || undefined

/**
 * The v2 health test on qpos = (x, z, angle, joints…) and qvel; an unhealthy state terminates the episode.
 *   hopper:   s = qpos‖qvel finite, |s[2:]| < 100, z > 0.7, |angle| < 0.2
 *   walker2d: 0.8 < z < 2, −1 < angle < 1
 *   halfcheetah: always healthy
 */
export const isHealthy = (task: Task, qpos: ArrayLike<number>, qvel: ArrayLike<number>): boolean => {
  const z = qpos[1]
  const angle = qpos[2]
  switch (task) {
    case "halfcheetah":
      return true
    case "walker2d":
      return z > 0.8 && z < 2 && angle > -1 && angle < 1
    case "hopper": {
      for (let k = 0; k < qpos.length; k++) {
        if (!Number.isFinite(qpos[k]) || (k >= 2 && !(Math.abs(qpos[k]) < 100))) return false
      }
      for (let k = 0; k < qvel.length; k++) {
        if (!Number.isFinite(qvel[k]) || !(Math.abs(qvel[k]) < 100)) return false
      }
      return z > 0.7 && Math.abs(angle) < 0.2
    }
  }
}

/** Options of `make`. */
export interface Options {
  readonly task: Task
  readonly batch: number
  /**
   * A directory (path or file URL) holding the model XML to load instead of the built-in model, named
   * as `TaskSpec.file`; defaults to `assetsOverride`.
   */
  readonly assets?: string | URL
}

/** A locomotion environment with its timing and per-member state access. */
export interface LocomotionEnv extends Environment.VectorEnv, Mujoco.StateAccess {
  readonly name: Environment.ScoredTask
  readonly task: Task
  /** Seconds per env step: timestep × frameSkip. */
  readonly dt: number
}

/**
 * `batch` episodes of `task`. Step: ctrl := a (clipped to ±1), `mj_step` × frameSkip, then
 *   reward = (x' − x)/dt + healthyReward − controlCost·‖a‖²,  terminated = ¬isHealthy(qpos', qvel'),
 * obs = qpos[1:] ‖ clip(qvel, ±observedVelocityBound). Reset noise from the streams
 * "Locomotion.reset.{qpos,qvel}" at offset = member. Throws `EnvironmentError` when a model file is
 * given and is missing or invalid.
 */
export const make = (runtime: Mujoco.Runtime, options: Options): LocomotionEnv => {
  const { batch, task } = options
  const spec = tasks[task]
  if (spec === undefined) throw Environment.invalidOptions(String(task), `unknown locomotion task ${task}`)
  const { actionDim, frameSkip, name, observationDim } = spec
  Environment.checkBatch(name, batch)
  const assets = options.assets ?? assetsOverride
  const xml = assets === undefined ? Mjcf.toXml(spec.model) : readModel(name, new URL(spec.file, directoryUrl(assets)))
  const model = Mujoco.compile(runtime, name, xml)
  const { nq, nu, nv } = model
  if (nu !== actionDim || nq - 1 + nv !== observationDim) {
    model.delete()
    throw new Environment.EnvironmentError({
      environment: name,
      reason: new Environment.InvalidModel({
        message: `expected ${actionDim} actuators and ${observationDim} observations, the model has nu=${nu}, nq=${nq}, nv=${nv}`
      })
    })
  }
  const sim = Mujoco.makeBatch(runtime, model, batch)
  const { module } = runtime
  const dt = model.opt.timestep * frameSkip
  const qpos0 = Float64Array.from(model.qpos0 as Float64Array)
  const qposNoise = new Float64Array(nq)
  const qvelNoise = new Float64Array(nv)
  const bound = spec.observedVelocityBound

  const observe = (i: number, observations: Float64Array, qpos: Float64Array, qvel: Float64Array): void => {
    const o = i * observationDim
    for (let k = 1; k < nq; k++) observations[o + k - 1] = qpos[k]
    for (let k = 0; k < nv; k++) {
      const v = qvel[k]
      observations[o + nq - 1 + k] = v < -bound ? -bound : v > bound ? bound : v
    }
  }

  const { env, ensureOpen, observations } = Environment.vectorize({
    name,
    observationDim,
    actionDim,
    batch,
    maxEpisodeSteps,
    resetMember: (i, seed, obs) => {
      const qposKey = Rng.at(Rng.named(seed, "Locomotion.reset.qpos"), i)
      const qvelKey = Rng.at(Rng.named(seed, "Locomotion.reset.qvel"), i)
      Rng.fillUniform(qposKey, qposNoise)
      if (spec.resetNoise === "wide") {
        Rng.fillNormal(qvelKey, qvelNoise)
        for (let k = 0; k < nq; k++) qposNoise[k] = qpos0[k] + (-0.1 + 0.2 * qposNoise[k])
        for (let k = 0; k < nv; k++) qvelNoise[k] = 0.1 * qvelNoise[k]
      } else {
        Rng.fillUniform(qvelKey, qvelNoise)
        for (let k = 0; k < nq; k++) qposNoise[k] = qpos0[k] + (-0.005 + 0.01 * qposNoise[k])
        for (let k = 0; k < nv; k++) qvelNoise[k] = -0.005 + 0.01 * qvelNoise[k]
      }
      Mujoco.resetMember(runtime, sim, i, qposNoise, qvelNoise)
      observe(i, obs, sim.data.qpos as Float64Array, sim.data.qvel as Float64Array)
    },
    stepMember: (i, actions, obs, outcome) => {
      sim.activate(i)
      const { data } = sim
      const xBefore = (data.qpos as Float64Array)[0]
      const ctrl = data.ctrl as Float64Array
      let squaredNorm = 0
      for (let k = 0; k < actionDim; k++) {
        const a = actions[i * actionDim + k]
        ctrl[k] = a
        squaredNorm += a * a
      }
      for (let k = 0; k < frameSkip; k++) module.mj_step(model, data)
      const qpos = data.qpos as Float64Array
      const qvel = data.qvel as Float64Array
      outcome.reward = (qpos[0] - xBefore) / dt + spec.healthyReward - spec.controlCost * squaredNorm
      outcome.terminated = !isHealthy(task, qpos, qvel)
      observe(i, obs, qpos, qvel)
    },
    free: () => {
      sim.free()
      model.delete()
    }
  })

  return {
    ...env,
    name,
    task,
    dt,
    ...Mujoco.stateAccess(runtime, sim, { ensureOpen, observations, observationDim, observe })
  }
}

// internal

const directoryUrl = (assets: string | URL): URL => {
  const url = assets instanceof URL ? assets : pathToFileURL(resolve(assets))
  return url.href.endsWith("/") ? url : new URL(`${url.href}/`)
}

const readModel = (environment: string, url: URL): string => {
  try {
    return readFileSync(url, "utf8")
  } catch (cause) {
    throw new Environment.EnvironmentError({
      environment,
      reason: new Environment.ModelNotFound({
        path: fileURLToPath(url),
        message: cause instanceof Error ? cause.message : String(cause)
      })
    })
  }
}
