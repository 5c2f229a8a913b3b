/**
 * The one entry point: `node src/cli.ts <command>`. Each subcommand decodes its Schema config
 * from flags, picks the backend (`--backend auto|gpu|cpu`) and runs its program.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, Layer, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { BenchConfig, type BenchResult, bench } from "./programs/Bench.ts"
import * as ConfigFile from "./programs/ConfigFile.ts"
import { Checkpoints } from "./services/Checkpoints.ts"
import { readJson, writeJsonAtomically } from "./services/Files.ts"
import { Plots } from "./services/Plots.ts"
import { Progress } from "./services/Progress.ts"
import { ToyConfig, toy } from "./programs/Toy.ts"
import * as ToySource from "./programs/ToySource.ts"
import { BanditConfig, bandit } from "./programs/Bandit.ts"
import { DatasetStore } from "./data/DatasetStore.ts"
import { Environments } from "./env/Environments.ts"
import * as Offline from "./programs/Offline.ts"
import { Methods, OfflineConfig } from "./programs/Offline.ts"
import * as Results from "./programs/Results.ts"
import * as LearningCurves from "./programs/LearningCurves.ts"
import { join } from "node:path"
import * as Generate from "./datagen/Generate.ts"
import { ScalingConfig, scaling } from "./programs/Scaling.ts"
import * as Start from "./programs/Start.ts"
import * as ProgressBar from "./services/ProgressBar.ts"
import { BehaviourFitOptions, behaviourFit, markdown as behaviourFitMarkdown } from "./programs/BehaviourFit.ts"
import { Backend, BackendChoice } from "./services/Backend.ts"
import * as FailureReport from "./programs/FailureReport.ts"
import { PgdToyConfig, pgdToy } from "./programs/PgdToy.ts"
import * as OfflinePgd from "./programs/OfflinePgd.ts"
import * as SyntheticDynamics from "./programs/SyntheticDynamics.ts"
import * as PgdLikelihood from "./programs/PgdLikelihood.ts"
import * as SyntheticExperience from "./rl/SyntheticExperience.ts"
import { TrajectoryModelConfig } from "./diffusion/TrajectoryModel.ts"
import * as Serve from "./programs/Serve.ts"
import { Agent, AgentMethod } from "./services/Agent.ts"

class ConfigFileError extends Schema.TaggedError<ConfigFileError>()("ConfigFileError", {
  program: Schema.String,
  preset: Schema.String,
  cause: Schema.String
}) {
  override get message(): string {
    return `cannot read the ${this.program} config (preset ${this.preset}): ${this.cause}`
  }
}

/** Flags that do not go together, or one that needs another. */
class FlagError extends Schema.TaggedError<FlagError>()("FlagError", { detail: Schema.String }) {
  override get message(): string {
    return this.detail
  }
}

const backendFlag = Flag.Literals("backend", BackendChoice.literals).pipe(
  Flag.withDescription("compute backend: auto (a hardware GPU if Dawn offers one, else wasm), gpu, wasm or cpu (the f64 reference)"),
  Flag.withDefault("auto" as const)
)

const optionalInt = (name: string, description: string) =>
  Flag.Int(name).pipe(Flag.withDescription(description), Flag.optional)

/** Drops unset optional flags so the config's own defaults apply. */
const present = (fields: Record<string, Option.Option<unknown>>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(fields).flatMap(([k, v]) => (Option.isSome(v) ? [[k, v.value]] : [])))

const startFlags = {
  backend: backendFlag,
  quick: Flag.Boolean("quick").pipe(Flag.withDescription("the same two parts, smaller: under 30 s (CI)"), Flag.withDefault(false)),
  outDir: Flag.String("out").pipe(Flag.withDescription("output directory (default out/start)"), Flag.optional),
  seed: optionalInt("seed", "random seed (default 0)"),
  criticSteps: optionalInt("critic-steps", "training steps of the Pendulum critic (default 1000)"),
  guidanceScale: Flag.Finite("guidance-scale").pipe(Flag.withDescription("guidance scale ρ of the Pendulum agent (default 1)"), Flag.optional)
}

const runStart = Effect.fn(function*({ backend, quick, ...flags }: {
  readonly backend: BackendChoice
  readonly quick: boolean
  readonly outDir: Option.Option<string>
  readonly seed: Option.Option<number>
  readonly criticSteps: Option.Option<number>
  readonly guidanceScale: Option.Option<number>
}) {
  const config = yield* Schema.decodeUnknownEffect(Start.StartConfig)({ ...(quick ? Start.quick : {}), ...present(flags) })
  yield* Start.start(config).pipe(Effect.provide(
    Layer.mergeAll(Backend.layer(backend), Checkpoints.layer, Plots.layer, ProgressBar.layer, DatasetStore.layer, Environments.layer)
  ))
})

const startDescription = "the main job in miniature: SWG on a 2-D toy (guided vs unguided against the exact target, with a figure), " +
  "then an SWG agent trained offline on a Pendulum dataset made on the spot and rolled out"

