/**
 * The offline stages of Policy-Guided Diffusion (Jackson et al., RLC 2024, §4; reference
 * `EmptyJackson/policy-guided-diffusion`) over one run directory, beside the other offline stages (Offline.ts):
 *
 *   trainTrajectory  the trajectory model (temporal U-Net + EDM) on the dataset's windows → trajectory.safetensors
 *   trainSynthetic   TD3+BC or IQL on mixed batches of real and synthetic transitions, the synthetic set regenerated
 *                    every `pgd.regenerateEvery` agent steps, unguided or guided towards the current agent
 *                    → td3bc-unguided / td3bc-pgd / iql-unguided / iql-pgd .safetensors
 *
 * Both resume after a kill (ResumableLoop). A synthetic run's checkpoint also holds `guide`, the copy of the actor
 * that guided the current generation, so a run resumed between two regenerations samples the same data again
 * (each generation's stream is keyed by its index).
 *
 * Choices where the reference is silent or differs from our pipeline:
 * - IQL on synthetic data trains its critic (V, twin Q) on the same mixed batches, jointly with the actor, one
 *   critic step then one actor step per agent step, for `iql.steps` steps: the critic must see the synthetic data
 *   the actor is weighted by, and a PGD run's data depend on the actor, so the two cannot be trained one after the
 *   other as the real-data IQL is. (The reference's order within a step is V, actor, Q; ours is V, Q, actor.)
 * - Rewards: TD3+BC takes raw rewards, as our real-data TD3+BC and the reference do. IQL's synthetic rewards are
 *   multiplied by the same 1000/(return range) factor as its real ones (OfflineData.rewardScale), so the IQL
 *   variants differ from real-data IQL only in their data; the reference uses raw rewards for both agents.
 * - The unguided runs regenerate on the same schedule (fresh samples each time); every run's generation g is drawn
 *   from the same stream, so all four runs of a seed start from the same unguided generation 0.
 */
import { Console, Effect, Result, Schema } from "effect"
import * as Rng from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import { DatasetStore } from "../data/DatasetStore.ts"
import * as Trajectories from "../data/Trajectories.ts"
import * as PolicyGuidance from "../diffusion/PolicyGuidance.ts"
import * as TrajectoryModel from "../diffusion/TrajectoryModel.ts"
import * as Model from "../nn/Model.ts"
import * as Parameters from "../nn/Parameters.ts"
import * as Critic from "../rl/Critic.ts"
import * as IqlActor from "../rl/IqlActor.ts"
import type * as MixedBatches from "../rl/MixedBatches.ts"
import * as OfflineData from "../rl/OfflineData.ts"
import * as SyntheticExperience from "../rl/SyntheticExperience.ts"
import * as Td3Bc from "../rl/Td3Bc.ts"
import * as Agent from "../services/Agent.ts"
import { Backend } from "../services/Backend.ts"
import { Checkpoints } from "../services/Checkpoints.ts"
import { criticConfig, finished, loadData, type OfflineConfig } from "./Offline.ts"
import * as ResumableLoop from "./ResumableLoop.ts"
import * as StageConfig from "./StageConfig.ts"

export const trajectoryPath = (c: OfflineConfig): string => `${c.runDir}/trajectory.safetensors`

/** The dataset and its normalised trajectory windows; `TrajectoriesTooShort` when no episode holds one window. */
export const trajectoryData = Effect.fn("OfflinePgd.trajectoryData")(function*(c: OfflineConfig) {
  const store = yield* DatasetStore
  const raw = yield* store.read(c.dataset)
  const options = { length: c.pgd.windowLength, stride: c.pgd.stride, holdoutShare: c.pgd.holdoutShare }
  const built = Trajectories.build(raw, options, Rng.named(c.seed, "pgd-windows"))
  if (Result.isFailure(built)) return yield* built.failure
  return { raw, data: built.success }
})

/**
 * The trajectory stage's config (the whole `pgd` section) with what it does not read exempt: its own step count (it
 * may be extended), the sampler's settings and everything about generation and mixing. The synthetic stages read
 * all of `pgd` (their data come from the trained model through the sampler) and exempt only their agent's steps.
 */
