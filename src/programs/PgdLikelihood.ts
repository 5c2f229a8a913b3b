/**
 * The target policy's mean action log-likelihood of synthetic data as λ grows (Policy-Guided Diffusion, Jackson et
 * al., RLC 2024, §4: guidance samples p_off(τ)·q_target(τ)^λ; issue #10 item 6), on a run directory's trajectory model
 * and a trained agent as the target. For each λ, `trajectories` trajectories are sampled from one stream — the same
 * initial and churn noise at every λ, so the rows are paired — and for their transitions (s_t, a_t), t < L − 1 (what
 * the agents train on), the program reports
 *
 *   the mean of log π_target(a_t | s_t) (TargetLikelihood.ts; TD3+BC: N(μ(s), I), IQL: its Gaussian actor), with its
 *   standard error over trajectories and the paired difference from λ = 0, and
 *   the dynamics error of the same transitions against mujoco-js (env/DynamicsError.ts), so the trade-off shows,
 *
 * beside the real data's windows as the reference (evenly spaced over the training windows, the dataset's own
 * actions). Output: metrics.json and metrics.md in `outDir`, the table on stdout.
 */
import { Console, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import * as Trajectories from "../data/Trajectories.ts"
import * as PolicyGuidance from "../diffusion/PolicyGuidance.ts"
import * as TargetLikelihood from "../diffusion/TargetLikelihood.ts"
import * as DynamicsError from "../env/DynamicsError.ts"
import * as SyntheticExperience from "../rl/SyntheticExperience.ts"
import * as Agent from "../services/Agent.ts"
import { Backend } from "../services/Backend.ts"
import type { CheckpointError } from "../services/Checkpoints.ts"
import { writeJsonAtomically, writeTextAtomically } from "../services/Files.ts"
import type { OfflineConfig } from "./Offline.ts"
import * as OfflinePgd from "./OfflinePgd.ts"
import * as SyntheticDynamics from "./SyntheticDynamics.ts"

export class PgdLikelihoodConfig extends Schema.Class<PgdLikelihoodConfig>("PgdLikelihoodConfig")({
  /** Trajectories per λ (and real windows). */
  trajectories: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** The agent of the run directory whose actor is the target (SyntheticDynamics.TargetPolicies). */
  target: Schema.String.pipe(Config.withDefault("td3bc")),
  /** Guidance coefficients λ (0: unguided); the other guidance settings are the offline config's `pgd.guidance`. */
  lambdas: Schema.Array(Schema.Finite).check(Schema.isMinLength(1)).pipe(Config.withDefault([0, 0.03, 0.1, 0.3, 1])),
  /** Leave the dynamics error out (it needs a hopper, walker2d or halfcheetah task). */
  withoutDynamics: Schema.Boolean.pipe(Config.withDefault(false)),
  outDir: Schema.String
}) {}

/** A checkpoint the measurement needs is not in the run directory; `command` trains it. */
export class MissingStage extends Schema.TaggedError<MissingStage>()("MissingStage", { path: Schema.String, command: Schema.String }) {
  override get message(): string {
    return `pgd-likelihood needs ${this.path}: train it first with \`npm run cli -- ${this.command}\` and the same --task, --seed, --run-dir and --config`
  }
}

/** One row of the table: the real windows, or the samples at one λ. */
export interface LikelihoodRow {
  readonly source: "real data" | "generated"
  /** null for the real data. */
  readonly lambda: number | null
  /** Mean over transitions of log π_target(a_t | s_t), standard error over trajectories. */
  readonly logLikelihood: TargetLikelihood.Estimate
  /** The same, trajectory by trajectory, minus the λ = 0 samples' (null for the real data, or without λ = 0). */
  readonly differenceFromUnguided: TargetLikelihood.Estimate | null
  /** The mean at each position t of the transitions t → t + 1. */
  readonly byPosition: ReadonlyArray<number>
  /** The dynamics error of the same transitions; null when left out. */
  readonly dynamicsError: Dynamics | null
}

/** (1/|S|)·‖s′ − s′_sim‖² (mean, standard error over trajectories), and how much of it the clip explains. */
export interface Dynamics extends TargetLikelihood.Estimate {
  /** Share of transitions whose observed velocity sits at the observation's clip (not rebuilt exactly). */
  readonly atVelocityBound: number
  /** Mean error of the other transitions (NaN when there are none). */
  readonly offBoundMean: number
}

const dynamicsOf = (e: DynamicsError.TrajectoryErrors, count: number): Dynamics => {
  let [off, n, at] = [0, 0, 0]
  e.errors.forEach((x, i) => {
    if (e.atVelocityBound[i] === 1) at++
    else {
      off += x
      n++
    }
  })
  return { ...TargetLikelihood.summarise(e.errors, count), atVelocityBound: at / e.errors.length, offBoundMean: n === 0 ? Number.NaN : off / n }
}

/** The command that trains the stage whose checkpoint is `path` (the trajectory model's unless it is an agent's). */
export const stageCommand = (c: OfflineConfig, path: string): string => {
  const files = Agent.runFiles(c.runDir)
  if (path === files.td3bc) return "train-td3bc"
  if (path === files.critic) return "train-critic"
  if (path === files.iql) return "train-baseline"
  const synthetic = SyntheticExperience.SyntheticMethods.find((m) => files.synthetic(m) === path)
  if (synthetic !== undefined) {
    const [agent, data] = synthetic.split("-")
    return `train-synthetic --agent ${agent} --data ${data}`
  }
  return "train-trajectory"
}

/** A missing checkpoint as `MissingStage`; every other failure as it is. */
const namingMissing = (c: OfflineConfig) => (e: CheckpointError) =>
  Effect.fail(e.reason._tag === "NotFound" ? new MissingStage({ path: e.path, command: stageCommand(c, e.path) }) : e)

const fmt = (e: TargetLikelihood.Estimate | null, digits: number, sign = false) =>
  e === null ? "—" : `${sign && e.mean >= 0 ? "+" : ""}${e.mean.toFixed(digits)} ± ${e.standardError.toFixed(digits)}`

const fmtExp = (e: TargetLikelihood.Estimate | null) => e === null ? "—" : `${e.mean.toExponential(2)} ± ${e.standardError.toExponential(1)}`

export const table = (rows: ReadonlyArray<LikelihoodRow>, target: string): string => [
  `| data | λ | mean log π_target(a \\| s) (${target}) | Δ vs λ = 0 (paired) | dynamics error (1/\\|S\\|)·‖s′ − s′_sim‖² | at the velocity clip | error off the clip |`,
  "| --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map((r) => {
    const d = r.dynamicsError
    const clip = d === null ? "— | —" : `${(100 * d.atVelocityBound).toFixed(1)} % | ${d.offBoundMean.toExponential(2)}`
    return `| ${r.source} | ${r.lambda ?? "—"} | ${fmt(r.logLikelihood, 3)} | ${fmt(r.differenceFromUnguided, 3, true)} | ${fmtExp(d)} | ${clip} |`
  })
].join("\n") + "\n"

