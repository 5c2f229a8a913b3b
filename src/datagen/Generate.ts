/**
 * Entry points of the data generators: `generate` builds a named D4RL-style dataset (training or loading the ARS
 * policies it needs, cached and resumable under the output directory), writes `<name>.hdf5` through DatasetStore
 * and `<name>.recipe.json` beside it; `regenerate` rebuilds a dataset from its recipe; `inspect` summarises a file.
 */
import { stat } from "node:fs/promises"
import { basename, join } from "node:path"
import { Clock, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import { type DatasetError, DatasetStore } from "../data/DatasetStore.ts"
import type * as OfflineDataset from "../data/OfflineDataset.ts"
import * as Environment from "../env/Environment.ts"
import { Environments } from "../env/Environments.ts"
import type * as Locomotion from "../env/Locomotion.ts"
import { type FileError, writeJsonAtomically } from "../services/Files.ts"
import { Progress } from "../services/Progress.ts"
import * as Ars from "./Ars.ts"
import { DatagenError, InvalidConfig, Unreadable } from "./DatagenError.ts"
import * as JsonFile from "./JsonFile.ts"
import * as LocomotionData from "./LocomotionData.ts"
import * as Maze2dData from "./Maze2dData.ts"
import * as Recipes from "./Recipes.ts"
import * as Summary from "./Summary.ts"

/** ARS hyperparameters a generation may override (budget and seed come from `GenerateConfig`). */
export const ArsOverrides = Schema.Struct({
  directions: Schema.optionalKey(Config.PositiveInt),
  topDirections: Schema.optionalKey(Config.PositiveInt),
  stepSize: Schema.optionalKey(Config.PositiveFinite),
  noise: Schema.optionalKey(Config.PositiveFinite),
  shift: Schema.optionalKey(Schema.Finite),
  horizon: Schema.optionalKey(Config.PositiveInt),
  evalEvery: Schema.optionalKey(Config.PositiveInt),
  evalEpisodes: Schema.optionalKey(Config.PositiveInt)
})

/** What to generate and how; every field but `name` has a default. */
export class GenerateConfig extends Schema.Class<GenerateConfig>("GenerateConfig")({
  /** Dataset name, one of `Recipes.names` (e.g. "maze2d-umaze-v1", "hopper-medium-replay-v2"). */
  name: Schema.String,
  /** Output directory: `<name>.hdf5`, `<name>.recipe.json`, and ARS runs under `ars/`. */
  outDir: Schema.String.pipe(Config.withDefault("out/datasets")),
  /** Master seed: ARS, the rollouts, the noise and the maze stream all derive from it. */
  seed: Config.NonNegativeInt.pipe(Config.withDefault(0)),
  /** Transitions (medium-expert: per half); default D4RL's size of the dataset. */
  size: Schema.optionalKey(Config.PositiveInt),
  /** σ of the Gaussian action noise; default 0.5 for maze2d (D4RL), `LocomotionData.defaultActionNoise` else. */
  actionNoise: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  /**
   * expert = the ARS checkpoint with the best return under the action noise; medium = the one whose noisy return
   * is closest to this fraction of the expert's.
   */
  mediumFraction: Config.Probability.pipe(Config.withDefault(0.4)),
  /** ARS budget per locomotion task (whichever is reached first); a rerun resumes a shorter saved run. */
  arsSeconds: Config.PositiveFinite.pipe(Config.withDefault(240)),
  arsIterations: Config.PositiveInt.pipe(Config.withDefault(2000)),
  arsEnvSteps: Config.PositiveInt.pipe(Config.withDefault(100_000_000)),
  /** ARS hyperparameters other than the defaults of `Ars.ArsConfig` (directions, stepSize, horizon, evalEvery...). */
  ars: Schema.optionalKey(ArsOverrides),
  /** Evaluation episodes of the maze2d behaviour (noisy controller to the goal, D4RL's protocol). */
  evalEpisodes: Config.PositiveInt.pipe(Config.withDefault(20)),
  /** Episodes run in lockstep when collecting locomotion rollouts. */
  batch: Config.PositiveInt.pipe(Config.withDefault(LocomotionData.defaultBatch)),
  /** gzip level of the HDF5 file. */
  compression: Config.NonNegativeInt.pipe(Config.withDefault(4)),
  /** Rebuild even when a file with the same recipe exists. */
  force: Schema.Boolean.pipe(Config.withDefault(false))
}) {}

/** A picked checkpoint: noise-free and noisy evaluation returns with their D4RL normalised scores. */
export interface PickReport {
  readonly iteration: number
  readonly evalReturn: number
  readonly normalizedScore: number
  readonly noisyReturn: number
  readonly noisyNormalizedScore: number
}

/** The ARS run behind a locomotion dataset. */
export interface ArsReport {
  readonly path: string
  readonly iterations: number
  readonly envSteps: number
  readonly seconds: number
  readonly actionNoise: number
  readonly medium: PickReport
  readonly expert: PickReport
}

/** Returns of a run's checkpoints under action noise σ (cached beside the run, one file per σ). */
export const NoisyReturns = Schema.Struct({
  format: Schema.Literal("dgrl-ars-noisy/1"),
  actionNoise: Schema.Finite,
  episodes: Schema.Int,
  returns: Schema.Array(Schema.Struct({ iteration: Schema.Int, return: Schema.Finite }))
})
export type NoisyReturns = typeof NoisyReturns.Type

/** Episodes per checkpoint when scoring checkpoints under action noise. */
export const noisyEpisodes = 10

/** What `generate` and `regenerate` return. */
export interface GenerateResult {
  readonly summary: Summary.DatasetSummary
  readonly recipePath: string
  /** True when an existing file with the same recipe was kept. */
  readonly reused: boolean
  readonly ars?: ArsReport
}

/** Where the ARS run of `task` under `config` is cached. */
export const arsRunPath = (config: GenerateConfig, task: Locomotion.Task): string =>
  join(config.outDir, "ars", `${task}-seed${config.seed}.json`)

/** The ARS config of `task` under `config`: default hyperparameters and `ars` overrides, the budget and seed. */
export const arsConfig = (config: GenerateConfig, task: Locomotion.Task): Ars.ArsConfig =>
  Schema.decodeUnknownSync(Ars.ArsConfig)({
    ...config.ars,
    task,
    maxSeconds: config.arsSeconds,
    maxIterations: config.arsIterations,
    maxEnvSteps: config.arsEnvSteps,
    seed: config.seed
  })

/** Trains, resumes or loads the ARS run of `task` (cached at `arsRunPath`). */
export const trainPolicies = (config: GenerateConfig, task: Locomotion.Task) =>
  Ars.train(arsConfig(config, task), { runPath: arsRunPath(config, task), label: `ars ${task}` })

/**
 * The mean return of every checkpoint of `run` under action noise σ over `noisyEpisodes` episodes (the evaluation
 * reset seeds, noise from ("Generate.pick.noise")); computed once per checkpoint and σ, cached beside the run.
 */
export const scoreUnderNoise = Effect.fn("Generate.scoreUnderNoise")(function*(
  config: GenerateConfig,
  task: Locomotion.Task,
  run: Ars.ArsRun,
  actionNoise: number
) {
  const path = join(config.outDir, "ars", `${task}-seed${config.seed}.noise${actionNoise}.json`)
  const cached = yield* JsonFile.read(path, NoisyReturns).pipe(Effect.catchTag("DatagenError", () => Effect.succeed(undefined)))
  const known = new Map(
    (cached?.episodes === noisyEpisodes && cached.actionNoise === actionNoise ? cached.returns : []).map((r) => [r.iteration, r.return])
  )
  const missing = run.checkpoints.filter((c) => !known.has(c.iteration))
  if (missing.length > 0) {
    yield* Effect.scoped(Effect.gen(function*() {
      const env = yield* Ars.makeEnv(task, noisyEpisodes)
      const tracker = yield* (yield* Progress).start(`${task} checkpoints under σ = ${actionNoise}`, missing.length)
      const key = Rng.named(config.seed, "Generate.pick.noise")
      for (const [k, c] of missing.entries()) {
        const result = yield* Environment.attempt(() =>
          Ars.evaluate(env, c.policy, Ars.evaluationResetSeed(run.config), run.config.horizon, { sigma: actionNoise, key })
        )
        known.set(c.iteration, result.mean)
        yield* tracker.update(k + 1, { iteration: c.iteration, return: result.mean })
      }
    }))
    const returns = [...known].sort(([a], [b]) => a - b).map(([iteration, r]) => ({ iteration, return: r }))
    yield* writeJsonAtomically(path, { format: "dgrl-ars-noisy/1", actionNoise, episodes: noisyEpisodes, returns })
  }
  return known
})

/**
 * Builds the dataset `config.name` and writes it with its recipe; when both files exist with the same recipe (and
 * not `force`), keeps them. ARS runs are cached, so only the first call for a task trains.
 */
export const generate = Effect.fn("Generate.generate")(function*(config: GenerateConfig): Effect.fn.Return<
  GenerateResult,
  Environment.EnvironmentError | DatasetError | DatagenError | FileError,
  Environments | DatasetStore | Progress
> {
  const entry = yield* Effect.fromResult(Recipes.find(config.name))
  const path = join(config.outDir, `${config.name}.hdf5`)
  if (entry.kind === "maze2d") {
    const mazeConfig = Schema.decodeUnknownSync(Maze2dData.Maze2dDataConfig)({
      maze: entry.maze,
      reward: entry.reward,
      seed: config.seed,
      ...(config.size === undefined ? {} : { size: config.size }),
      ...(config.actionNoise === undefined ? {} : { actionNoise: config.actionNoise })
    })
    const evaluation = { episodes: config.evalEpisodes, seed: config.seed }
    const existing = yield* reusable(config, path, (recipe) =>
      recipe.kind === "maze2d" && sameJson(recipe.config, mazeConfig, Maze2dData.Maze2dDataConfig) &&
      recipe.evaluation.episodes === evaluation.episodes && recipe.evaluation.seed === evaluation.seed)
    if (existing !== undefined) return existing
    return yield* buildMaze2d(config.name, path, mazeConfig, evaluation, config.compression)
  }
  const { parts, report } = yield* locomotionParts(config, entry)
  const existing = yield* reusable(config, path, (recipe) =>
    recipe.kind === "locomotion" && sameJson(recipe.parts, parts, Schema.Array(LocomotionData.Part)))
  if (existing !== undefined) return { ...existing, ...(report === undefined ? {} : { ars: report }) }
  const result = yield* buildLocomotion(config.name, path, parts, config.compression)
  return { ...result, ...(report === undefined ? {} : { ars: report }) }
})

/**
 * Rebuilds the dataset described by the recipe at `recipePath` into `outPath` (default: the recipe's own dataset
 * path), from the recipe alone: same parameters, seeds and policies give the same arrays.
 */
export const regenerate = Effect.fn("Generate.regenerate")(function*(
  recipePath: string,
  options: { readonly outPath?: string; readonly compression?: number } = {}
): Effect.fn.Return<
  GenerateResult,
  Environment.EnvironmentError | DatasetError | DatagenError | FileError,
  Environments | DatasetStore | Progress
> {
  const recipe = yield* JsonFile.read(recipePath, Recipes.Recipe)
  if (recipe === undefined) {
    return yield* new DatagenError({ subject: recipePath, reason: new Unreadable({ path: recipePath, message: "no such file" }) })
  }
  const path = options.outPath ?? recipePath.replace(/\.recipe\.json$/, ".hdf5")
  const compression = options.compression ?? 4
  return recipe.kind === "maze2d"
    ? yield* buildMaze2d(recipe.name, path, recipe.config, recipe.evaluation, compression)
    : yield* buildLocomotion(recipe.name, path, recipe.parts, compression)
})

/**
 * The dataset `config.name` as a pinned recipe describes it, when `<recipeDir>/<name>.recipe.json` exists: the
 * file in `config.outDir` is kept when its recipe is the pinned one, else rebuilt from the pinned recipe. Without a
 * pinned recipe, `generate`. Locomotion recipes stop ARS after a number of iterations that depends on the machine's
 * speed (a time budget), so only a pinned recipe gives every machine the data a committed table was built on.
 */
export const ensure = Effect.fn("Generate.ensure")(function*(config: GenerateConfig, recipeDir: string): Effect.fn.Return<
  GenerateResult,
  Environment.EnvironmentError | DatasetError | DatagenError | FileError,
  Environments | DatasetStore | Progress
> {
  const pinnedPath = join(recipeDir, `${config.name}.recipe.json`)
  const pinned = yield* JsonFile.read(pinnedPath, Recipes.Recipe)
  if (pinned === undefined) return yield* generate(config)
  const path = join(config.outDir, `${config.name}.hdf5`)
  const existing = yield* reusable({ ...config, force: false }, path, (recipe) => sameSource(recipe, pinned))
  if (existing !== undefined) return existing
  return yield* regenerate(pinnedPath, { outPath: path, compression: config.compression })
})

/** Reads the dataset at `path` and summarises it: keys with on-disk shapes and dtypes, episodes, returns, scores. */
export const inspect = Effect.fn("Generate.inspect")(function*(path: string) {
  const store = yield* DatasetStore
  const ds = yield* store.read(path)
  const keys = yield* store.keys(path)
  const behaviour = Summary.behaviourFromMetadata(ds)
  return Summary.summarize(ds, {
    name: basename(path).replace(/\.hdf5$/, ""),
    path,
    keys,
    ...(behaviour === undefined ? {} : { behaviour })
  })
})

// ---------------------------------------------------------------------------------------------------------------
// internal: maze2d

const buildMaze2d = Effect.fnUntraced(function*(
  name: string,
  path: string,
  config: Maze2dData.Maze2dDataConfig,
  evaluation: { readonly episodes: number; readonly seed: number },
  compression: number
) {
  const { runtime } = yield* Environments
  const started = yield* Clock.currentTimeMillis
  const ds = yield* Maze2dData.generate(config)
  const score = yield* Environment.attempt(() =>
    Maze2dData.evaluateBehaviour(runtime, config, evaluation.episodes, evaluation.seed)
  )
  const behaviour: Summary.BehaviourScore = {
    return: score.mean,
    normalizedScore: score.normalizedScore,
    source: `${evaluation.episodes} evaluation episodes of the controller with σ = ${config.actionNoise} action noise, to the goal`
  }
  const full: OfflineDataset.OfflineDataset = {
    ...ds,
    metadata: { ...ds.metadata, ...Summary.behaviourMetadata(behaviour) }
  }
  const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
  const summary = Summary.summarize(full, { name, path, behaviour, seconds })
  yield* write(path, full, compression, {
    format: "dgrl-recipe/1",
    kind: "maze2d",
    name,
    config,
    evaluation,
    summary
  })
  return { summary, recipePath: Recipes.recipePath(path), reused: false } satisfies GenerateResult
})

// ---------------------------------------------------------------------------------------------------------------
// internal: locomotion

const partSeed = (config: GenerateConfig, task: Locomotion.Task, role: string): number =>
  Ars.seedAt(Rng.named(config.seed, `Generate.${task}.${role}`), 0)

const locomotionParts = Effect.fnUntraced(function*(config: GenerateConfig, entry: Recipes.LocomotionEntry) {
  const { task, variant } = entry
  const sizes = LocomotionData.defaultSizes[task]
  const actionNoise = config.actionNoise ?? LocomotionData.defaultActionNoise[task]
  if (variant === "random") {
    const part: LocomotionData.Part = {
      kind: "rollouts",
      task,
      size: config.size ?? sizes.random,
      seed: partSeed(config, task, "random"),
      batch: config.batch,
      behaviour: { kind: "uniform" }
    }
    return { parts: [part], report: undefined }
  }
  const path = arsRunPath(config, task)
  const run = yield* trainPolicies(config, task)
  const noisy = yield* scoreUnderNoise(config, task, run, actionNoise)
  const noisyReturn = (c: Ars.Checkpoint): number => noisy.get(c.iteration) ?? c.evalReturn
  const picks = Ars.pick(run.checkpoints, config.mediumFraction, noisyReturn)
  const scoreOf = (c: Ars.Checkpoint): PickReport => ({
    iteration: c.iteration,
    evalReturn: c.evalReturn,
    normalizedScore: Environment.normalizedScore(`${task}-v2`, c.evalReturn),
    noisyReturn: noisyReturn(c),
    noisyNormalizedScore: Environment.normalizedScore(`${task}-v2`, noisyReturn(c))
  })
  const report: ArsReport = {
    path,
    iterations: run.state.iteration,
    envSteps: run.state.envSteps,
    seconds: run.state.seconds,
    actionNoise,
    medium: scoreOf(picks.medium),
    expert: scoreOf(picks.expert)
  }
  const linear = (role: "medium" | "expert"): LocomotionData.Part => {
    const c = picks[role]
    return {
      kind: "rollouts",
      task,
      size: config.size ?? sizes[role],
      seed: partSeed(config, task, role),
      batch: config.batch,
      behaviour: { kind: "linear", role, iteration: c.iteration, evalReturn: c.evalReturn, policy: c.policy, actionNoise }
    }
  }
  if (variant === "medium-replay") {
    const m = picks.medium.iteration
    if (m === 0) {
      return yield* new DatagenError({
        subject: config.name,
        reason: new InvalidConfig({ message: "the medium checkpoint is the initial policy: train ARS longer" })
      })
    }
    const part: LocomotionData.Part = {
      kind: "replay",
      ars: run.config,
      iterations: m,
      size: config.size ?? sizes["medium-replay"],
      selectionSeed: partSeed(config, task, "medium-replay"),
      lengths: run.history.slice(0, m).map((h) => h.lengths),
      weights: picks.medium.policy.weights
    }
    return { parts: [part], report }
  }
  const parts = variant === "medium-expert" ? [linear("medium"), linear("expert")] : [linear(variant)]
  return { parts, report }
})

const buildLocomotion = Effect.fnUntraced(function*(
  name: string,
  path: string,
  parts: ReadonlyArray<LocomotionData.Part>,
  compression: number
) {
  const started = yield* Clock.currentTimeMillis
  const ds = yield* LocomotionData.build(parts)
  const plain = Summary.summarize(ds, { name, path })
  const behaviour: Summary.BehaviourScore | undefined = plain.returns === undefined || plain.normalizedScores === undefined
    ? undefined
    : { return: plain.returns.mean, normalizedScore: plain.normalizedScores.mean, source: "complete episodes of the data" }
  const full: OfflineDataset.OfflineDataset = {
    ...ds,
    metadata: {
      ...ds.metadata,
      generator: "dgrl datagen/LocomotionData",
      ...(behaviour === undefined ? {} : Summary.behaviourMetadata(behaviour))
    }
  }
  const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
  const summary = Summary.summarize(full, { name, path, seconds, ...(behaviour === undefined ? {} : { behaviour }) })
  yield* write(path, full, compression, { format: "dgrl-recipe/1", kind: "locomotion", name, parts, summary })
  return { summary, recipePath: Recipes.recipePath(path), reused: false } satisfies GenerateResult
})

// ---------------------------------------------------------------------------------------------------------------
// internal: files

const write = Effect.fnUntraced(function*(
  path: string,
  ds: OfflineDataset.OfflineDataset,
  compression: number,
  recipe: Recipes.Recipe
) {
  const store = yield* DatasetStore
  yield* store.write(path, ds, { compression })
  yield* writeJsonAtomically(Recipes.recipePath(path), Schema.encodeSync(Recipes.Recipe)(recipe))
})

/** The existing result when `path` and its recipe exist, `accept` the recipe, and `force` is off. */
const reusable = Effect.fnUntraced(function*(
  config: GenerateConfig,
  path: string,
  accept: (recipe: Recipes.Recipe) => boolean
) {
  if (config.force) return undefined
  const recipe = yield* JsonFile.read(Recipes.recipePath(path), Recipes.Recipe).pipe(
    Effect.catchTag("DatagenError", () => Effect.succeed(undefined))
  )
  if (recipe === undefined || !accept(recipe)) return undefined
  const exists = yield* Effect.tryPromise(() => stat(path)).pipe(
    Effect.match({ onFailure: () => false, onSuccess: (info) => info.isFile() })
  )
  if (!exists) return undefined
  const result: GenerateResult = { summary: recipe.summary, recipePath: Recipes.recipePath(path), reused: true }
  return result
})

/** Two recipes build the same arrays: the same generator config (maze2d) or parts (locomotion); summaries aside. */
const sameSource = (a: Recipes.Recipe, b: Recipes.Recipe): boolean =>
  a.kind === "maze2d" && b.kind === "maze2d"
    ? sameJson(a.config, b.config, Maze2dData.Maze2dDataConfig) && a.evaluation.episodes === b.evaluation.episodes &&
      a.evaluation.seed === b.evaluation.seed
    : a.kind === "locomotion" && b.kind === "locomotion" && sameJson(a.parts, b.parts, Schema.Array(LocomotionData.Part))

const sameJson = <S extends Schema.Codec<unknown, unknown, never, never>>(a: S["Type"], b: S["Type"], schema: S): boolean =>
  JSON.stringify(Schema.encodeSync(schema)(a)) === JSON.stringify(Schema.encodeSync(schema)(b))
