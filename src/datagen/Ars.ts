/**
 * Augmented Random Search ARS-V2t (Mania, Guy & Recht 2018, https://arxiv.org/abs/1803.07055; reference code
 * https://github.com/modestyachts/ARS): linear policies on running-normalised observations, antithetic directions
 * rolled out as one VectorEnv batch of 2N members, deterministic by seed, resumable from a JSON run file.
 */
import { Clock, Effect, Schema, type Scope } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import * as Environment from "../env/Environment.ts"
import { Environments } from "../env/Environments.ts"
import type * as Locomotion from "../env/Locomotion.ts"
import { type FileError, writeJsonAtomically } from "../services/Files.ts"
import { Progress, type Tracker } from "../services/Progress.ts"
import { CacheMismatch, DatagenError, InvalidConfig } from "./DatagenError.ts"
import * as JsonFile from "./JsonFile.ts"

/** Environments ARS trains on: the three locomotion tasks, and Pendulum-v1 for quick tests. */
export const ArsTasks = ["halfcheetah", "hopper", "walker2d", "pendulum"] as const
export type ArsTask = typeof ArsTasks[number]

/** ARS-V2t hyperparameters (Mania et al. 2018) and budget; the defaults are what trained each task here within minutes. */
export class ArsConfig extends Schema.Class<ArsConfig>("ArsConfig")({
  /** Environment to train on. */
  task: Schema.Literals(ArsTasks),
  /** Directions N per iteration; the training batch is 2N members (±δ). */
  directions: Config.PositiveInt.pipe(Config.withDefault(16)),
  /** Best directions b used in the update (b ≤ N), ranked by max(r₊, r₋). */
  topDirections: Config.PositiveInt.pipe(Config.withDefault(8)),
  /** Step size α of M ← M + α/(b·σ_R)·Σ (r₊ − r₋)·δ. */
  stepSize: Config.PositiveFinite.pipe(Config.withDefault(0.02)),
  /** Exploration scale ν of the perturbations M ± ν·δ. */
  noise: Config.PositiveFinite.pipe(Config.withDefault(0.03)),
  /** Per-step reward shift subtracted while training (ARS removes the alive bonus); default: the task's bonus. */
  shift: Schema.optionalKey(Schema.Finite),
  /** Rollout horizon in steps (the environment's own time limit also applies). */
  horizon: Config.PositiveInt.pipe(Config.withDefault(1000)),
  /** Evaluate the current policy and save a checkpoint every this many iterations. */
  evalEvery: Config.PositiveInt.pipe(Config.withDefault(5)),
  /** Evaluation episodes per checkpoint (unperturbed policy, the same reset seeds every time). */
  evalEpisodes: Config.PositiveInt.pipe(Config.withDefault(10)),
  /** Budget: stop after this many iterations... */
  maxIterations: Config.PositiveInt.pipe(Config.withDefault(2000)),
  /** ...or this many training env steps... */
  maxEnvSteps: Config.PositiveInt.pipe(Config.withDefault(100_000_000)),
  /** ...or this many seconds of training (summed over resumed runs), whichever comes first. */
  maxSeconds: Config.PositiveFinite.pipe(Config.withDefault(240)),
  /** Seed of the perturbations and of every reset. */
  seed: Config.NonNegativeInt.pipe(Config.withDefault(0))
}) {}

const Numbers = Schema.Array(Schema.Finite)

/** A linear policy a = M·((x − μ) ⊙ invStd), the form ARS trains and the datasets store. */
export const LinearPolicy = Schema.Struct({
  observationDim: Schema.Int,
  actionDim: Schema.Int,
  /** M, [actionDim, observationDim] row-major. */
  weights: Numbers,
  /** μ, the observation mean. */
  mean: Numbers,
  /** 1/(σ + 1e-8), and 0 where σ < 1e-7 (ARS's filter sets σ = ∞ there); 1 before any statistics exist. */
  invStd: Numbers
})
export type LinearPolicy = typeof LinearPolicy.Type

