/**
 * One Gymnasium-like interface for every environment, stepped over a batch of episodes in lockstep;
 * rollouts and D4RL normalised scores (reference returns from d4rl/infos.py,
 * https://github.com/Farama-Foundation/D4RL/blob/master/d4rl/infos.py).
 */
import { Effect, Schema } from "effect"

/** The model file does not exist or cannot be read. */
export class ModelNotFound extends Schema.TaggedError<ModelNotFound>()("ModelNotFound", {
  path: Schema.String,
  message: Schema.String
}) {}

/** MuJoCo rejected the model; `message` is MuJoCo's own text, read from wasm memory. */
export class InvalidModel extends Schema.TaggedError<InvalidModel>()("InvalidModel", { message: Schema.String }) {}

/** The actions passed to `step` have the wrong length or a non-finite entry. */
export class InvalidAction extends Schema.TaggedError<InvalidAction>()("InvalidAction", { message: Schema.String }) {}

/** The options passed to a constructor are out of range (batch size, maze name, task). */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>()("InvalidOptions", {
  message: Schema.String
}) {}

/** `reset` or `step` was called after `close`. */
export class Closed extends Schema.TaggedError<Closed>()("Closed", {}) {
  override get message(): string {
    return "the environment is closed"
  }
}

/** The MuJoCo WebAssembly module could not be instantiated. */
export class RuntimeUnavailable extends Schema.TaggedError<RuntimeUnavailable>()("RuntimeUnavailable", {
  message: Schema.String
}) {}

/** Why an environment could not be built or stepped. */
export const EnvironmentErrorReason = Schema.Union([
  ModelNotFound,
  InvalidModel,
  InvalidAction,
  InvalidOptions,
  Closed,
  RuntimeUnavailable
])
export type EnvironmentErrorReason = typeof EnvironmentErrorReason.Type

/** A failure of the environment called `environment` (e.g. "hopper-v2"). */
export class EnvironmentError extends Schema.TaggedError<EnvironmentError>()("EnvironmentError", {
  environment: Schema.String,
  reason: EnvironmentErrorReason
}) {
  override get message(): string {
    return `${this.environment}: ${this.reason._tag}: ${this.reason.message}`
  }
}

/** What one `step` returns; every array is freshly allocated and owned by the caller. */
export interface StepResult {
  /** [batch, observationDim]; a member that is done keeps its last observation. */
  readonly observations: Float64Array
  /** [batch]; 0 for members that were already done before this step. */
  readonly rewards: Float64Array
  /** [batch]; 1 once the episode reached a terminal state (sticky until the next reset). */
  readonly terminated: Uint8Array
  /** [batch]; 1 once the episode hit `maxEpisodeSteps` (sticky until the next reset). */
  readonly truncated: Uint8Array
}

/**
 * `batch` independent episodes stepped in lockstep. Actions lie in [−1, 1]^actionDim and are clipped
 * there by the environment (D4RL's NormalizedBoxEnv), so rewards see the clipped action. Members that
 * are done are not simulated again until `reset`. Member i's draws depend only on (seed, i), so a
 * member's episode does not depend on the batch size. `step` and `reset` throw `EnvironmentError`.
 */
export interface VectorEnv {
  /** The Gym/D4RL id, e.g. "hopper-v2", "maze2d-umaze-v1", "Pendulum-v1". */
  readonly name: string
  readonly observationDim: number
  readonly actionDim: number
  readonly batch: number
  /** Time limit: `truncated` is raised on this step. */
  readonly maxEpisodeSteps: number
  /** Starts `batch` new episodes; returns the observations [batch, observationDim]. */
  reset(seed: number): Float64Array
  /** Applies `actions` [batch, actionDim] to the members that are not done. */
  step(actions: Float64Array): StepResult
  /** Frees the simulator's memory; idempotent. */
  close(): void
}

/** A policy over a batch: observations [batch, observationDim] and the step index → actions [batch, actionDim]. */
export type Policy = (observations: Float64Array, step: number) => Float64Array

/** One episode per batch member. */
export interface RolloutResult {
  /** [batch] undiscounted returns. */
  readonly returns: Float64Array
  /** [batch] episode lengths in steps. */
  readonly lengths: Int32Array
  /** [batch] 1 where the episode ended in a terminal state rather than at the time limit. */
  readonly terminated: Uint8Array
}

/** Runs one episode per batch member from `env.reset(seed)` until every member is done. */
export const rollout = (env: VectorEnv, policy: Policy, seed: number): RolloutResult => {
  const tally = makeTally(env.batch)
  let observations = env.reset(seed)
  for (let t = 0; tally.running > 0; t++) observations = tally.record(env.step(policy(observations, t)))
  return tally.result
}