const startCommand = Command.make("start", startFlags, runStart).pipe(Command.withDescription(startDescription))
const demoCommand = Command.make("demo", startFlags, runStart).pipe(Command.withDescription(`the same as start: ${startDescription}`))

const benchCommand = Command.make(
  "bench",
  {
    backend: Flag.Literals("backend", ["all", ...BackendChoice.literals]).pipe(
      Flag.withDescription("backends to measure: all available (default), auto, gpu, wasm or cpu"),
      Flag.withDefault("all" as const)
    ),
    repeats: optionalInt("repeats", "timed repetitions per measurement (default 5)"),
    quick: Flag.Boolean("quick").pipe(Flag.withDescription("skip the largest sizes"), Flag.withDefault(false)),
    profile: Flag.Boolean("profile").pipe(
      Flag.withDescription("also print the time per op of one training step and one guided-sampling call"), Flag.withDefault(false)),
    json: Flag.String("json").pipe(Flag.withDescription("also write the results as a JSON array to this file"), Flag.optional)
  },
  Effect.fn(function*({ backend, json, profile, quick, ...flags }) {
    const config = yield* Schema.decodeUnknownEffect(BenchConfig)({ ...present(flags), quick, profile })
    const choices: ReadonlyArray<BackendChoice> = backend === "all" ? ["gpu", "wasm", "cpu"] : [backend]
    const results: Array<BenchResult> = []
    for (const choice of choices) {
      const result = yield* bench(config).pipe(
        Effect.provide(Backend.layer(choice)),
        Effect.map(Option.some),
        Effect.catchTag("GpuError", (e) =>
          backend === "all" ? Effect.as(Console.log(`skipping gpu: ${e.message}`), Option.none()) : Effect.fail(e))
      )
      if (Option.isSome(result)) results.push(result.value)
    }
    if (Option.isSome(json)) yield* writeJsonAtomically(json.value, results)
  })
).pipe(Command.withDescription("measure matmul, SWG training and guided-sampling speed on each backend"))

/**
 * A preset JSON (presets/<program>-<name>.json) or a config file, merged under the flag overrides: a JSON object,
 * whose fields the program's config Schema then decodes strictly (`decodeConfig`).
 */
const loadConfig = (program: string, preset: string, file: Option.Option<string>) =>
  readJson(
    Option.getOrElse(file, () => new URL(`../presets/${program}-${preset}.json`, import.meta.url).pathname),
    Schema.Record(Schema.String, Schema.Unknown)
  ).pipe(Effect.mapError((e) => new ConfigFileError({ program, preset, cause: e.message })))

/**
 * The preset or config file merged with the flags, `raw`, decoded by `schema`: a key no setting reads (the flags add
 * none) is an `UnknownConfigKey` naming the file.
 */
const decodeConfig = <S extends Schema.Codec<unknown, unknown, never, never>>(
  schema: S,
  raw: unknown,
  program: string,
  preset: string,
  file: Option.Option<string>
) => ConfigFile.decodeStrict(schema, raw, Option.getOrElse(file, () => `presets/${program}-${preset}.json`))

const listFlag = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

const splitList = (value: Option.Option<string>, parse: (s: string) => unknown) =>
  Option.map(value, (v) => v.split(",").map((s) => parse(s.trim())))

const toyCommand = Command.make(
  "toy",
  {
    backend: backendFlag,
    preset: Flag.String("preset").pipe(Flag.withDescription("cpu (minutes on a CPU) or paper (the paper's sizes, for a GPU)"), Flag.withDefault("cpu")),
    config: Flag.String("config").pipe(Flag.withDescription("a JSON config file instead of the preset"), Flag.optional),
    datasets: listFlag("datasets", "comma-separated: 8gaussians,swissroll,rings,moons,checkerboard,2spirals"),
    betas: listFlag("betas", "comma-separated β grid, e.g. 0,1,3,10"),
    steps: optionalInt("steps", "training steps per dataset"),
    seed: optionalInt("seed", "random seed"),
    outDir: Flag.String("out").pipe(Flag.withDescription("output directory (default out/toy)"), Flag.optional),
    data: Flag.String("data").pipe(Flag.withDescription(
      "run on your own 2-D density instead of the built-in datasets: a CSV file with a header naming columns x1, x2, e " +
        "(a point and its energy; other columns ignored), one row per point, all rows used for training"
    ), Flag.optional),
    target: Flag.String("target").pipe(Flag.withDescription(
      "with --data: exact target samples to measure against, a CSV file with columns x1, x2, beta (each β must be in the β grid); " +
        "β values it lacks are measured against the data resampled ∝ exp(β·e)"
    ), Flag.optional),
    name: Flag.String("name").pipe(Flag.withDescription("with --data: the dataset's name in the outputs (default: the data file's base name)"), Flag.optional)
  },
  Effect.fn(function*({ backend, preset, config, datasets, betas, data, target, name, ...flags }) {
    if (Option.isNone(data) && (Option.isSome(target) || Option.isSome(name))) {
      return yield* new FlagError({ detail: "--target and --name go with --data FILE.csv (the points they describe)" })
    }
    if (Option.isSome(data) && Option.isSome(datasets)) {
      return yield* new FlagError({ detail: "--datasets picks built-in datasets, --data runs on a file instead: pass one of them" })
    }
    const base = yield* loadConfig("toy", preset, config)
    // With --data the file is the only dataset: the config records no built-in one.
    const datasetList = Option.isSome(data) ? Option.some([]) : splitList(datasets, (s) => s)
    const overrides = present({ ...flags, datasets: datasetList, betas: splitList(betas, Number) })
    const decoded = yield* decodeConfig(ToyConfig, { ...base, ...overrides }, "toy", preset, config)
    const sources = Option.isSome(data)
      ? [yield* ToySource.fromFiles({ data: data.value, target: Option.getOrUndefined(target), name: Option.getOrUndefined(name), betas: decoded.betas })]
      : undefined
    yield* toy(decoded, sources).pipe(Effect.provide([Backend.layer(backend), Checkpoints.layer, Plots.layer, Progress.layer]))
  })
).pipe(Command.withDescription(
  "SWG and QGPO on the 2-D toys (or on your own points with --data): train per dataset, sample with self-weighted guidance and with QGPO's " +
    "energy guidance, compare with exact targets"
))