/** An evaluated iterate: the policy after `iteration` updates. */
export const Checkpoint = Schema.Struct({
  iteration: Schema.Int,
  /** Training env steps consumed to reach it. */
  envSteps: Schema.Int,
  /** Training seconds spent to reach it. */
  seconds: Schema.Finite,
  /** Mean and std of the undiscounted return over `evalEpisodes` (no shift). */
  evalReturn: Schema.Finite,
  evalReturnStd: Schema.Finite,
  /** Mean evaluation episode length. */
  evalLength: Schema.Finite,
  policy: LinearPolicy
})
export type Checkpoint = typeof Checkpoint.Type

/** What training needs to continue: M and the running observation statistics (Welford). */
export const ArsState = Schema.Struct({
  iteration: Schema.Int,
  envSteps: Schema.Int,
  seconds: Schema.Finite,
  weights: Numbers,
  count: Schema.Int,
  mean: Numbers,
  m2: Numbers
})
export type ArsState = typeof ArsState.Type

/** One training iteration's rollouts: member 2k ran M + νδ_k, member 2k+1 ran M − νδ_k. */
export const IterationSummary = Schema.Struct({
  iteration: Schema.Int,
  /** Training env steps after this iteration. */
  envSteps: Schema.Int,
  /** Mean and max unshifted return of the 2N rollouts. */
  meanReturn: Schema.Finite,
  maxReturn: Schema.Finite,
  /** Length of each of the 2N rollouts (medium-replay picks rollouts from these without simulating). */
  lengths: Schema.Array(Schema.Int)
})
export type IterationSummary = typeof IterationSummary.Type

/** A training run as saved on disk: config, resumable state, per-iteration history and checkpoints. */
export const ArsRun = Schema.Struct({
  format: Schema.Literal("dgrl-ars/1"),
  config: ArsConfig,
  state: ArsState,
  history: Schema.Array(IterationSummary),
  checkpoints: Schema.Array(Checkpoint)
})
export type ArsRun = typeof ArsRun.Type

// ---------------------------------------------------------------------------------------------------------------
// Pure core

/** The per-step alive bonus of a task (ARS's default `shift`). */
export const aliveBonus = (task: ArsTask): number => (task === "hopper" || task === "walker2d" ? 1 : 0)

/** The shift in use: the config's, else the task's alive bonus. */
export const shiftOf = (config: ArsConfig): number => config.shift ?? aliveBonus(config.task)

/** A zero policy with zero statistics (ARS starts from M = 0, μ = 0, σ = 1). */
export const initialState = (observationDim: number, actionDim: number): ArsState => ({
  iteration: 0,
  envSteps: 0,
  seconds: 0,
  weights: new Array(observationDim * actionDim).fill(0),
  count: 0,
  mean: new Array(observationDim).fill(0),
  m2: new Array(observationDim).fill(0)
})

/** The observation normaliser of `state` (ARS's MeanStdFilter): μ and 1/(σ + 1e-8), σ = sample std. */
export const normaliser = (state: Pick<ArsState, "count" | "mean" | "m2">): { mean: Array<number>; invStd: Array<number> } => {
  const d = state.mean.length
  if (state.count < 2) return { mean: state.count === 0 ? new Array(d).fill(0) : [...state.mean], invStd: new Array(d).fill(1) }
  const invStd = state.m2.map((m2) => {
    const std = Math.sqrt(m2 / (state.count - 1))
    return std < 1e-7 ? 0 : 1 / (std + 1e-8)
  })
  return { mean: [...state.mean], invStd }
}

/** The unperturbed policy of `state`. */
export const policyOf = (state: ArsState, observationDim: number, actionDim: number): LinearPolicy => ({
  observationDim,
  actionDim,
  weights: [...state.weights],
  ...normaliser(state)
})

/** Writes M·((x − μ) ⊙ invStd) for every row of `observations` [batch, O] into `actions` [batch, A]. */
export const act = (policy: LinearPolicy, observations: Float64Array, actions: Float64Array): void => {
  const { actionDim, observationDim } = policy
  const batch = observations.length / observationDim
  const x = new Float64Array(observationDim)
  for (let i = 0; i < batch; i++) {
    for (let k = 0; k < observationDim; k++) {
      x[k] = (observations[i * observationDim + k] - policy.mean[k]) * policy.invStd[k]
    }
    for (let a = 0; a < actionDim; a++) {
      let s = 0
      for (let k = 0; k < observationDim; k++) s += policy.weights[a * observationDim + k] * x[k]
      actions[i * actionDim + a] = s
    }
  }
}