/** `windows` training windows evenly spaced over all of them (the first ones come from the first episodes only). */
export const spacedWindows = (available: number, windows: number): Array<number> =>
  Array.from({ length: Math.min(windows, available) }, (_, i) => Math.floor((i * available) / Math.min(windows, available)))

/** The table of the run directory's trajectory model sampled at every λ of `p`, guided by `p.target`'s actor. */
export const pgdLikelihood = Effect.fn("PgdLikelihood.run")(function*(c: OfflineConfig, p: PgdLikelihoodConfig) {
  const { policy: target } = yield* SyntheticDynamics.loadTarget(c.runDir, p.target).pipe(Effect.catchTag("CheckpointError", namingMissing(c)))
  const backend = yield* Backend
  const B = backend.ops
  const { raw, data } = yield* OfflinePgd.trajectoryData(c)
  const model = yield* OfflinePgd.loadTrajectoryModel(c, Trajectories.channelCount(data.channels)).pipe(Effect.catchTag("CheckpointError", namingMissing(c)))
  const task = p.withoutDynamics ? undefined : SyntheticDynamics.locomotionTask(c.task)
  if (!p.withoutDynamics && task === undefined) yield* Console.log(`${c.task}: no simulator state, the dynamics error is left out`)
  const frame: PolicyGuidance.TrajectoryFrame = { channels: data.channels, normalisation: data.normalisation, length: c.pgd.rolloutLength }
  const dims = { observationDim: raw.observationDim, actionDim: raw.actionDim }

  /** log π_target of the transitions of `tr` [count·(length − 1)], and their dynamics error. */
  const measure = (tr: DynamicsError.Trajectories) =>
    Effect.gen(function*() {
      const t = DynamicsError.transitionsOf(dims, tr)
      const rows = tr.count * (tr.length - 1)
      const out = yield* backend.run((ops) =>
        ops.scope(() =>
          TargetLikelihood.logLikelihoods(
            ops,
            target,
            ops.upload(Float32Array.from(t.observations), rows, dims.observationDim),
            ops.upload(Float32Array.from(t.actions), rows, dims.actionDim)
          )))
      const values = yield* backend.read(out)
      B.dispose(out)
      const dynamics = task === undefined ? null : dynamicsOf(yield* DynamicsError.measure(task, tr), tr.count)
      return { values, dynamics }
    })

  // The real data: evenly spaced training windows, the dataset's own observations and actions.
  const picked = spacedWindows(data.train.count, p.trajectories)
  const length = data.train.length
  const { observationDim: so, actionDim: sa } = dims
  const observations = new Float64Array(picked.length * length * so)
  const actions = new Float64Array(picked.length * length * sa)
  picked.forEach((w, j) => {
    for (let t = 0; t < length; t++) {
      const i = data.train.starts[w] + t
      observations.set(raw.observations.subarray(i * so, (i + 1) * so), (j * length + t) * so)
      actions.set(raw.actions.subarray(i * sa, (i + 1) * sa), (j * length + t) * sa)
    }
  })
  const real = yield* measure({ count: picked.length, length, observations, actions })
  const rows: Array<LikelihoodRow> = [{
    source: "real data", lambda: null, logLikelihood: TargetLikelihood.summarise(real.values, picked.length), differenceFromUnguided: null,
    byPosition: Array.from(TargetLikelihood.byPosition(real.values, picked.length)), dynamicsError: real.dynamics
  }]
  yield* Console.log(`${c.task} real data: mean log π_target ${rows[0].logLikelihood.mean.toFixed(3)} over ${picked.length} windows`)

  // Every λ from the same stream: trajectory i starts from the same noise at each λ (λ = 0 is unguided sampling).
  const generated: Array<{ readonly lambda: number; readonly values: Float32Array; readonly dynamics: Dynamics | null }> = []
  for (const lambda of p.lambdas) {
    const guidance = new PolicyGuidance.PolicyGuidanceConfig({ ...c.pgd.guidance, coefficient: lambda })
    const x = yield* backend.run((ops) =>
      SyntheticExperience.sampleTrajectories(ops, {
        model, modelConfig: c.pgd.model, frame, trajectories: p.trajectories, sampleBatch: c.pgd.sampleBatch,
        key: Rng.named(c.seed, "pgd-likelihood"), ...(lambda === 0 ? {} : { guidance: { target, config: guidance } })
      }))
    const sampled = yield* backend.read(x)
    B.dispose(x)
    const m = yield* measure(SyntheticDynamics.statesAndActions(sampled, p.trajectories, frame.length, frame))
    generated.push({ lambda, ...m })
    yield* Console.log(
      `${c.task} λ = ${lambda}: mean log π_target ${TargetLikelihood.summarise(m.values, p.trajectories).mean.toFixed(3)}` +
        (m.dynamics === null ? "" : `, dynamics error ${m.dynamics.mean.toExponential(3)}`)
    )
  }
  const unguided = generated.find((g) => g.lambda === 0)
  for (const g of generated) {
    rows.push({
      source: "generated", lambda: g.lambda, logLikelihood: TargetLikelihood.summarise(g.values, p.trajectories),
      differenceFromUnguided: unguided === undefined ? null : TargetLikelihood.pairedDifference(g.values, unguided.values, p.trajectories),
      byPosition: Array.from(TargetLikelihood.byPosition(g.values, p.trajectories)), dynamicsError: g.dynamics
    })
  }

  const markdown = table(rows, p.target)
  // The guidance settings other than λ, which each row gives.
  const { coefficient: _, ...guidance } = Schema.encodeSync(PolicyGuidance.PolicyGuidanceConfig)(c.pgd.guidance)
  yield* writeJsonAtomically(`${p.outDir}/metrics.json`, {
    task: c.task, seed: c.seed, target: p.target, trajectories: p.trajectories, length: frame.length, guidance, edmSteps: c.pgd.model.edm.steps, rows
  })
  yield* writeTextAtomically(`${p.outDir}/metrics.md`, markdown)
  yield* Console.log(markdown)
  yield* Console.log(`metrics: ${p.outDir}/metrics.json`)
  return rows
})
