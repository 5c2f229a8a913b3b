/**
 * The dynamics error of transitions (s, a, s′) against the simulator: how far generated transitions are from what
 * the environment would do (Policy-Guided Diffusion, Jackson et al., RLC 2024, compare it between their trajectory
 * samples and an autoregressive world model's rollouts). For each transition the
 * simulator is set to s, stepped with a, and its next observation compared with s′:
 *   error = (1/|S|)·‖s′ − s′_sim‖²  (the mean over observation dimensions of the squared difference),
 * averaged over transitions, and reported by position t in the generated trajectory (transition t → t + 1).
 *
 * Setting the state from an observation (hopper, walker2d, halfcheetah v2): the observation is qpos[1:] ‖ qvel
 * (hopper and walker2d clip qvel to ±10 in it). The x position qpos[0] is left out of the observation; it is a
 * free slide joint over an infinite ground plane and enters neither the dynamics nor the observation, so it is
 * set to 0. So qpos = (0, o[0 .. nq − 2]) and qvel = o[nq − 1 .. nq − 1 + nv]: hopper nq = nv = 6 (11 values),
 * walker2d and halfcheetah nq = nv = 9 (17 values). The state is set exactly as the observation says (a generated
 * velocity beyond the clip is used as it is); an observed velocity *at* the clip may stand for a larger true one,
 * so such transitions are counted (`atVelocityBound`) — for real data they are the ones that cannot be rebuilt.
 * What else is not in an observation: the solver's warm start (MuJoCo starts its constraint solver from the
 * previous step's accelerations) and the time; both are reset, which moves the result only at the solver's
 * tolerance. Observations stored as float32 (D4RL's files) add their rounding, so real data give a small error,
 * not exactly 0.
 */
import { Effect } from "effect"
import * as Environment from "./Environment.ts"
import { Environments } from "./Environments.ts"
import * as Locomotion from "./Locomotion.ts"

/** qpos and qvel of an observation (qpos[0], the x position, set to 0). */
export const stateOf = (
  nq: number,
  nv: number,
  observation: ArrayLike<number>,
  offset = 0
): { readonly qpos: Float64Array; readonly qvel: Float64Array } => {
  const qpos = new Float64Array(nq)
  const qvel = new Float64Array(nv)
  for (let k = 1; k < nq; k++) qpos[k] = observation[offset + k - 1]
  for (let k = 0; k < nv; k++) qvel[k] = observation[offset + nq - 1 + k]
  return { qpos, qvel }
}

/** Transitions, rows aligned and row-major: s [N·S], a [N·A], s′ [N·S]. */
export interface Transitions {
  readonly observations: ArrayLike<number>
  readonly actions: ArrayLike<number>
  readonly nextObservations: ArrayLike<number>
}

export interface TransitionErrors {
  /** (1/|S|)·‖s′ − s′_sim‖² of each transition [N]. */
  readonly errors: Float64Array
  /** 1 where an observed velocity of s sits at the observation's clip bound (the true one may be larger). */
  readonly atVelocityBound: Uint8Array
}

/**
 * The error of every transition, simulated `env.batch` at a time on `env` (any batch; its episodes are reset and
 * overwritten). Throws the environment's `EnvironmentError` on an action that is not finite.
 */
export const transitionErrors = (env: Locomotion.LocomotionEnv, transitions: Transitions): TransitionErrors => {
  const { actionDim: A, observationDim: S } = env
  const n = transitions.observations.length / S
  const { qpos: qpos0, qvel: qvel0 } = env.state(0)
  const nq = qpos0.length
  const nv = qvel0.length
  const bound = Locomotion.tasks[env.task].observedVelocityBound
  const errors = new Float64Array(n)
  const atVelocityBound = new Uint8Array(n)
  const actions = new Float64Array(env.batch * A)
  for (let start = 0; start < n; start += env.batch) {
    const rows = Math.min(env.batch, n - start)
    env.reset(0)
    for (let i = 0; i < env.batch; i++) {
      // Members past the last transition repeat the chunk's first one; their results are not read.
      const row = start + (i < rows ? i : 0)
      const { qpos, qvel } = stateOf(nq, nv, transitions.observations, row * S)
      env.setState(i, qpos, qvel)
      for (let k = 0; k < A; k++) actions[i * A + k] = transitions.actions[row * A + k]
    }
    const next = env.step(actions).observations
    for (let i = 0; i < rows; i++) {
      const row = start + i
      let sum = 0
      for (let k = 0; k < S; k++) sum += (transitions.nextObservations[row * S + k] - next[i * S + k]) ** 2
      errors[row] = sum / S
      for (let k = 0; k < nv; k++) {
        if (Math.abs(transitions.observations[row * S + nq - 1 + k]) >= bound) atVelocityBound[row] = 1
      }
    }
  }
  return { errors, atVelocityBound }
}