/** Per-member outcome of `runEpisodes`. */
export interface Episodes {
  readonly returns: Float64Array
  readonly lengths: Int32Array
  /** 1 where the episode ended in a terminal state. */
  readonly terminated: Uint8Array
  /** Total steps taken by all members. */
  readonly steps: number
}

/** Observers of `runEpisodes`; `active` marks the members stepped by this call (before its outcome). */
export interface EpisodeHooks {
  readonly beforeStep?: (t: number, observations: Float64Array, actions: Float64Array, active: Uint8Array) => void
  readonly afterStep?: (t: number, result: Environment.StepResult, active: Uint8Array) => void
}

/**
 * One episode per member from `env.reset(seed)` for at most `horizon` steps: `policy` writes the actions of the
 * active members (the others are zeroed). Throws the environment's `EnvironmentError`.
 */
export const runEpisodes = (
  env: Environment.VectorEnv,
  seed: number,
  horizon: number,
  policy: (observations: Float64Array, t: number, actions: Float64Array, active: Uint8Array) => void,
  hooks: EpisodeHooks = {}
): Episodes => {
  const { actionDim, batch } = env
  const returns = new Float64Array(batch)
  const lengths = new Int32Array(batch)
  const terminated = new Uint8Array(batch)
  const active = new Uint8Array(batch).fill(1)
  const actions = new Float64Array(batch * actionDim)
  let running = batch
  let steps = 0
  let observations = env.reset(seed)
  for (let t = 0; running > 0 && t < horizon; t++) {
    policy(observations, t, actions, active)
    for (let i = 0; i < batch; i++) {
      if (active[i] === 0) actions.fill(0, i * actionDim, (i + 1) * actionDim)
    }
    hooks.beforeStep?.(t, observations, actions, active)
    const result = env.step(actions)
    hooks.afterStep?.(t, result, active)
    for (let i = 0; i < batch; i++) {
      if (active[i] === 0) continue
      returns[i] += result.rewards[i]
      lengths[i] += 1
      steps += 1
      if (result.terminated[i] === 1 || result.truncated[i] === 1) {
        active[i] = 0
        terminated[i] = result.terminated[i]
        running -= 1
      }
    }
    observations = result.observations
  }
  return { returns, lengths, terminated, steps }
}

/** A 32-bit seed drawn from stream `key` at `index` (reset seeds per iteration or round). */
export const seedAt = (key: Rng.RngKey, index: number): number => {
  const words = new Uint32Array(4)
  Rng.philox(index, key.offset, key.seed, key.stream, words)
  return words[0]
}

/** The reset seed of training iteration `iteration`. */
export const trainingResetSeed = (config: ArsConfig, iteration: number): number =>
  seedAt(Rng.named(config.seed, "Ars.reset"), iteration)

/** The reset seed shared by every evaluation. */
export const evaluationResetSeed = (config: ArsConfig): number => seedAt(Rng.named(config.seed, "Ars.eval"), 0)

/** What one `iterate` did. */
export interface Iteration {
  readonly state: ArsState
  readonly summary: IterationSummary
  /** σ_R of the 2b returns used (0: no update). */
  readonly sigmaR: number
}

/**
 * One ARS-V2t iteration on `env` (batch 2N): draw δ_1..δ_N ~ N(0, I) from ("Ars.directions", iteration), roll out
 * M ± νδ_k under the frozen normaliser, rank directions by max(r₊, r₋) of the shifted returns, update
 *   M ← M + α/(b·σ_R)·Σ_{top b} (r₊ − r₋)·δ_k,
 * then merge the visited observations into the running statistics. `hooks` observe the rollouts.
 */