const banditCommand = Command.make(
  "bandit",
  {
    backend: backendFlag,
    preset: Flag.String("preset").pipe(Flag.withDescription("cpu (minutes on a CPU)"), Flag.withDefault("cpu")),
    config: Flag.String("config").pipe(Flag.withDescription("a JSON config file instead of the preset"), Flag.optional),
    seed: optionalInt("seed", "random seed"),
    outDir: Flag.String("out").pipe(Flag.withDescription("output directory (default out/bandit)"), Flag.optional)
  },
  Effect.fn(function*({ backend, preset, config, ...flags }) {
    const base = yield* loadConfig("bandit", preset, config)
    const decoded = yield* decodeConfig(BanditConfig, { ...base, ...present(flags) }, "bandit", preset, config)
    yield* bandit(decoded).pipe(Effect.provide([Backend.layer(backend), Plots.layer, Progress.layer]))
  })
).pipe(Command.withDescription("Diffusion-DICE's 2-D bandit: D-DICE, guide-only, select-only and SWG on the same data; figure and metrics.json"))

const scalingCommand = Command.make(
  "scaling",
  {
    backend: backendFlag,
    batch: optionalInt("batch", "samples per call (default 1)"),
    repeats: optionalInt("repeats", "timed repeats (default 5)"),
    outDir: Flag.String("out").pipe(Flag.withDescription("output directory (default out/scaling)"), Flag.optional)
  },
  Effect.fn(function*({ backend, ...flags }) {
    const config = yield* Schema.decodeUnknownEffect(ScalingConfig)(present(flags))
    yield* scaling(config).pipe(Effect.provide([Backend.layer(backend), Plots.layer]))
  })
).pipe(Command.withDescription("inference-time scaling: guided vs unguided sampling time as depth and width grow"))

// ---- offline RL ------------------------------------------------------------------------------

const offlineFlags = {
  backend: backendFlag,
  preset: Flag.String("preset").pipe(Flag.withDescription("cpu (sized for a 2-core CPU) or paper (the paper's sizes)"), Flag.withDefault("cpu")),
  config: Flag.String("config").pipe(Flag.withDescription("a JSON config file instead of the preset"), Flag.optional),
  task: Flag.String("task").pipe(Flag.withDescription("D4RL task name, e.g. maze2d-umaze-v1, hopper-medium-replay-v2")),
  dataset: Flag.String("dataset").pipe(Flag.withDescription("HDF5 dataset (default out/datasets/<task>.hdf5)"), Flag.optional),
  seed: optionalInt("seed", "random seed (default 0)"),
  steps: optionalInt("steps", "override the training steps of this stage"),
  runDir: Flag.String("run-dir").pipe(Flag.withDescription("checkpoint directory (default runs/<task>/seed<seed>)"), Flag.optional),
  results: Flag.String("results").pipe(Flag.withDescription("results directory (default results)"), Flag.optional),
  fresh: Flag.Boolean("fresh").pipe(Flag.withDescription("start over instead of resuming from the run directory"), Flag.withDefault(false)),
  resume: Flag.Boolean("resume").pipe(
    Flag.withDescription("continue a stopped run from its last checkpoint (the default; --fresh starts over)"), Flag.withDefault(true))
}

type OfflineFlags = {
  readonly preset: string
  readonly config: Option.Option<string>
  readonly task: string
  readonly dataset: Option.Option<string>
  readonly seed: Option.Option<number>
  readonly steps: Option.Option<number>
  readonly runDir: Option.Option<string>
  readonly results: Option.Option<string>
  readonly fresh: boolean
  readonly resume: boolean
}

/**
 * Preset + flags → OfflineConfig, decoded once so a bad value names its field; `stepsField` says
 * which stage `--steps` overrides, `evaluation` overrides fields of the evaluation config.
 */