export const trajectoryStage = (c: OfflineConfig) =>
  StageConfig.make(SyntheticExperience.PgdConfig, c.pgd, [
    "model.steps",
    ...["sigmaMin", "sigmaMax", "rho", "steps", "sChurn", "sTmin", "sTmax", "sNoise", "heun"].map((k) => `model.edm.${k}`),
    "rolloutLength", "trajectories", "sampleBatch", "regenerateEvery", "syntheticShare", "guidance"
  ])

/** Stage: the trajectory model on the training windows (trajectory.safetensors). */
export const trainTrajectory = Effect.fn("OfflinePgd.trainTrajectory")(function*(c: OfflineConfig) {
  if (yield* finished(c, "trajectory", { path: trajectoryPath(c), config: trajectoryStage(c) }, c.pgd.model.steps)) return
  const { data } = yield* trajectoryData(c)
  const backend = yield* Backend
  const channels = Trajectories.channelCount(data.channels)
  const length = data.train.length
  yield* Console.log(`trajectory ${c.task}: ${data.train.count} training windows of ${length} steps, ${channels} channels`)
  const { windows, model } = yield* backend.run((B) => ({
    windows: B.upload(data.train.data, data.train.count * length, channels),
    model: TrajectoryModel.create(B, c.pgd.model, channels, Rng.named(c.seed, "trajectory-init"))
  }))
  yield* ResumableLoop.run({
    label: `trajectory ${c.task}`, totalSteps: c.pgd.model.steps, checkpointPath: trajectoryPath(c), checkpointEvery: c.checkpointEvery,
    resume: c.resume, logEvery: c.logEvery, models: { unet: model },
    architecture: { kind: "trajectory", ...data.channels, windowLength: length },
    config: trajectoryStage(c), seed: c.seed, lossNames: ["edm_loss"],
    step: (i) => TrajectoryModel.trainStep(backend.ops, model, c.pgd.model, windows, length, i, Rng.named(c.seed, "trajectory"))
  })
  backend.ops.dispose(windows)
})

/** The trained trajectory model of the run directory, for data of `channels` columns. */
export const loadTrajectoryModel = Effect.fn("OfflinePgd.loadTrajectoryModel")(function*(c: OfflineConfig, channels: number) {
  const backend = yield* Backend
  const saved = yield* (yield* Checkpoints).load(trajectoryPath(c))
  yield* StageConfig.check(trajectoryPath(c), trajectoryStage(c), saved.header.config)
  const model = yield* backend.run((B) => TrajectoryModel.create(B, c.pgd.model, channels, Rng.named(c.seed, "trajectory-init")))
  yield* ResumableLoop.restore(trajectoryPath(c), { unet: model }, saved.tensors, {})
  return model
})

/** The stream every synthetic run of a seed draws its generations from. */
export const generationKey = (c: OfflineConfig, generation: number): Rng.RngKey =>
  Rng.split(Rng.named(c.seed, "pgd-synthetic"), `generation-${generation}`)

/** TD3+BC's deterministic actor (with `actor` as its parameters) as the unit Gaussian PGD guides towards. */
export const td3bcTarget = (agent: Td3Bc.Td3Bc, actor: Model.Model): PolicyGuidance.TargetPolicy =>
  PolicyGuidance.gaussianAroundActor(Td3Bc.actorMean({ ...agent, actor }))

/** IQL's Gaussian actor (with `params` as its parameters; log std clipped as the actor clips it) as a target. */
export const iqlTarget = (actor: IqlActor.IqlActor, params: Tensor): PolicyGuidance.TargetPolicy =>
  PolicyGuidance.gaussianActor((tape, states) => {
    const p = new Parameters.Bound(tape, actor.model.layout, params)
    return { mean: IqlActor.mean(p, actor, states), logStd: tape.clamp(p.get("pi.logStd"), IqlActor.LOG_STD_MIN, IqlActor.LOG_STD_MAX) }
  })