export const iterate = (
  env: Environment.VectorEnv,
  config: ArsConfig,
  state: ArsState,
  hooks: EpisodeHooks = {}
): Iteration => {
  const { actionDim, observationDim } = env
  const n = config.directions
  const dim = actionDim * observationDim
  const deltas = new Float64Array(n * dim)
  Rng.fillNormal(Rng.at(Rng.named(config.seed, "Ars.directions"), state.iteration), deltas)
  const perturbed = new Float64Array(2 * n * dim)
  for (let m = 0; m < 2 * n; m++) {
    const sign = m % 2 === 0 ? config.noise : -config.noise
    const k = m >> 1
    for (let q = 0; q < dim; q++) perturbed[m * dim + q] = state.weights[q] + sign * deltas[k * dim + q]
  }
  const { invStd, mean } = normaliser(state)
  const visited = { count: 0, mean: new Float64Array(observationDim), m2: new Float64Array(observationDim) }
  const x = new Float64Array(observationDim)
  const episodes = runEpisodes(env, trainingResetSeed(config, state.iteration), config.horizon, (obs, _t, actions, active) => {
    for (let m = 0; m < 2 * n; m++) {
      if (active[m] === 0) continue
      visited.count += 1
      for (let k = 0; k < observationDim; k++) {
        const value = obs[m * observationDim + k]
        const delta = value - visited.mean[k]
        visited.mean[k] += delta / visited.count
        visited.m2[k] += delta * (value - visited.mean[k])
        x[k] = (value - mean[k]) * invStd[k]
      }
      for (let a = 0; a < actionDim; a++) {
        let s = 0
        for (let k = 0; k < observationDim; k++) s += perturbed[m * dim + a * observationDim + k] * x[k]
        actions[m * actionDim + a] = s
      }
    }
  }, hooks)

  const shift = shiftOf(config)
  const shifted = Array.from(episodes.returns, (r, m) => r - shift * episodes.lengths[m])
  const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => {
    const d = Math.max(shifted[2 * b], shifted[2 * b + 1]) - Math.max(shifted[2 * a], shifted[2 * a + 1])
    return d !== 0 ? d : a - b
  })
  const top = order.slice(0, config.topDirections)
  const used = top.flatMap((k) => [shifted[2 * k], shifted[2 * k + 1]])
  const usedMean = used.reduce((s, r) => s + r, 0) / used.length
  const sigmaR = Math.sqrt(used.reduce((s, r) => s + (r - usedMean) ** 2, 0) / used.length)
  const weights = [...state.weights]
  if (sigmaR > 0) {
    const scale = config.stepSize / (top.length * sigmaR)
    for (const k of top) {
      const diff = scale * (shifted[2 * k] - shifted[2 * k + 1])
      for (let q = 0; q < dim; q++) weights[q] += diff * deltas[k * dim + q]
    }
  }

  // Chan et al.'s merge of (count, mean, M2) with this iteration's statistics
  const total = state.count + visited.count
  const statMean = [...state.mean]
  const statM2 = [...state.m2]
  if (visited.count > 0) {
    for (let k = 0; k < observationDim; k++) {
      const delta = visited.mean[k] - state.mean[k]
      statMean[k] = state.mean[k] + (delta * visited.count) / total
      statM2[k] = state.m2[k] + visited.m2[k] + (delta * delta * state.count * visited.count) / total
    }
  }
  const envSteps = state.envSteps + episodes.steps
  let sum = 0
  let max = -Infinity
  for (const r of episodes.returns) {
    sum += r
    max = Math.max(max, r)
  }
  return {
    state: { iteration: state.iteration + 1, envSteps, seconds: state.seconds, weights, count: total, mean: statMean, m2: statM2 },
    summary: {
      iteration: state.iteration,
      envSteps,
      meanReturn: sum / episodes.returns.length,
      maxReturn: max,
      lengths: Array.from(episodes.lengths)
    },
    sigmaR
  }
}

/**
 * Mean, std and mean length of `policy`'s returns over one episode per member of `env`; with `actionNoise`, the
 * actions get σ·N(0, I) from stream `key` at offset t (element i·A + k for member i), as the datasets' behaviour.
 */