/** The error at one position t of the trajectories (transition t → t + 1). */
export interface PositionError {
  readonly position: number
  /** Trajectories contributing. */
  readonly count: number
  readonly mean: number
  /** Standard error of the mean over trajectories (sample std/√count; 0 for one trajectory). */
  readonly standardError: number
}

/** Mean and standard error by position of errors laid out [trajectories, positions] (row-major). */
export const byPosition = (errors: ArrayLike<number>, trajectories: number, positions: number): Array<PositionError> =>
  Array.from({ length: positions }, (_, t) => {
    let sum = 0
    for (let j = 0; j < trajectories; j++) sum += errors[j * positions + t]
    const mean = sum / trajectories
    let squares = 0
    for (let j = 0; j < trajectories; j++) squares += (errors[j * positions + t] - mean) ** 2
    const standardError = trajectories > 1 ? Math.sqrt(squares / (trajectories - 1) / trajectories) : 0
    return { position: t, count: trajectories, mean, standardError }
  })

/** Trajectories of `length` steps, row-major: observations [count·length·S], actions [count·length·A]. */
export interface Trajectories {
  readonly count: number
  readonly length: number
  readonly observations: ArrayLike<number>
  readonly actions: ArrayLike<number>
}

/** The transitions t → t + 1 (t = 0 .. length − 2) of every trajectory, trajectory by trajectory. */
export const transitionsOf = (env: Pick<Environment.VectorEnv, "observationDim" | "actionDim">, tr: Trajectories): Transitions => {
  const { actionDim: A, observationDim: S } = env
  const per = tr.length - 1
  const observations = new Float64Array(tr.count * per * S)
  const actions = new Float64Array(tr.count * per * A)
  const nextObservations = new Float64Array(tr.count * per * S)
  for (let j = 0; j < tr.count; j++) {
    for (let t = 0; t < per; t++) {
      const row = j * per + t
      const step = j * tr.length + t
      for (let k = 0; k < S; k++) {
        observations[row * S + k] = tr.observations[step * S + k]
        nextObservations[row * S + k] = tr.observations[(step + 1) * S + k]
      }
      for (let k = 0; k < A; k++) actions[row * A + k] = tr.actions[step * A + k]
    }
  }
  return { observations, actions, nextObservations }
}

/** The dynamics error of generated trajectories: every transition's, and by position in the trajectory. */
export interface TrajectoryErrors extends TransitionErrors {
  readonly byPosition: Array<PositionError>
  /** Mean over all transitions. */
  readonly mean: number
}

export const trajectoryErrors = (env: Locomotion.LocomotionEnv, tr: Trajectories): TrajectoryErrors => {
  const transitions = transitionErrors(env, transitionsOf(env, tr))
  const { errors } = transitions
  return {
    ...transitions,
    byPosition: byPosition(errors, tr.count, tr.length - 1),
    mean: errors.reduce((a, b) => a + b, 0) / Math.max(errors.length, 1)
  }
}

/** `trajectoryErrors` on a scoped environment of `task` from the Environments service (`batch` simulated at once). */
export const measure = Effect.fn("DynamicsError.measure")(function*(task: Locomotion.Task, tr: Trajectories, batch = 64) {
  const envs = yield* Environments
  return yield* Effect.scoped(Effect.gen(function*() {
    const env = yield* envs.locomotion({ task, batch: Math.max(1, Math.min(batch, tr.count * (tr.length - 1))) })
    return yield* Environment.attempt(() => trajectoryErrors(env, tr))
  }))
})