/**
 * `rollout` for a policy that is itself an effect (e.g. a sampler on the GPU). With
 * `runningOnly`, the policy sees only the rows of the members still running (in member order) and
 * returns actions for those rows; done members get zero actions, which the environment ignores.
 * This saves the policy's work once episodes start to end (hopper, walker2d), and is only right for
 * policies that treat rows independently.
 */
export const rolloutEffect = <E, R>(
  env: VectorEnv,
  policy: (observations: Float64Array, step: number) => Effect.Effect<Float64Array, E, R>,
  seed: number,
  options: { readonly runningOnly?: boolean } = {}
): Effect.Effect<RolloutResult, E | EnvironmentError, R> =>
  Effect.gen(function*() {
    const tally = makeTally(env.batch)
    let observations = yield* attempt(() => env.reset(seed))
    for (let t = 0; tally.running > 0; t++) {
      const rows = options.runningOnly === true && tally.running < env.batch ? tally.runningRows() : undefined
      const actions = rows === undefined
        ? yield* policy(observations, t)
        : scatterRows(yield* policy(gatherRows(observations, rows, env.observationDim), t), rows, env.batch, env.actionDim)
      observations = tally.record(yield* attempt(() => env.step(actions)))
    }
    return tally.result
  })

const gatherRows = (data: Float64Array, rows: ReadonlyArray<number>, width: number): Float64Array => {
  const out = new Float64Array(rows.length * width)
  rows.forEach((r, k) => out.set(data.subarray(r * width, (r + 1) * width), k * width))
  return out
}

/** Rows of `data` back to their members; members not in `rows` get zeros. A short `data` is left for `step` to reject. */
const scatterRows = (data: Float64Array, rows: ReadonlyArray<number>, batch: number, width: number): Float64Array => {
  if (data.length !== rows.length * width) return data
  const out = new Float64Array(batch * width)
  rows.forEach((r, k) => out.set(data.subarray(k * width, (k + 1) * width), r * width))
  return out
}

/** D4RL reference returns (random policy, expert) for the tasks this library implements. */
export const referenceScores = {
  "halfcheetah-v2": { min: -280.178953, max: 12135.0 },
  "hopper-v2": { min: -20.272305, max: 3234.3 },
  "walker2d-v2": { min: 1.629008, max: 4592.3 },
  "maze2d-umaze-v1": { min: 23.85, max: 161.86 },
  "maze2d-medium-v1": { min: 13.13, max: 277.39 },
  "maze2d-large-v1": { min: 6.7, max: 273.99 },
  "maze2d-umaze-dense-v1": { min: 68.537689, max: 193.66285642381482 },
  "maze2d-medium-dense-v1": { min: 44.264742, max: 297.4552547777125 },
  "maze2d-large-dense-v1": { min: 30.569041, max: 303.4857382709002 }
} as const

/** A task with D4RL reference scores; these are also the `name`s of the matching environments. */
export type ScoredTask = keyof typeof referenceScores

/** Whether `task` has D4RL reference scores. */
export const isScoredTask = (task: string): task is ScoredTask => task in referenceScores

/** D4RL normalised score in percent: 100·(return − REF_MIN)/(REF_MAX − REF_MIN). */
export const normalizedScore = (task: ScoredTask, episodeReturn: number): number => {
  const { max, min } = referenceScores[task]
  return (100 * (episodeReturn - min)) / (max - min)
}

/** The outcome of one member's step, written by `Dynamics.stepMember`. */
export interface Outcome {
  reward: number
  terminated: boolean
}

/**
 * An environment's per-member physics; `vectorize` adds batching, action checks and clipping, the
 * time limit, sticky done flags and closing. `observations` and `actions` are the whole batch,
 * row-major: member i owns rows [i·observationDim, (i+1)·observationDim) and likewise for actions.
 */
export interface Dynamics {
  readonly name: string
  readonly observationDim: number
  readonly actionDim: number
  readonly batch: number
  readonly maxEpisodeSteps: number
  /** Starts member `index`'s episode from draws keyed by (seed, index) and writes its observation. */
  readonly resetMember: (index: number, seed: number, observations: Float64Array) => void
  /** Advances member `index` under its clipped action and writes its observation and outcome. */
  readonly stepMember: (index: number, actions: Float64Array, observations: Float64Array, outcome: Outcome) => void
  /** Frees what the dynamics hold; called once. */
  readonly free: () => void
}