export const evaluate = (
  env: Environment.VectorEnv,
  policy: LinearPolicy,
  seed: number,
  horizon: number,
  actionNoise?: { readonly sigma: number; readonly key: Rng.RngKey }
): { readonly mean: number; readonly std: number; readonly length: number; readonly returns: Float64Array } => {
  const draws = new Float64Array(env.batch * env.actionDim)
  const episodes = runEpisodes(env, seed, horizon, (obs, t, actions) => {
    act(policy, obs, actions)
    if (actionNoise === undefined || actionNoise.sigma === 0) return
    Rng.fillNormal(Rng.at(actionNoise.key, t), draws)
    for (let k = 0; k < draws.length; k++) actions[k] += actionNoise.sigma * draws[k]
  })
  const count = episodes.returns.length
  const mean = episodes.returns.reduce((s, r) => s + r, 0) / count
  const std = Math.sqrt(episodes.returns.reduce((s, r) => s + (r - mean) ** 2, 0) / count)
  const length = episodes.lengths.reduce((s, l) => s + l, 0) / count
  return { mean, std, length, returns: episodes.returns }
}

/** Whether the run's budget (iterations, env steps, seconds) is spent. */
export const budgetSpent = (config: ArsConfig, state: ArsState): boolean =>
  state.iteration >= config.maxIterations || state.envSteps >= config.maxEnvSteps || state.seconds >= config.maxSeconds

/** The config without its budget: two runs with equal identities produce the same iterates. */
export const identity = (config: ArsConfig): string => {
  const { maxEnvSteps: _steps, maxIterations: _iterations, maxSeconds: _seconds, ...rest } = Schema.encodeSync(ArsConfig)(
    config
  )
  return JSON.stringify({ ...rest, shift: shiftOf(config) })
}

/** The behaviour policies picked from a run. */
export interface Picks {
  /** The checkpoint with the best score. */
  readonly expert: Checkpoint
  /** The checkpoint (up to the expert) whose score is closest to `fraction` of the expert's. */
  readonly medium: Checkpoint
}

/**
 * `expert` = best-scoring checkpoint; `medium` = the checkpoint up to the expert whose score is closest to
 * `fraction`·(expert's score), the earliest on ties (D4RL's medium policies score about ⅓ of its experts; default
 * 0.4). ARS returns jump between checkpoints, so "closest" can fall on either side. The score defaults to the
 * noise-free evaluation return; `Generate` scores checkpoints under the datasets' action noise instead.
 */
export const pick = (
  checkpoints: ReadonlyArray<Checkpoint>,
  fraction = 0.4,
  score: (checkpoint: Checkpoint) => number = (c) => c.evalReturn
): Picks => {
  let expert = checkpoints[0]
  for (const c of checkpoints) if (score(c) > score(expert)) expert = c
  const target = fraction * score(expert)
  let medium = expert
  for (const c of checkpoints) {
    if (c.iteration > expert.iteration) break
    if (Math.abs(score(c) - target) < Math.abs(score(medium) - target)) medium = c
  }
  return { expert, medium }
}

// ---------------------------------------------------------------------------------------------------------------
// Effect entry points

/** The training and evaluation environments of `task` (scoped). */
export const makeEnv = (
  task: ArsTask,
  batch: number
): Effect.Effect<Environment.VectorEnv, Environment.EnvironmentError, Environments | Scope.Scope> =>
  Effect.gen(function*() {
    const environments = yield* Environments
    if (task === "pendulum") return yield* environments.pendulum({ batch })
    return yield* environments.locomotion({ task: task satisfies Locomotion.Task, batch })
  })

/** Options of `train`. */
export interface TrainOptions {
  /** JSON run file: resumed when it exists (its hyperparameters must match), rewritten at every checkpoint. */
  readonly runPath?: string
  /** Progress label (default "ars <task>"). */
  readonly label?: string
}

/**
 * Trains (or resumes) ARS until the budget is spent, evaluating and checkpointing every `evalEvery` iterations and
 * at the end; with `runPath`, the run is saved at each checkpoint, so a rerun with the same budget does nothing.
 */
