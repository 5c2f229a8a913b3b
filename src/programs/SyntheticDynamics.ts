/**
 * The dynamics error of synthetic trajectories by position (Policy-Guided Diffusion, Jackson et al., RLC 2024, the
 * paper's dynamics-error comparison; issue #10 item 6): trajectories sampled from a run directory's trajectory model,
 * unguided and guided by a trained agent's actor, windows of the real data as the check (error ≈ 0), and the
 * model-based comparison: a one-step MLP dynamics ensemble (rl/DynamicsEnsemble.ts, stage `trainDynamicsEnsemble`,
 * dynamics-ensemble.safetensors) rolled out autoregressively under the same actor from the real windows' first states.
 * Each transition is stepped in mujoco-js from the state its observation describes (env/DynamicsError.ts). Output: the
 * mean error with its standard error at every position t → t + 1, as metrics.json, a markdown table and a line plot.
 */
import { Console, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Figure from "../domain/Figure.ts"
import * as Rng from "../domain/Rng.ts"
import * as Trajectories from "../data/Trajectories.ts"
import * as PolicyGuidance from "../diffusion/PolicyGuidance.ts"
import * as DynamicsError from "../env/DynamicsError.ts"
import type * as Locomotion from "../env/Locomotion.ts"
import * as SyntheticExperience from "../rl/SyntheticExperience.ts"
import * as Agent from "../services/Agent.ts"
import { Backend } from "../services/Backend.ts"
import { writeJsonAtomically, writeTextAtomically } from "../services/Files.ts"
import { Plots } from "../services/Plots.ts"
import * as DynamicsEnsemble from "../rl/DynamicsEnsemble.ts"
import * as IqlActor from "../rl/IqlActor.ts"
import * as Td3Bc from "../rl/Td3Bc.ts"
import { loadData, type OfflineConfig } from "./Offline.ts"
import * as OfflinePgd from "./OfflinePgd.ts"
import * as ResumableLoop from "./ResumableLoop.ts"
import * as StageConfig from "./StageConfig.ts"

/** The trained agents whose actor can be the guidance target. */
export const TargetPolicies = ["td3bc", "iql", ...SyntheticExperience.SyntheticMethods] as const
export type TargetPolicy = (typeof TargetPolicies)[number]

/** The guidance target names no trained agent with an actor. */
export class UnknownTargetPolicy extends Schema.TaggedError<UnknownTargetPolicy>()("UnknownTargetPolicy", { target: Schema.String }) {
  override get message(): string {
    return `no target policy "${this.target}" (known: ${TargetPolicies.join(", ")})`
  }
}

/** The dynamics error needs a simulator whose state an observation describes: hopper, walker2d, halfcheetah. */
export class NoSimulatorState extends Schema.TaggedError<NoSimulatorState>()("NoSimulatorState", { task: Schema.String }) {
  override get message(): string {
    return `the dynamics error needs a hopper, walker2d or halfcheetah task (its state is set from an observation), not "${this.task}"`
  }
}

export class SyntheticDynamicsConfig extends Schema.Class<SyntheticDynamicsConfig>("SyntheticDynamicsConfig")({
  /** Trajectories per source (generated, and real windows). */
  trajectories: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** The agent of the run directory whose actor guides the PGD samples. */
  target: Schema.String.pipe(Config.withDefault("td3bc")),
  /** λ of the PGD samples (default: the offline config's `pgd.guidance.coefficient`). */
  lambda: Schema.optional(Schema.Finite),
  /** The model-based comparison (trained once per run directory; `ensemble.steps` its training steps). */
  ensemble: DynamicsEnsemble.DynamicsEnsembleConfig.pipe(Config.withDefault({})),
  /** Leave the ensemble out. */
  withoutEnsemble: Schema.Boolean.pipe(Config.withDefault(false)),
  outDir: Schema.String
}) {}

/** The error by position of one source of transitions. */
export interface SourceErrors {
  readonly source: "real data" | "unguided" | "PGD" | "MLP ensemble"
  readonly mean: number
  readonly byPosition: ReadonlyArray<DynamicsError.PositionError>
  /** Share of transitions starting at the observation's velocity clip. */
  readonly atVelocityBound: number
}

export const resolveTarget = (name: string): Effect.Effect<TargetPolicy, UnknownTargetPolicy> =>
  Schema.is(Schema.Literals(TargetPolicies))(name) ? Effect.succeed(name) : Effect.fail(new UnknownTargetPolicy({ target: name }))

/** A trained agent of the run directory as the guidance target, and its (mean) actions for the ensemble's rollouts. */
export const loadTarget = Effect.fn("SyntheticDynamics.loadTarget")(function*(runDir: string, name: string) {
  const target = yield* resolveTarget(name)
  const backend = yield* Backend
  const run = yield* Agent.loadRun(runDir, [target])
  const synthetic = target === "td3bc" || target === "iql" ? undefined : run.synthetic?.[target]
  if (target === "td3bc" || synthetic?.kind === "td3bc") {
    const agent = target === "td3bc" ? run.td3bc!.agent : (synthetic as Extract<Agent.SyntheticActor, { kind: "td3bc" }>).agent
    return { policy: OfflinePgd.td3bcTarget(agent, agent.actor), act: (obs: Float64Array) => Td3Bc.act(backend, agent, obs) }
  }
  const actor = target === "iql" ? run.iql!.actor : (synthetic as Extract<Agent.SyntheticActor, { kind: "iql" }>).actor
  return { policy: OfflinePgd.iqlTarget(actor, actor.model.params), act: (obs: Float64Array) => IqlActor.act(backend, actor, obs) }
})

export const ensemblePath = (c: OfflineConfig): string => `${c.runDir}/dynamics-ensemble.safetensors`

/** The ensemble over the run's training transitions (raw rewards: they are not modelled), created or restored. */
const ensembleOf = Effect.fn("SyntheticDynamics.ensembleOf")(function*(c: OfflineConfig, config: DynamicsEnsemble.DynamicsEnsembleConfig) {
  const { prepared, device } = yield* loadData(c, "none")
  const backend = yield* Backend
  const t = prepared.train
  const standardisation = DynamicsEnsemble.standardisationOf(t.observations, t.actions, t.nextObservations!, t.observationDim, t.actionDim)
  const ensemble = yield* backend.run((B) =>
    DynamicsEnsemble.create(B, config, t.observationDim, t.actionDim, standardisation, Rng.named(c.seed, "dynamics-ensemble-init")))
  return { ensemble, device }
})

/** Stage: the dynamics ensemble on the training transitions (dynamics-ensemble.safetensors), resumable. */
export const trainDynamicsEnsemble = Effect.fn("SyntheticDynamics.trainDynamicsEnsemble")(function*(
  c: OfflineConfig,
  config: DynamicsEnsemble.DynamicsEnsembleConfig
) {
  const { ensemble, device } = yield* ensembleOf(c, config)
  const backend = yield* Backend
  yield* ResumableLoop.run({
    label: `dynamics ensemble ${c.task}`, totalSteps: config.steps, checkpointPath: ensemblePath(c), checkpointEvery: c.checkpointEvery,
    resume: c.resume, logEvery: c.logEvery, models: { ensemble: ensemble.model },
    architecture: { kind: "dynamics-ensemble", observationDim: ensemble.observationDim, actionDim: ensemble.actionDim },
    // Its step count is exempt: a finished ensemble may be extended.
    config: StageConfig.make(DynamicsEnsemble.DynamicsEnsembleConfig, config, ["steps"]), seed: c.seed, lossNames: ["mse"],
    step: (i) => DynamicsEnsemble.trainStep(backend.ops, ensemble, device, Rng.named(c.seed, "dynamics-ensemble"), i)
  })
  return ensemble
})

/** States [count·length·S] and actions a = tanh(ã) [count·length·A] of normalised trajectories, on the host in f64. */
export const statesAndActions = (
  values: ArrayLike<number>,
  count: number,
  length: number,
  frame: PolicyGuidance.TrajectoryFrame
): DynamicsError.Trajectories => {
  const { observationDim: so, actionDim: sa } = frame.channels
  const c = Trajectories.channelCount(frame.channels)
  const raw = Trajectories.unnormalise(values, frame.normalisation)
  const rows = count * length
  const observations = new Float64Array(rows * so)
  const actions = new Float64Array(rows * sa)
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < so; k++) observations[r * so + k] = raw[r * c + k]
    for (let k = 0; k < sa; k++) actions[r * sa + k] = Math.tanh(raw[r * c + so + k])
  }
  return { count, length, observations, actions }
}