/** One agent of a synthetic run: what it trains, how one step goes, and the actor PGD guides towards. */
interface SyntheticLearner {
  readonly models: Readonly<Record<string, Model.Model>>
  readonly lossNames: ReadonlyArray<string>
  /** The live actor, copied into `guide` when a guided generation begins. */
  readonly actor: Model.Model
  readonly guide: Model.Model
  readonly target: PolicyGuidance.TargetPolicy
  readonly step: (i: number, synthetic: MixedBatches.Synthetic) => Tensor
  readonly config: StageConfig.StageConfig
}

/** What the learners need of the real data. */
interface Td3BcInputs {
  readonly observationDim: number
  readonly actionDim: number
  readonly device: Critic.DeviceTransitions
  readonly normaliser: Td3Bc.Normaliser
}

/** The synthetic stages' configs: the agent's sections and `pgd`, the agent's step count exempt (it may be extended). */
const Td3BcSynthetic = Schema.Struct({ td3bc: Td3Bc.Td3BcConfig, pgd: SyntheticExperience.PgdConfig })
const IqlSynthetic = Schema.Struct({ critic: Critic.CriticConfig, iql: IqlActor.IqlActorConfig, pgd: SyntheticExperience.PgdConfig })
export const td3bcSyntheticStage = (c: OfflineConfig) => StageConfig.make(Td3BcSynthetic, { td3bc: c.td3bc, pgd: c.pgd }, ["td3bc.steps"])
export const iqlSyntheticStage = (c: OfflineConfig) => StageConfig.make(IqlSynthetic, { critic: criticConfig(c), iql: c.iql, pgd: c.pgd }, ["iql.steps"])
/** The stage config of a synthetic run of `agent`. */
export const syntheticStage = (c: OfflineConfig, agent: SyntheticExperience.SyntheticAgent) =>
  agent === "td3bc" ? td3bcSyntheticStage(c) : iqlSyntheticStage(c)

const td3bcLearner = (B: TensorBackend, c: OfflineConfig, train: Td3BcInputs): SyntheticLearner => {
  const agent = Td3Bc.create(B, c.td3bc, train.observationDim, train.actionDim, Rng.named(c.seed, "td3bc-init"), train.normaliser)
  const guide = Model.create(B, agent.actor.layout.specs, Rng.named(c.seed, "td3bc-guide"))
  return {
    models: { ...Td3Bc.models(agent), guide },
    lossNames: [...Td3Bc.LOSS_NAMES],
    actor: agent.actor,
    guide,
    target: td3bcTarget(agent, guide),
    step: (i, synthetic) => Td3Bc.updateStep(B, agent, train.device, Rng.named(c.seed, "td3bc-batch"), i, synthetic),
    config: td3bcSyntheticStage(c)
  }
}

const iqlLearner = (B: TensorBackend, c: OfflineConfig, train: Omit<Td3BcInputs, "normaliser">): SyntheticLearner => {
  const critic = Critic.create(B, criticConfig(c), train.observationDim, train.actionDim, Rng.named(c.seed, "critic"))
  const actor = IqlActor.create(B, c.iql, train.observationDim, train.actionDim, Rng.named(c.seed, "iql-actor"))
  const guide = Model.create(B, actor.model.layout.specs, Rng.named(c.seed, "iql-guide"))
  return {
    models: { ...Critic.models(critic), actor: actor.model, guide },
    lossNames: [...Critic.lossNames(c.critic), "awr_loss"],
    actor: actor.model,
    guide,
    target: iqlTarget(actor, guide.params),
    step: (i, synthetic) => {
      const criticLoss = Critic.updateStep(B, critic, train.device, Rng.named(c.seed, "critic-batch"), i, synthetic)
      const actorLoss = IqlActor.updateStep(B, actor, critic, train.device, Rng.named(c.seed, "iql"), i, synthetic)
      const out = B.concatCols([criticLoss, actorLoss])
      B.dispose(criticLoss)
      B.dispose(actorLoss)
      return out
    },
    config: iqlSyntheticStage(c)
  }
}