export const train = Effect.fn("Ars.train")(function*(config: ArsConfig, options: TrainOptions = {}) {
  const subject = `ars ${config.task}`
  if (config.topDirections > config.directions) {
    return yield* new DatagenError({
      subject,
      reason: new InvalidConfig({ message: `topDirections ${config.topDirections} > directions ${config.directions}` })
    })
  }
  const env = yield* makeEnv(config.task, 2 * config.directions)
  const evalEnv = yield* makeEnv(config.task, config.evalEpisodes)
  const { actionDim, observationDim } = env
  const saved = options.runPath === undefined ? undefined : yield* JsonFile.read(options.runPath, ArsRun)
  if (saved !== undefined && identity(saved.config) !== identity(config)) {
    return yield* new DatagenError({
      subject,
      reason: new CacheMismatch({
        path: options.runPath ?? "",
        message: `saved with ${identity(saved.config)}, asked for ${identity(config)}; delete it or use another directory`
      })
    })
  }
  let state = saved?.state ?? initialState(observationDim, actionDim)
  const history: Array<IterationSummary> = [...(saved?.history ?? [])]
  const checkpoints: Array<Checkpoint> = [...(saved?.checkpoints ?? [])]
  const run = (): ArsRun => ({ format: "dgrl-ars/1", config, state, history, checkpoints })
  const save = () => options.runPath === undefined ? Effect.void : writeRun(options.runPath, run())
  const checkpoint = Effect.fnUntraced(function*() {
    if (checkpoints.at(-1)?.iteration === state.iteration) return
    const policy = policyOf(state, observationDim, actionDim)
    const result = yield* Environment.attempt(() => evaluate(evalEnv, policy, evaluationResetSeed(config), config.horizon))
    checkpoints.push({
      iteration: state.iteration,
      envSteps: state.envSteps,
      seconds: state.seconds,
      evalReturn: result.mean,
      evalReturnStd: result.std,
      evalLength: result.length,
      policy
    })
    yield* save()
  })

  if (checkpoints.length === 0) yield* checkpoint()
  const progress = yield* Progress
  let tracker: Tracker | undefined
  let last = yield* Clock.currentTimeMillis
  while (!budgetSpent(config, state)) {
    const step = yield* Environment.attempt(() => iterate(env, config, state))
    const now = yield* Clock.currentTimeMillis
    const seconds = (now - last) / 1000
    // the progress total: iterations until the first budget runs out, estimated from the first iteration here
    tracker ??= yield* progress.start(options.label ?? subject, estimateIterations(config, step.state, seconds, state))
    state = { ...step.state, seconds: state.seconds + seconds }
    last = now
    history.push(step.summary)
    if (state.iteration % config.evalEvery === 0) yield* checkpoint()
    const best = checkpoints.reduce((b, c) => Math.max(b, c.evalReturn), -Infinity)
    yield* tracker.update(state.iteration, {
      return: step.summary.meanReturn,
      eval: checkpoints.at(-1)?.evalReturn ?? Number.NaN,
      best,
      steps: state.envSteps,
      seconds: state.seconds
    })
  }
  yield* checkpoint()
  yield* save()
  return run()
}, Effect.scoped)

/** Loads a saved run, or `undefined` when the file does not exist. */
export const load = (path: string): Effect.Effect<ArsRun | undefined, DatagenError> => JsonFile.read(path, ArsRun)

// internal

const estimateIterations = (config: ArsConfig, after: ArsState, seconds: number, before: ArsState): number => {
  const steps = Math.max(1, after.envSteps - before.envSteps)
  return Math.max(
    after.iteration,
    Math.min(
      config.maxIterations,
      after.iteration + Math.ceil((config.maxEnvSteps - after.envSteps) / steps),
      after.iteration + Math.ceil((config.maxSeconds - before.seconds - seconds) / Math.max(seconds, 1e-3))
    )
  )
}

const writeRun = (path: string, run: ArsRun): Effect.Effect<void, FileError> =>
  writeJsonAtomically(path, Schema.encodeSync(ArsRun)(run))