const fmt = (e: DynamicsError.PositionError | undefined) => e === undefined ? "—" : `${e.mean.toExponential(2)} ± ${e.standardError.toExponential(1)}`

export const table = (sources: ReadonlyArray<SourceErrors>): string => {
  const positions = Math.max(...sources.map((s) => s.byPosition.length))
  return [
    `| position t → t + 1 | ${sources.map((s) => s.source).join(" | ")} |`,
    `| --- | ${sources.map(() => "---").join(" | ")} |`,
    ...Array.from({ length: positions }, (_, t) => `| ${t} | ${sources.map((s) => fmt(s.byPosition[t])).join(" | ")} |`),
    `| all | ${sources.map((s) => s.mean.toExponential(2)).join(" | ")} |`,
    `| at the velocity clip | ${sources.map((s) => `${(100 * s.atVelocityBound).toFixed(1)} %`).join(" | ")} |`
  ].join("\n") + "\n"
}

export const locomotionTask = (task: string): Locomotion.Task | undefined => {
  const m = /^(halfcheetah|hopper|walker2d)-/.exec(task)
  return m === null ? undefined : (m[1] as Locomotion.Task)
}

/**
 * The dynamics error by position of `d.trajectories` real windows, unguided samples and PGD samples (guided by
 * `d.target`'s actor at λ) of the run directory's trajectory model (`trainTrajectory` first).
 */