const offlineConfig = (f: OfflineFlags, stepsField: "criticSteps" | "swg" | "iql" | "td3bc" | undefined, evaluation: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const base = yield* loadConfig("offline", f.preset, f.config)
    const seed = Option.getOrElse(f.seed, () => (base.seed as number | undefined) ?? 0)
    const raw: Record<string, unknown> = {
      ...base,
      task: f.task,
      seed,
      dataset: Option.getOrElse(f.dataset, () => `out/datasets/${f.task}.hdf5`),
      runDir: Option.getOrElse(f.runDir, () => `runs/${f.task}/seed${seed}`),
      resultsDir: Option.getOrElse(f.results, () => "results"),
      resume: f.resume && !f.fresh,
      evaluation: { ...(base.evaluation as object | undefined), ...evaluation }
    }
    if (Option.isSome(f.steps) && stepsField === "criticSteps") raw.criticSteps = f.steps.value
    if (Option.isSome(f.steps) && (stepsField === "swg" || stepsField === "iql" || stepsField === "td3bc")) {
      raw[stepsField] = { ...(base[stepsField] as object | undefined), steps: f.steps.value }
    }
    return yield* decodeConfig(OfflineConfig, raw, "offline", f.preset, f.config)
  })

const offlineLayers = (backend: BackendChoice) =>
  Layer.mergeAll(Backend.layer(backend), Checkpoints.layer, Plots.layer, Progress.layer, DatasetStore.layer, Environments.layer)