/** Agent steps of a synthetic run: TD3+BC's `td3bc.steps`, IQL's `iql.steps` (critic and actor together). */
export const syntheticSteps = (c: OfflineConfig, agent: SyntheticExperience.SyntheticAgent): number =>
  agent === "td3bc" ? c.td3bc.steps : c.iql.steps

/**
 * Stage: `agent` (TD3+BC or IQL) on mixed batches of the training transitions and synthetic ones (share
 * `pgd.syntheticShare`) from the trajectory model (`trainTrajectory` first), regenerated every
 * `pgd.regenerateEvery` steps: unguided for `source` "unguided", and for "pgd" guided (λ = `pgd.guidance`)
 * towards the agent's actor as it is when the generation begins (generation 0 unguided).
 */
export const trainSynthetic = Effect.fn("OfflinePgd.trainSynthetic")(function*(
  c: OfflineConfig,
  agent: SyntheticExperience.SyntheticAgent,
  source: SyntheticExperience.DataSource
) {
  const method = SyntheticExperience.methodOf(agent, source)
  const path = Agent.runFiles(c.runDir).synthetic(method)
  const steps = syntheticSteps(c, agent)
  // The synthetic experience comes from the trajectory model.
  const inputs = [trajectoryPath(c)]
  if (yield* finished(c, method, { path, config: syntheticStage(c, agent), inputs }, steps)) return
  const convention = agent === "td3bc" ? "none" : OfflineData.rewardConvention(c.task)
  const { prepared, device } = yield* loadData(c, convention)
  const { raw, data } = yield* trajectoryData(c)
  const backend = yield* Backend
  const B = backend.ops
  const model = yield* loadTrajectoryModel(c, Trajectories.channelCount(data.channels))
  const { observationDim, actionDim } = prepared.train
  const learner = yield* backend.run((ops) =>
    agent === "td3bc"
      ? td3bcLearner(ops, c, { observationDim, actionDim, device, normaliser: Td3Bc.normaliserOf(c.td3bc, prepared.train) })
      : iqlLearner(ops, c, { observationDim, actionDim, device }))
  const frame: PolicyGuidance.TrajectoryFrame = { channels: data.channels, normalisation: data.normalisation, length: c.pgd.rolloutLength }
  const rewardScale = agent === "iql" ? OfflineData.rewardScale(raw, convention) : 1
  const period = c.pgd.regenerateEvery
  let current: { readonly generation: number; readonly data: Critic.DeviceTransitions } | undefined
  yield* Console.log(
    `${method} ${c.task}: ${c.pgd.trajectories} synthetic trajectories of ${frame.length} rows every ${period} steps, ` +
      `${Math.round(c.pgd.syntheticShare * 100)} % of each batch`
  )
  yield* ResumableLoop.run({
    label: `${method} ${c.task}`, totalSteps: steps, checkpointPath: path, checkpointEvery: c.checkpointEvery,
    resume: c.resume, logEvery: c.logEvery, models: learner.models,
    architecture: { kind: method, observationDim, actionDim }, config: learner.config, seed: c.seed, lossNames: learner.lossNames,
    inputs,
    step: (i) => {
      const generation = SyntheticExperience.generationOf(i, period)
      if (current?.generation !== generation) {
        const guided = SyntheticExperience.isGuided(source, generation)
        // At a regeneration step the guide becomes the live actor; a run resumed mid-generation keeps the restored guide.
        if (guided && i % period === 0) B.copyInto(learner.guide.params, learner.actor.params)
        if (current !== undefined) SyntheticExperience.disposeTransitions(B, current.data)
        current = {
          generation,
          data: SyntheticExperience.generate(B, {
            model, modelConfig: c.pgd.model, frame, trajectories: c.pgd.trajectories, sampleBatch: c.pgd.sampleBatch,
            key: generationKey(c, generation),
            ...(guided ? { guidance: { target: learner.target, config: c.pgd.guidance } } : {})
          }, rewardScale)
        }
      }
      return learner.step(i, { data: current.data, share: c.pgd.syntheticShare })
    }
  })
  if (current !== undefined) SyntheticExperience.disposeTransitions(B, current.data)
})