/** A vectorised environment and its live observation buffer [batch, observationDim]. */
export interface Vectorized {
  readonly env: VectorEnv
  readonly observations: Float64Array
  /** Throws `Closed` once the environment is closed. */
  readonly ensureOpen: () => void
}

/** Wraps per-member dynamics into a `VectorEnv`. */
export const vectorize = (dynamics: Dynamics): Vectorized => {
  const { actionDim, batch, maxEpisodeSteps, name, observationDim } = dynamics
  checkBatch(name, batch)
  const observations = new Float64Array(batch * observationDim)
  const clipped = new Float64Array(batch * actionDim)
  const steps = new Int32Array(batch)
  const terminated = new Uint8Array(batch)
  const truncated = new Uint8Array(batch)
  const outcome: Outcome = { reward: 0, terminated: false }
  let closed = false
  const ensureOpen = (): void => {
    if (closed) throw new EnvironmentError({ environment: name, reason: new Closed() })
  }
  const env: VectorEnv = {
    name,
    observationDim,
    actionDim,
    batch,
    maxEpisodeSteps,
    reset: (seed) => {
      ensureOpen()
      steps.fill(0)
      terminated.fill(0)
      truncated.fill(0)
      for (let i = 0; i < batch; i++) dynamics.resetMember(i, seed, observations)
      return observations.slice()
    },
    step: (actions) => {
      ensureOpen()
      clipActions(name, actions, clipped)
      const rewards = new Float64Array(batch)
      for (let i = 0; i < batch; i++) {
        if (terminated[i] === 1 || truncated[i] === 1) continue
        outcome.reward = 0
        outcome.terminated = false
        dynamics.stepMember(i, clipped, observations, outcome)
        rewards[i] = outcome.reward
        steps[i] += 1
        terminated[i] = outcome.terminated ? 1 : 0
        truncated[i] = steps[i] >= maxEpisodeSteps ? 1 : 0
      }
      return { observations: observations.slice(), rewards, terminated: terminated.slice(), truncated: truncated.slice() }
    },
    close: () => {
      if (closed) return
      closed = true
      dynamics.free()
    }
  }
  return { env, observations, ensureOpen }
}

/** Runs code that throws `EnvironmentError`: that becomes the failure, anything else a defect. */
export const attempt = <A>(run: () => A): Effect.Effect<A, EnvironmentError> =>
  Effect.try({ try: run, catch: (cause) => cause }).pipe(
    Effect.catch((cause) => cause instanceof EnvironmentError ? Effect.fail(cause) : Effect.die(cause))
  )

/** Throws `InvalidOptions` unless `batch` is a positive integer. */
export const checkBatch = (environment: string, batch: number): void => {
  if (!Number.isInteger(batch) || batch < 1) {
    throw invalidOptions(environment, `batch must be a positive integer, got ${batch}`)
  }
}

/** An `InvalidOptions` failure of `environment`. */
export const invalidOptions = (environment: string, message: string): EnvironmentError =>
  new EnvironmentError({ environment, reason: new InvalidOptions({ message }) })

// internal

const clipActions = (environment: string, actions: Float64Array, out: Float64Array): void => {
  if (actions.length !== out.length) {
    throw invalidAction(environment, `expected ${out.length} action entries, got ${actions.length}`)
  }
  for (let k = 0; k < out.length; k++) {
    const a = actions[k]
    if (!Number.isFinite(a)) throw invalidAction(environment, `action entry ${k} is ${a}`)
    out[k] = a < -1 ? -1 : a > 1 ? 1 : a
  }
}

const invalidAction = (environment: string, message: string): EnvironmentError =>
  new EnvironmentError({ environment, reason: new InvalidAction({ message }) })

interface Tally {
  readonly result: RolloutResult
  readonly running: number
  /** Indices of the members still running, ascending. */
  readonly runningRows: () => Array<number>
  readonly record: (step: StepResult) => Float64Array
}

const makeTally = (batch: number): Tally => {
  const returns = new Float64Array(batch)
  const lengths = new Int32Array(batch)
  const terminated = new Uint8Array(batch)
  const active = new Uint8Array(batch).fill(1)
  let running = batch
  return {
    result: { returns, lengths, terminated },
    get running() {
      return running
    },
    runningRows: () => Array.from(active.keys()).filter((i) => active[i] === 1),
    record: (step) => {
      for (let i = 0; i < batch; i++) {
        if (active[i] === 0) continue
        returns[i] += step.rewards[i]
        lengths[i] += 1
        if (step.terminated[i] === 1 || step.truncated[i] === 1) {
          active[i] = 0
          terminated[i] = step.terminated[i]
          running -= 1
        }
      }
      return step.observations
    }
  }
}