const trainCriticCommand = Command.make("train-critic", offlineFlags, Effect.fn(function*({ backend, ...f }) {
  const c = yield* offlineConfig(f, "criticSteps")
  yield* Offline.trainCritic(c).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription("train the IQL critic (twin Q, target Q, V) on a dataset"))

const trainSwgCommand = Command.make("train-swg", offlineFlags, Effect.fn(function*({ backend, ...f }) {
  const c = yield* offlineConfig(f, "swg")
  yield* Offline.trainSwg(c).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription("weights from the critic, then the SWG diffusion model on z = [a, w]"))

const trainBaselineCommand = Command.make("train-baseline", offlineFlags, Effect.fn(function*({ backend, ...f }) {
  const c = yield* offlineConfig(f, "iql")
  yield* Offline.trainIql(c).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription("train IQL's AWR actor (diffusion BC and IDQL reuse the SWG model, unguided)"))

const trainQgpoCommand = Command.make("train-qgpo", offlineFlags, Effect.fn(function*({ backend, ...f }) {
  const c = yield* offlineConfig(f, undefined)
  yield* Offline.trainQgpo(c).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription("QGPO on the SWG model (train-swg first): support actions, softmax-backup Q, the CEP energy network; evaluate it with --methods qgpo"))

const trainDiceCommand = Command.make("train-dice", offlineFlags, Effect.fn(function*({ backend, ...f }) {
  const c = yield* offlineConfig(f, undefined)
  yield* Offline.trainDice(c).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription("Diffusion-DICE: the DICE critic, the behaviour model on the VP-SDE and the IGL guidance network; evaluate with --methods d-dice,d-dice-guide-only,d-dice-select-only"))

const trainTd3BcCommand = Command.make("train-td3bc", offlineFlags, Effect.fn(function*({ backend, ...f }) {
  const c = yield* offlineConfig(f, "td3bc")
  yield* Offline.trainTd3Bc(c).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription("train TD3+BC (twin critics, deterministic actor with a BC term) on the raw rewards; evaluate it with --methods td3bc"))

const trainTrajectoryCommand = Command.make("train-trajectory", offlineFlags, Effect.fn(function*({ backend, ...f }) {
  const c = yield* offlineConfig(f, undefined)
  const steps = Option.map(f.steps, (s) => new OfflineConfig({ ...c, pgd: new SyntheticExperience.PgdConfig({ ...c.pgd, model: new TrajectoryModelConfig({ ...c.pgd.model, steps: s }) }) }))
  yield* OfflinePgd.trainTrajectory(Option.getOrElse(steps, () => c)).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription("Policy-Guided Diffusion: the trajectory model (temporal U-Net + EDM) on the dataset's windows (--steps: its training steps)"))

const trainSyntheticCommand = Command.make("train-synthetic", {
  ...offlineFlags,
  agent: Flag.Literals("agent", SyntheticExperience.SyntheticAgents).pipe(Flag.withDescription("td3bc or iql (IQL trains its critic on the same batches)")),
  data: Flag.Literals("data", SyntheticExperience.DataSources).pipe(Flag.withDescription("unguided, or pgd (guided towards the current agent)"))
}, Effect.fn(function*({ backend, agent, data, ...f }) {
  const c = yield* offlineConfig(f, agent)
  yield* OfflinePgd.trainSynthetic(c, agent, data).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription(
  "Policy-Guided Diffusion: TD3+BC or IQL on real + synthetic batches from the trajectory model (train-trajectory first), regenerated " +
    "every pgd.regenerateEvery steps; evaluate with --methods td3bc-unguided,td3bc-pgd,iql-unguided,iql-pgd"
))

const dynamicsErrorCommand = Command.make("dynamics-error", {
  ...offlineFlags,
  trajectories: optionalInt("trajectories", "trajectories per source (default 256)"),
  target: Flag.String("target").pipe(Flag.withDescription(`the agent whose actor guides the PGD samples: ${SyntheticDynamics.TargetPolicies.join(", ")} (default td3bc)`), Flag.optional),
  lambda: Flag.Finite("lambda").pipe(Flag.withDescription("guidance λ of the PGD samples (default pgd.guidance.coefficient)"), Flag.optional),
  ensembleSteps: optionalInt("ensemble-steps", "training steps of the MLP dynamics ensemble (default 5000)"),
  withoutEnsemble: Flag.Boolean("without-ensemble").pipe(Flag.withDescription("leave the MLP dynamics ensemble out"), Flag.withDefault(false)),
  out: Flag.String("out").pipe(Flag.withDescription("output directory (default out/dynamics-error/<task>/seed<seed>)"), Flag.optional)
}, Effect.fn(function*({ backend, trajectories, target, lambda, ensembleSteps, withoutEnsemble, out, ...f }) {
  const c = yield* offlineConfig(f, undefined)
  const d = yield* Schema.decodeUnknownEffect(SyntheticDynamics.SyntheticDynamicsConfig)({
    ...present({ trajectories, target, lambda }), withoutEnsemble, ...(Option.isSome(ensembleSteps) ? { ensemble: { steps: ensembleSteps.value } } : {}), outDir: Option.getOrElse(out, () => `out/dynamics-error/${c.task}/seed${c.seed}`)
  })
  yield* SyntheticDynamics.syntheticDynamics(c, d).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription(
  "Policy-Guided Diffusion: dynamics error of synthetic transitions by position in the trajectory (real windows, unguided, PGD, an MLP " +
    "dynamics ensemble rolled out under the same actor) against mujoco-js; table and plot"
))

const pgdLikelihoodCommand = Command.make("pgd-likelihood", {
  ...offlineFlags,
  trajectories: optionalInt("trajectories", "trajectories per λ and real windows (default 256)"),
  target: Flag.String("target").pipe(Flag.withDescription(`the agent whose actor is the target: ${SyntheticDynamics.TargetPolicies.join(", ")} (default td3bc)`), Flag.optional),
  lambdas: listFlag("lambdas", "comma-separated guidance coefficients λ (default 0,0.03,0.1,0.3,1)"),
  withoutDynamics: Flag.Boolean("without-dynamics").pipe(Flag.withDescription("leave the dynamics error out"), Flag.withDefault(false)),
  out: Flag.String("out").pipe(Flag.withDescription("output directory (default out/pgd-likelihood/<task>/seed<seed>)"), Flag.optional)
}, Effect.fn(function*({ backend, trajectories, target, lambdas, withoutDynamics, out, ...f }) {
  const c = yield* offlineConfig(f, undefined)
  const p = yield* Schema.decodeUnknownEffect(PgdLikelihood.PgdLikelihoodConfig)({
    ...present({ trajectories, target, lambdas: splitList(lambdas, Number) }), withoutDynamics,
    outDir: Option.getOrElse(out, () => `out/pgd-likelihood/${c.task}/seed${c.seed}`)
  })
  yield* PgdLikelihood.pgdLikelihood(c, p).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription(
  "Policy-Guided Diffusion: the target policy's mean log-likelihood of synthetic actions at each λ (same noise at every λ), beside the " +
    "real data's and with the dynamics error of the same transitions; table and metrics.json (train-trajectory and the target's stage first)"
))

const evaluateCommand = Command.make("evaluate", {
  ...offlineFlags,
  methods: listFlag("methods", "comma-separated: swg,swg-r,diffusion-bc,idql,iql,qgpo,d-dice,d-dice-guide-only,d-dice-select-only,td3bc,td3bc-unguided,td3bc-pgd,iql-unguided,iql-pgd (default all but qgpo, d-dice*, td3bc and the PGD agents)"),
  episodes: optionalInt("episodes", "episodes per method (default from the preset)")
}, Effect.fn(function*({ backend, methods, episodes, ...f }) {
  const c = yield* offlineConfig(f, undefined, present({ methods: splitList(methods, (m) => m), episodes }))
  yield* Offline.evaluate(c).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription("roll out the trained policies; one result file per task, method and seed"))

const sweepCommand = Command.make("sweep", {
  ...offlineFlags,
  scales: listFlag("scales", "guidance scales ρ (default 1,5,10,15,20,25,30)")
}, Effect.fn(function*({ backend, scales, ...f }) {
  const c = yield* offlineConfig(f, undefined, present({ methods: Option.some(["swg"]), sweepScales: splitList(scales, Number) }))
  yield* Offline.evaluate(c, c.evaluation.sweepScales).pipe(Effect.provide(offlineLayers(backend)))
})).pipe(Command.withDescription("SWG guidance-scale sweep (paper App. D.3)"))

const criticReportCommand = Command.make("critic-report", {
  ...offlineFlags,
  groups: optionalInt("groups", "groups of episodes ranked by return (default 5)")
}, Effect.fn(function*({ backend, groups, ...f }) {
  const c = yield* offlineConfig(f, undefined)
  const report = yield* Offline.criticReport(c, Option.getOrElse(groups, () => 5)).pipe(Effect.provide(offlineLayers(backend)))
  yield* Console.log(report.markdown)
})).pipe(Command.withDescription(
  "how the trained critic ranks the data: share of positive advantages and mean advantage by episode-return group"
))

const behaviourFitCommand = Command.make("behaviour-fit", {
  ...offlineFlags,
  probes: optionalInt("probes", "held-out states at which actions are compared (default 64)"),
  neighbours: optionalInt("neighbours", "nearest data states per probe (default 128)"),
  temperature: Flag.Finite("temperature").pipe(Flag.withDescription("sampling temperature of diffusion BC (default 1)"), Flag.optional),
  parameters: Flag.Literals("parameters", ["ema", "live"]).pipe(Flag.withDescription("sample with the EMA (default) or the live parameters"), Flag.optional),
  json: Flag.String("json").pipe(Flag.withDescription("also write the report as JSON to this file"), Flag.optional)
}, Effect.fn(function*({ backend, probes, neighbours, temperature, parameters, json, ...f }) {
  const c = yield* offlineConfig(f, undefined)
  const options = yield* Schema.decodeUnknownEffect(BehaviourFitOptions)(present({ probes, neighbours, temperature, parameters }))
  const report = yield* behaviourFit(c, options).pipe(Effect.provide(offlineLayers(backend)))
  yield* Console.log(behaviourFitMarkdown(report))
  if (Option.isSome(json)) yield* writeJsonAtomically(json.value, report)
})).pipe(Command.withDescription(
  "does the SWG model, sampled unguided (diffusion BC), reproduce the data's policy? ε-error per step, actions at nearby states"
))

/** The recipes of the datasets the README's tables were built on (`dataset generate` and `table` rebuild exactly these). */
const PINNED_RECIPES = "datasets"

/** The five tasks: the README's results table (and its row order). */
const tableTasks = ["maze2d-umaze-v1", "maze2d-medium-v1", "halfcheetah-medium-v2", "hopper-medium-replay-v2", "walker2d-medium-expert-v2"]

/** results.md, results.json, the score and sweep plots, and the learning curves under <results>/curves. */
const buildResults = (results: string, runs: string) =>
  Effect.gen(function*() {
    const { markdown } = yield* Results.build(results, ["data", ...Methods], tableTasks)
    const curves = yield* LearningCurves.plot(runs, join(results, "curves"))
    yield* Console.log(markdown)
    yield* Console.log(`learning curves: ${curves.length} figures in ${join(results, "curves")}`)
  }).pipe(Effect.provide(Layer.mergeAll(Plots.layer, Checkpoints.layer)))

const resultsCommand = Command.make("results", {
  results: Flag.String("results").pipe(Flag.withDescription("results directory"), Flag.withDefault("results")),
  runs: Flag.String("runs").pipe(Flag.withDescription("run directories with the checkpoints (learning curves)"), Flag.withDefault("runs"))
}, Effect.fn(function*({ results, runs }) {
  yield* buildResults(results, runs)
})).pipe(Command.withDescription("build results.md, results.json, plots and learning curves from the result files and checkpoints"))

const tableCommand = Command.make("table", {
  preset: offlineFlags.preset,
  config: offlineFlags.config,
  tasks: listFlag("tasks", `comma-separated tasks (default ${tableTasks.join(",")})`),
  seeds: listFlag("seeds", "comma-separated seeds (default 0,1,2)"),
  trainBackend: Flag.Literals("train-backend", BackendChoice.literals).pipe(
    Flag.withDescription("backend of the training stages (default auto)"), Flag.withDefault("auto" as const)),
  evalBackend: Flag.Literals("eval-backend", BackendChoice.literals).pipe(
    Flag.withDescription("backend of the rollouts (default auto: a real GPU, else the WASM backend)"), Flag.withDefault("auto" as const)),
  results: offlineFlags.results,
  runs: Flag.String("runs").pipe(Flag.withDescription("root of the run directories: <runs>/<task>/seed<seed> (default runs)"), Flag.withDefault("runs")),
  fresh: offlineFlags.fresh
}, Effect.fn(function*({ evalBackend, fresh, preset, config, results, runs, seeds, tasks, trainBackend }) {
  const taskList = Option.getOrElse(splitList(tasks, (t) => t), () => tableTasks) as ReadonlyArray<string>
  const seedList = Option.getOrElse(splitList(seeds, Number), () => [0, 1, 2]) as ReadonlyArray<number>
  for (const task of taskList) {
    yield* Generate.ensure(yield* Schema.decodeUnknownEffect(Generate.GenerateConfig)({ name: task }), PINNED_RECIPES).pipe(
      Effect.provide(Layer.mergeAll(DatasetStore.layer, Environments.layer, Progress.layer)))
    for (const seed of seedList) {
      const c = yield* offlineConfig({
        preset, config, task, dataset: Option.none(), seed: Option.some(seed), steps: Option.none(), runDir: Option.some(join(runs, task, `seed${seed}`)), results, fresh,
        resume: true
      }, undefined)
      if (yield* Offline.evaluated(c)) {
        yield* Console.log(`${task} seed ${seed}: every method's result file exists in ${c.resultsDir}, skipped (--fresh redoes it)`)
        continue
      }
      // Each group of methods is evaluated as soon as its models are trained, so an interrupted
      // (task, seed) keeps the result files of the groups it finished (checkpoints may not outlive it).
      const synthetic = SyntheticExperience.SyntheticAgents.flatMap((agent) =>
        SyntheticExperience.DataSources.map((source) => ({ agent, source, method: SyntheticExperience.methodOf(agent, source) })))
      const groups: ReadonlyArray<{ readonly methods: ReadonlyArray<string>; readonly stage: string }> = [
        { methods: ["swg", "swg-r", "diffusion-bc", "idql", "iql"], stage: "swg" },
        { methods: ["td3bc"], stage: "td3bc" },
        { methods: ["d-dice", "d-dice-guide-only", "d-dice-select-only"], stage: "dice" },
        { methods: ["qgpo"], stage: "qgpo" },
        ...synthetic.map(({ method }) => ({ methods: [method], stage: method }))
      ]
      const train = (stage: string) =>
        Effect.gen(function*() {
          if (stage === "swg") {
            yield* Offline.trainCritic(c)
            yield* Offline.trainSwg(c)
            yield* Offline.trainIql(c)
          } else if (stage === "td3bc") {
            yield* Offline.trainTd3Bc(c)
          } else if (stage === "dice") {
            yield* Offline.trainDice(c)
          } else if (stage === "qgpo") {
            yield* Offline.trainCritic(c)
            yield* Offline.trainSwg(c)
            yield* Offline.trainQgpo(c)
          } else {
            for (const s of synthetic.filter((x) => x.method === stage)) {
              yield* OfflinePgd.trainTrajectory(c)
              yield* OfflinePgd.trainSynthetic(c, s.agent, s.source)
            }
          }
        })
      for (const group of groups) {
        const methods = c.evaluation.methods.filter((m) => group.methods.includes(m))
        if (methods.length === 0) continue
        const part = new Offline.OfflineConfig({ ...c, evaluation: new Offline.EvaluationConfig({ ...c.evaluation, methods }) })
        if (yield* Offline.evaluated(part)) continue
        yield* train(group.stage).pipe(Effect.provide(offlineLayers(trainBackend)))
        yield* Offline.evaluate(part).pipe(Effect.provide(offlineLayers(evalBackend)))
      }
    }
  }
  yield* buildResults(Option.getOrElse(results, () => "results"), runs)
})).pipe(Command.withDescription(
  "the README's table: for each task and seed, generate the dataset if missing, train critic, SWG and IQL, evaluate every method " +
    "(each stage resumes or is skipped when done), then build the results"
))

const datasetGenerate = Command.make("generate", {
  name: Flag.String("name").pipe(Flag.withDescription("dataset, e.g. maze2d-umaze-v1, hopper-medium-replay-v2, halfcheetah-medium-v2")),
  outDir: Flag.String("out").pipe(Flag.withDescription("output directory (default out/datasets)"), Flag.optional),
  seed: optionalInt("seed", "master seed (default 0)"),
  size: optionalInt("size", "transitions (default D4RL's size)"),
  arsSeconds: optionalInt("ars-seconds", "ARS training budget per locomotion task in seconds (default 240)"),
  force: Flag.Boolean("force").pipe(
    Flag.withDescription(`build anew on this machine's budget, even if the same recipe exists or one is pinned in ${PINNED_RECIPES}/`),
    Flag.withDefault(false))
}, Effect.fn(function*({ force, name, ...flags }) {
  const config = yield* Schema.decodeUnknownEffect(Generate.GenerateConfig)({ ...present(flags), name, force })
  const build = force ? Generate.generate(config) : Generate.ensure(config, PINNED_RECIPES)
  const result = yield* build.pipe(Effect.provide(Layer.mergeAll(DatasetStore.layer, Environments.layer, Progress.layer)))
  yield* Console.log(JSON.stringify(result.summary, null, 2))
})).pipe(Command.withDescription(
  `generate a D4RL-style dataset: from its pinned recipe in ${PINNED_RECIPES}/ when there is one (the exact data of the README's tables), ` +
    "else anew (deterministic by seed and ARS iterations; ARS policies cached)"
))

const datasetRegenerate = Command.make("regenerate", {
  recipe: Flag.String("recipe").pipe(Flag.withDescription("a <name>.recipe.json written beside a generated dataset")),
  out: Flag.String("out").pipe(Flag.withDescription("output HDF5 (default: beside the recipe)"), Flag.optional)
}, Effect.fn(function*({ out, recipe }) {
  const result = yield* Generate.regenerate(recipe, Option.isSome(out) ? { outPath: out.value } : {}).pipe(
    Effect.provide(Layer.mergeAll(DatasetStore.layer, Environments.layer, Progress.layer)))
  yield* Console.log(JSON.stringify(result.summary, null, 2))
})).pipe(Command.withDescription("rebuild a dataset from its recipe alone (same parameters, seeds and policies give the same arrays)"))

const datasetInspect = Command.make("inspect", {
  path: Flag.String("path").pipe(Flag.withDescription("an HDF5 file in the D4RL layout (ours or D4RL's)"))
}, Effect.fn(function*({ path }) {
  const summary = yield* Generate.inspect(path).pipe(Effect.provide(DatasetStore.layer))
  yield* Console.log(JSON.stringify(summary, null, 2))
})).pipe(Command.withDescription("summarise a dataset: keys, shapes, episodes, returns, normalised scores"))

const datasetCommand = Command.make("dataset").pipe(
  Command.withSubcommands([datasetGenerate, datasetRegenerate, datasetInspect]),
  Command.withDescription("generate or inspect D4RL-layout datasets")
)

const serveCommand = Command.make("serve", {
  backend: backendFlag,
  runDir: Flag.String("run-dir").pipe(Flag.withDescription("a trained run directory (the checkpoints of the method's stages)")),
  method: Flag.Literals("method", AgentMethod.literals).pipe(Flag.withDescription("the policy to serve (default swg)"), Flag.withDefault("swg" as const)),
  task: Flag.String("task").pipe(Flag.withDescription("task name for /v1/info (default: from a run directory <task>/seed<N>)"), Flag.optional),
  port: optionalInt("port", "TCP port (default 8080; 0 picks a free one)"),
  host: Flag.String("host").pipe(Flag.withDescription("interface to listen on (default 127.0.0.1)"), Flag.optional),
  maxBatch: optionalInt("max-batch", "most observations per request and per device call (default 1024)"),
  batchWindowMs: Flag.Finite("batch-window-ms").pipe(Flag.withDescription("how long to gather concurrent requests (default 1 ms)"), Flag.optional)
}, Effect.fn(function*({ backend, runDir, method, task, ...flags }) {
  const config = yield* Schema.decodeUnknownEffect(Serve.ServeConfig)(present(flags))
  const agent = Agent.layer({ runDir, method, ...(Option.isSome(task) ? { task: task.value } : {}) })
  yield* Layer.launch(Serve.layer(config).pipe(Layer.provide(agent), Layer.provide(Layer.mergeAll(Backend.layer(backend), Checkpoints.layer))))
})).pipe(Command.withDescription("serve a trained policy over HTTP: POST /v1/act, GET /v1/info, GET /v1/health"))

const pgdToyCommand = Command.make(
  "pgd-toy",
  {
    backend: backendFlag,
    steps: optionalInt("steps", "training steps of the trajectory model (default 3000)"),
    lambdas: listFlag("lambdas", "comma-separated guidance coefficients λ (default 0,0.01,0.03,0.1,0.3,1)"),
    seed: optionalInt("seed", "random seed (default 0)"),
    outDir: Flag.String("out").pipe(Flag.withDescription("output directory (default out/pgd-toy)"), Flag.optional)
  },
  Effect.fn(function*({ backend, steps, lambdas, ...flags }) {
    const base = yield* Schema.decodeUnknownEffect(PgdToyConfig)({})
    const model = Option.isSome(steps) ? { model: { ...Schema.encodeSync(PgdToyConfig)(base).model, steps: steps.value } } : {}
    const config = yield* Schema.decodeUnknownEffect(PgdToyConfig)({ ...present({ ...flags, lambdas: splitList(lambdas, Number) }), ...model })
    yield* pgdToy(config).pipe(Effect.provide([Backend.layer(backend), Plots.layer]))
  })
).pipe(Command.withDescription("Policy-Guided Diffusion on a 2-D point mass: trajectory model + policy guidance at several λ against exact samples of p_off·π_target^λ (figure, metrics.json)"))

const root = Command.make("dgrl").pipe(
  Command.withSubcommands([
    startCommand, demoCommand, benchCommand, toyCommand, banditCommand, scalingCommand, datasetCommand,
    trainCriticCommand, trainSwgCommand, trainBaselineCommand, trainQgpoCommand, trainDiceCommand, trainTd3BcCommand, trainTrajectoryCommand, trainSyntheticCommand, evaluateCommand, sweepCommand, resultsCommand, tableCommand,
    criticReportCommand,
    behaviourFitCommand,
    serveCommand, pgdToyCommand, dynamicsErrorCommand, pgdLikelihoodCommand
  ]),
  Command.withDescription("diffusion-guided offline reinforcement learning on WebGPU")
)

// An expected failure is printed as one line with what to do; defects (and --log-level debug) keep the full report.
Command.run(root, { version: "0.1.0" }).pipe(
  Effect.provide(NodeServices.layer),
  FailureReport.reportFailures({ verbose: FailureReport.verboseFromArgv(process.argv) }),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
