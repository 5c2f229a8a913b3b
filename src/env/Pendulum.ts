/**
 * Pendulum-v1 in pure TypeScript, vectorised, after Gymnasium's classic_control/pendulum.py
 * (https://github.com/Farama-Foundation/Gymnasium/blob/main/gymnasium/envs/classic_control/pendulum.py).
 * The action a ∈ [−1, 1] is the torque in units of maxTorque (u = 2a), as NormalizedBoxEnv would map it.
 */
import * as Rng from "../domain/Rng.ts"
import * as Environment from "./Environment.ts"

/** Gravity g (m/s²), as Pendulum-v1's default. */
export const gravity = 10
/** Pendulum mass m (kg) and length l (m). */
export const mass = 1
export const length = 1
/** Integration step (s). */
export const dt = 0.05
/** Angular speed clip (rad/s) and torque clip (N·m). */
export const maxSpeed = 8
export const maxTorque = 2
/** Gymnasium's TimeLimit for Pendulum-v1. */
export const maxEpisodeSteps = 200

/** Pendulum state θ (rad, 0 = upright) and θ̇ (rad/s). */
export interface State {
  readonly theta: number
  readonly thetaDot: number
}

/** Python's `((x + π) % 2π) − π`: θ wrapped into [−π, π). */
export const angleNormalize = (x: number): number => {
  const period = 2 * Math.PI
  let r = (x + Math.PI) % period
  if (r < 0) r += period
  return r - Math.PI
}

/**
 * One step of Pendulum-v1 under torque u (N·m, clipped to ±maxTorque):
 *   1. cost = angnorm(θ)² + 0.1·θ̇² + 0.001·u²   (reward = −cost, from the state before the step)
 *   2. θ̇' = clip(θ̇ + (3g/(2l)·sin θ + 3/(m l²)·u)·dt, ±maxSpeed)
 *   3. θ' = θ + θ̇'·dt   (semi-implicit Euler, θ' is not wrapped)
 */
export const dynamics = (state: State, torque: number): { readonly next: State; readonly reward: number } => {
  const u = Math.min(maxTorque, Math.max(-maxTorque, torque))
  const { theta, thetaDot } = state
  const cost = angleNormalize(theta) ** 2 + 0.1 * thetaDot ** 2 + 0.001 * u ** 2
  const accel = (3 * gravity) / (2 * length) * Math.sin(theta) + (3 / (mass * length ** 2)) * u
  const nextThetaDot = Math.min(maxSpeed, Math.max(-maxSpeed, thetaDot + accel * dt))
  return { next: { theta: theta + nextThetaDot * dt, thetaDot: nextThetaDot }, reward: -cost }
}

/** Pendulum-v1 with its physical state readable and settable per member. */
export interface PendulumEnv extends Environment.VectorEnv {
  /** Member `index`'s (θ, θ̇). */
  state(index: number): State
  /** Puts member `index` in `state`; returns its observation [cos θ, sin θ, θ̇]. */
  setState(index: number, state: State): Float64Array
}

/**
 * `batch` Pendulum-v1 episodes: obs [cos θ, sin θ, θ̇] (3), action [u/maxTorque] (1), 200 steps, no
 * termination; reset θ ∼ U(−π, π), θ̇ ∼ U(−1, 1), from the stream "Pendulum.reset" at offset = member.
 */
export const make = (options: { readonly batch: number }): PendulumEnv => {
  const { batch } = options
  const theta = new Float64Array(batch)
  const thetaDot = new Float64Array(batch)
  const draws = new Float64Array(2)
  const observe = (i: number, observations: Float64Array): void => {
    observations[3 * i] = Math.cos(theta[i])
    observations[3 * i + 1] = Math.sin(theta[i])
    observations[3 * i + 2] = thetaDot[i]
  }
  const { env, ensureOpen, observations } = Environment.vectorize({
    name: "Pendulum-v1",
    observationDim: 3,
    actionDim: 1,
    batch,
    maxEpisodeSteps,
    resetMember: (i, seed, obs) => {
      Rng.fillUniform(Rng.at(Rng.named(seed, "Pendulum.reset"), i), draws)
      theta[i] = Math.PI * (2 * draws[0] - 1)
      thetaDot[i] = 2 * draws[1] - 1
      observe(i, obs)
    },
    stepMember: (i, actions, obs, outcome) => {
      const { next, reward } = dynamics({ theta: theta[i], thetaDot: thetaDot[i] }, maxTorque * actions[i])
      theta[i] = next.theta
      thetaDot[i] = next.thetaDot
      outcome.reward = reward
      observe(i, obs)
    },
    free: () => {}
  })
  return {
    ...env,
    state: (i) => ({ theta: theta[i], thetaDot: thetaDot[i] }),
    setState: (i, state) => {
      ensureOpen()
      theta[i] = state.theta
      thetaDot[i] = state.thetaDot
      observe(i, observations)
      return observations.slice(3 * i, 3 * i + 3)
    }
  }
}