export const syntheticDynamics = Effect.fn("SyntheticDynamics.run")(function*(c: OfflineConfig, d: SyntheticDynamicsConfig) {
  const task = locomotionTask(c.task)
  if (task === undefined) return yield* new NoSimulatorState({ task: c.task })
  const { policy: target, act } = yield* loadTarget(c.runDir, d.target)
  const backend = yield* Backend
  const plots = yield* Plots
  const { raw, data } = yield* OfflinePgd.trajectoryData(c)
  const model = yield* OfflinePgd.loadTrajectoryModel(c, Trajectories.channelCount(data.channels))
  const frame: PolicyGuidance.TrajectoryFrame = { channels: data.channels, normalisation: data.normalisation, length: c.pgd.rolloutLength }
  const lambda = d.lambda ?? c.pgd.guidance.coefficient
  const guidance = new PolicyGuidance.PolicyGuidanceConfig({ ...c.pgd.guidance, coefficient: lambda })
  const sources: Array<SourceErrors> = []
  const measured = (source: SourceErrors["source"], tr: DynamicsError.Trajectories) =>
    Effect.gen(function*() {
      const errors = yield* DynamicsError.measure(task, tr)
      const atBound = errors.atVelocityBound.reduce((s, x) => s + x, 0) / Math.max(errors.atVelocityBound.length, 1)
      const out: SourceErrors = { source, mean: errors.mean, byPosition: errors.byPosition, atVelocityBound: atBound }
      sources.push(out)
      yield* Console.log(`${c.task} ${source}: dynamics error ${errors.mean.toExponential(3)} over ${errors.errors.length} transitions`)
    })

  // Real data: the first training windows, with the dataset's own observations and actions.
  const real = Math.min(d.trajectories, data.train.count)
  const length = data.train.length
  const so = raw.observationDim
  const sa = raw.actionDim
  const observations = new Float64Array(real * length * so)
  const actions = new Float64Array(real * length * sa)
  for (let w = 0; w < real; w++) {
    for (let t = 0; t < length; t++) {
      const i = data.train.starts[w] + t
      observations.set(raw.observations.subarray(i * so, (i + 1) * so), (w * length + t) * so)
      actions.set(raw.actions.subarray(i * sa, (i + 1) * sa), (w * length + t) * sa)
    }
  }
  yield* measured("real data", { count: real, length, observations, actions })

  // Both from the same stream: the PGD samples start from the unguided ones' noise (a paired comparison).
  for (const [source, guided] of [["unguided", false], ["PGD", true]] as const) {
    const x = yield* backend.run((B) =>
      SyntheticExperience.sampleTrajectories(B, {
        model, modelConfig: c.pgd.model, frame, trajectories: d.trajectories, sampleBatch: c.pgd.sampleBatch,
        key: Rng.named(c.seed, "dynamics-error"), ...(guided ? { guidance: { target, config: guidance } } : {})
      }))
    const values = yield* backend.read(x)
    backend.ops.dispose(x)
    yield* measured(source, statesAndActions(values, d.trajectories, frame.length, frame))
  }

  if (!d.withoutEnsemble) {
    const ensemble = yield* trainDynamicsEnsemble(c, d.ensemble)
    const starts = new Float64Array(real * so)
    for (let w = 0; w < real; w++) starts.set(observations.subarray(w * length * so, (w * length + 1) * so), w * so)
    const rollouts = yield* DynamicsEnsemble.rollout(backend, ensemble, starts, frame.length, act, Rng.named(c.seed, "dynamics-ensemble-rollout"))
    yield* measured("MLP ensemble", rollouts)
  }

  const markdown = table(sources)
  const svg = Figure.lineChart({
    series: sources.map((s) => ({
      name: s.source === "PGD" ? `PGD (λ = ${lambda}, ${d.target})` : s.source, x: s.byPosition.map((p) => p.position), y: s.byPosition.map((p) => p.mean), error: s.byPosition.map((p) => p.standardError)
    })),
    title: `${c.task}: dynamics error by position`,
    xLabel: "position t in the trajectory (transition t → t + 1)",
    yLabel: "(1/|S|)·‖s′ − s′_sim‖²",
    yScale: "log"
  })
  const files = yield* plots.write(`${d.outDir}/dynamics-error`, svg)
  yield* writeJsonAtomically(`${d.outDir}/metrics.json`, {
    task: c.task, seed: c.seed, target: d.target, lambda, trajectories: d.trajectories, length: frame.length, sources
  })
  yield* writeTextAtomically(`${d.outDir}/metrics.md`, markdown)
  yield* Console.log(markdown)
  yield* Console.log(`figure: ${files.png}; metrics: ${d.outDir}/metrics.json`)
  return sources
})
