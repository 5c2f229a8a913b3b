/**
 * Offline RL programs over one run directory: train the IQL critic, train the SWG diffusion model on
 * z = [a, w], train IQL's AWR actor, and evaluate SWG, SWG-R, diffusion BC, IDQL and IQL with
 * vectorised rollouts. Each stage checkpoints every N steps, resumes with `resume`, and writes one
 * result file per (task, method, seed) so tables can be built over several sittings. QGPO (method "qgpo",
 * stage `trainQgpo` on the SWG model as behaviour model) is evaluated only when asked for, and so is TD3+BC (method
 * "td3bc", stage `trainTd3Bc`, on the raw rewards), and so are Policy-Guided Diffusion's agents on synthetic experience
 * (methods td3bc-unguided, td3bc-pgd, iql-unguided, iql-pgd; stages in OfflinePgd.ts).
 */
import { Clock, Console, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import type { IndexOutOfRange } from "../domain/Ops.ts"
import * as Rng from "../domain/Rng.ts"
import * as Statistics from "../domain/Statistics.ts"
import type { Tensor } from "../domain/TensorBackend.ts"
import type * as WeightFunction from "../domain/WeightFunction.ts"
import * as OfflineDataset from "../data/OfflineDataset.ts"
import { DatasetStore } from "../data/DatasetStore.ts"
import type * as Training from "../diffusion/Training.ts"
import * as DiffusionTraining from "../diffusion/Training.ts"
import * as Environment from "../env/Environment.ts"
import { Environments } from "../env/Environments.ts"
import * as Critic from "../rl/Critic.ts"
import * as CriticReport from "../rl/CriticReport.ts"
import * as DiceAgent from "../rl/DiceAgent.ts"
import * as DiceSelect from "../rl/DiceSelect.ts"
import * as IqlActor from "../rl/IqlActor.ts"
import * as OfflineData from "../rl/OfflineData.ts"
import * as QgpoAgent from "../rl/QgpoAgent.ts"
import * as Summary from "../datagen/Summary.ts"
import * as SyntheticExperience from "../rl/SyntheticExperience.ts"
import * as SwgAgent from "../rl/SwgAgent.ts"
import * as Td3Bc from "../rl/Td3Bc.ts"
import * as Agent from "../services/Agent.ts"
import { Backend } from "../services/Backend.ts"
import { Checkpoints } from "../services/Checkpoints.ts"
import type { GpuError } from "../services/Gpu.ts"
import { Progress } from "../services/Progress.ts"
import * as ResultFile from "./ResultFile.ts"
import * as ResumableLoop from "./ResumableLoop.ts"
import * as StageConfig from "./StageConfig.ts"
import * as StageInputs from "./StageInputs.ts"

export const Methods = [
  "swg", "swg-r", "diffusion-bc", "idql", "iql", "qgpo", ...DiceSelect.DiceMethods, "td3bc", ...SyntheticExperience.SyntheticMethods
] as const
export type Method = (typeof Methods)[number]

/** What `evaluate` runs unless told: every method but QGPO, D-DICE, TD3+BC and PGD's agents, whose stages the table does not run by default. */
export const DefaultMethods: ReadonlyArray<Method> = Methods.filter((m) =>
  m !== "qgpo" && !m.startsWith("d-dice") && m !== "td3bc" && !(SyntheticExperience.SyntheticMethods as ReadonlyArray<string>).includes(m))

export class EvaluationConfig extends Schema.Class<EvaluationConfig>("EvaluationConfig")({
  /** Episodes per (method, seed), run in lockstep as one batch. */
  episodes: Config.PositiveInt.pipe(Config.withDefault(10)),
  methods: Schema.Array(Schema.Literals(Methods)).pipe(Config.withDefault([...DefaultMethods])),
  /** SWG guidance scale ρ (paper: tuned per task in {1, 5, 10, 15, 20, 25, 30}). */
  guidanceScale: Schema.Finite.pipe(Config.withDefault(10)),
  /** Candidates for SWG-R and IDQL. */
  candidates: Config.PositiveInt.pipe(Config.withDefault(16)),
  /** Sampling temperature of SWG-R, BC and IDQL (SWG itself uses 0). */
  temperature: Schema.Finite.pipe(Config.withDefault(1)),
  /**
   * How SWG-R picks among its candidates by their predicted weight ŵ₀: the largest (ties at
   * random), or at random ∝ ŵ₀ (the categorical rule of the paper's App. C.1).
   */
  swgRRule: Schema.Literals(["greedy", "categorical"]).pipe(Config.withDefault("greedy")),
  /** ρ values of the guidance sweep. */
  sweepScales: Schema.Array(Schema.Finite).pipe(Config.withDefault([1, 5, 10, 15, 20, 25, 30]))
}) {}

export class OfflineConfig extends Schema.Class<OfflineConfig>("OfflineConfig")({
  /** D4RL task name, e.g. "maze2d-umaze-v1", "hopper-medium-replay-v2", or "pendulum-random". */
  task: Schema.String,
  /** HDF5 file in the D4RL layout. */
  dataset: Schema.String,
  /** Where checkpoints go (one directory per task and seed). */
  runDir: Schema.String,
  /** Where result files go (one JSON per task, method and seed). */
  resultsDir: Schema.String.pipe(Config.withDefault("results")),
  seed: Config.NonNegativeInt.pipe(Config.withDefault(0)),
  critic: Critic.CriticConfig.pipe(Config.withDefault({})),
  criticSteps: Config.PositiveInt.pipe(Config.withDefault(1_000_000)),
  swg: SwgAgent.SwgAgentConfig.pipe(Config.withDefault({})),
  iql: IqlActor.IqlActorConfig.pipe(Config.withDefault({})),
  /** QGPO (method "qgpo"): support actions, the softmax-backup Q and the energy network (src/rl/QgpoAgent.ts). */
  qgpo: QgpoAgent.QgpoAgentConfig.pipe(Config.withDefault({})),
  /** Diffusion-DICE (methods d-dice, d-dice-guide-only, d-dice-select-only; stage `trainDice`; src/rl/DiceAgent.ts). */
  dice: DiceAgent.DiceOfflineConfig.pipe(Config.withDefault({})),
  /** TD3+BC (method "td3bc", stage `trainTd3Bc`; src/rl/Td3Bc.ts). */
  td3bc: Td3Bc.Td3BcConfig.pipe(Config.withDefault({})),
  /**
   * Policy-Guided Diffusion (stages `trainTrajectory`, `trainSynthetic`; methods td3bc-unguided, td3bc-pgd,
   * iql-unguided, iql-pgd; src/rl/SyntheticExperience.ts): the trajectory model, generation and mixing.
   */
  pgd: SyntheticExperience.PgdConfig.pipe(Config.withDefault({})),
  evaluation: EvaluationConfig.pipe(Config.withDefault({})),
  checkpointEvery: Config.PositiveInt.pipe(Config.withDefault(10_000)),
  logEvery: Config.PositiveInt.pipe(Config.withDefault(1000)),
  /** Continue interrupted training from the run directory's checkpoints. */
  resume: Schema.Boolean.pipe(Config.withDefault(true))
}) {}

/** The task names `evaluate` has an environment for. */
const KNOWN_TASKS = "maze2d-{umaze,medium,large}[-dense]-v1, {halfcheetah,hopper,walker2d}-*, pendulum*"

/** `evaluate` has no environment for the task. */
export class UnknownTask extends Schema.TaggedError<UnknownTask>()("UnknownTask", { task: Schema.String }) {
  override get message(): string {
    return `no environment for task "${this.task}" (known: ${KNOWN_TASKS})`
  }
}

/** Loads and prepares the dataset (rewards by the task's convention unless `convention` is given), uploads the training transitions. */
export const loadData = Effect.fn("Offline.loadData")(function*(c: OfflineConfig, convention?: OfflineData.RewardConvention) {
  const store = yield* DatasetStore
  const backend = yield* Backend
  const raw = yield* store.read(c.dataset)
  const prepared = OfflineData.prepare(raw, convention ?? OfflineData.rewardConvention(c.task), c.seed)
  const device = yield* backend.run((B) => OfflineData.upload(B, prepared.train))
  return { prepared, device }
})

const criticPath = (c: OfflineConfig) => `${c.runDir}/critic.safetensors`
const swgPath = (c: OfflineConfig) => `${c.runDir}/swg.safetensors`
const iqlPath = (c: OfflineConfig) => `${c.runDir}/iql-actor.safetensors`
const qgpoQPath = (c: OfflineConfig) => `${c.runDir}/qgpo-q.safetensors`
const qgpoPath = (c: OfflineConfig) => `${c.runDir}/qgpo.safetensors`
const diceCriticPath = (c: OfflineConfig) => `${c.runDir}/dice-critic.safetensors`
const diceBehaviourPath = (c: OfflineConfig) => `${c.runDir}/dice-behaviour.safetensors`
const dicePath = (c: OfflineConfig) => `${c.runDir}/dice-guidance.safetensors`
const td3bcPath = (c: OfflineConfig) => `${c.runDir}/td3bc.safetensors`

/**
 * Each stage's config as its checkpoint records it, with the fields a resume or a skip may find changed (StageConfig):
 * - the stage's own step count: a finished stage may be extended to more steps, and one that holds more steps than
 *   asked is used as it is (its log line says how many);
 * - settings read only when acting: SWG's `weightClip`, QGPO's `guidanceScale` and `temperature` (the evaluation
 *   section, D-DICE's candidates, guidance scale and selection and the critic's step count are not in any header);
 * - settings of a stage's sibling that the stage does not read: the QGPO Q does not read the energy network's, the
 *   D-DICE behaviour model not the guidance network's, and the guidance network (trained on the data's actions and
 *   the critic's ratios) not the behaviour model's step count.
 * Everything the trained weights depend on is compared, `lrDecaySteps` included: SWG's and D-DICE's cosine horizon is
 * a field of its own, so an extended stage keeps the schedule its first steps had, and a changed horizon would not.
 * (IQL's horizon is `iql.steps` itself: an extended IQL actor continues on the stretched schedule.)
 */
export const criticStage = (c: OfflineConfig) => StageConfig.make(Critic.CriticConfig, criticConfig(c))
export const swgStage = (c: OfflineConfig) => StageConfig.make(SwgAgent.SwgAgentConfig, c.swg, ["steps", "weightClip"])
export const iqlStage = (c: OfflineConfig) => StageConfig.make(IqlActor.IqlActorConfig, c.iql, ["steps"])
const QGPO_ACTING = ["guidanceScale", "temperature"]
// `energyLayers`: the energy network's depth before it became `energyHiddenLayers` (#15), still in older Q headers.
const QGPO_ENERGY = ["energyHidden", "energyHiddenLayers", "energyLayers", "energySteps", "energyLr", "energyWeightDecay", "energyEmaRate", "energyBatch"]
export const qgpoQStage = (c: OfflineConfig) => StageConfig.make(QgpoAgent.QgpoAgentConfig, c.qgpo, ["qSteps", ...QGPO_ACTING, ...QGPO_ENERGY])
export const qgpoEnergyStage = (c: OfflineConfig) => StageConfig.make(QgpoAgent.QgpoAgentConfig, c.qgpo, ["energySteps", ...QGPO_ACTING])
export const diceCriticStage = (c: OfflineConfig) => StageConfig.make(Critic.CriticConfig, c.dice.critic)
export const diceBehaviourStage = (c: OfflineConfig) =>
  StageConfig.make(DiceAgent.DiceAgentConfig, c.dice.agent, ["behaviourSteps", "guidanceSteps", "guidanceHidden", "guidanceLayers", "copies"])
export const diceGuidanceStage = (c: OfflineConfig) => StageConfig.make(DiceAgent.DiceAgentConfig, c.dice.agent, ["guidanceSteps", "behaviourSteps"])
export const td3bcStage = (c: OfflineConfig) => StageConfig.make(Td3Bc.Td3BcConfig, c.td3bc, ["steps"])

/** The IQL critic's config: `critic`, with V's LayerNorm resolved for the task where it is left out (OfflineData.criticConfig). */
export const criticConfig = (c: OfflineConfig): Critic.CriticConfig => OfflineData.criticConfig(c.critic, c.task)

const newCritic = (c: OfflineConfig, ds: OfflineDataset.OfflineDataset) =>
  Effect.flatMap(Backend, (b) => b.run((B) => Critic.create(B, criticConfig(c), ds.observationDim, ds.actionDim, Rng.named(c.seed, "critic"))))

/** A checkpoint of a stage and the config it must have been trained with. */
export interface StageCheckpoint {
  readonly path: string
  readonly config: StageConfig.StageConfig
  /** The checkpoints it was trained from (StageInputs.ts). */
  readonly inputs?: ReadonlyArray<string>
}

/** The header config of the checkpoint at `path` if it loads (a missing or unreadable one: undefined). */
const savedConfig = (path: string) =>
  Effect.flatMap(Checkpoints, (checkpoints) =>
    checkpoints.load(path).pipe(
      Effect.map((saved) => ({ step: saved.header.step, config: saved.header.config, inputs: saved.header.inputs }) as const),
      Effect.orElseSucceed(() => undefined)
    ))

/**
 * True when `resume` is on and the stage's last checkpoint already holds `steps` steps: the stage is
 * done and is skipped without loading its data (a missing or unreadable checkpoint means not done;
 * the loop itself then reports a corrupt one). The checkpoint, and those of the stage's earlier parts
 * (`earlier`, where they exist), must have been trained with the current config: else `ConfigChanged`
 * names the first field that differs, whether the stage is finished or would resume; and from the same input
 * checkpoints as are there now (StageInputs.ts): else `InputChanged` names the one retrained since.
 */
export const finished = (c: OfflineConfig, label: string, last: StageCheckpoint, steps: number, earlier: ReadonlyArray<StageCheckpoint> = []) =>
  Effect.gen(function*() {
    if (!c.resume) return false
    const { path } = last
    const saved = yield* savedConfig(path)
    if (saved === undefined) return false
    yield* StageConfig.check(path, last.config, saved.config)
    yield* StageInputs.check(path, last.inputs ?? [], saved.inputs)
    const step = saved.step
    if (step < steps) return false
    for (const part of earlier) {
      const other = yield* savedConfig(part.path)
      if (other !== undefined) {
        yield* StageConfig.check(part.path, part.config, other.config)
        yield* StageInputs.check(part.path, part.inputs ?? [], other.inputs)
      }
    }
    yield* Console.log(`${label} ${c.task} seed ${c.seed}: done (${path} holds ${step} steps; --fresh retrains)`)
    return true
  })

/** Stage 1: the IQL critic (Q, target Q, V). */
export const trainCritic = Effect.fn("Offline.trainCritic")(function*(c: OfflineConfig) {
  if (yield* finished(c, "critic", { path: criticPath(c), config: criticStage(c) }, c.criticSteps)) return
  const { prepared, device } = yield* loadData(c)
  const critic = yield* newCritic(c, prepared.train)
  const backend = yield* Backend
  yield* ResumableLoop.run({
    label: `critic ${c.task}`, totalSteps: c.criticSteps, checkpointPath: criticPath(c), checkpointEvery: c.checkpointEvery,
    resume: c.resume, logEvery: c.logEvery, models: { q: critic.q, v: critic.v },
    architecture: { kind: "iql-critic", observationDim: prepared.train.observationDim, actionDim: prepared.train.actionDim },
    config: criticStage(c), seed: c.seed, lossNames: ["v_loss", "q_loss"],
    step: (i) => Critic.updateStep(backend.ops, critic, device, Rng.named(c.seed, "critic-batch"), i)
  })
})

/** A trained critic restored from the run directory. */
export const loadCritic = Effect.fn("Offline.loadCritic")(function*(c: OfflineConfig, ds: OfflineDataset.OfflineDataset) {
  const checkpoints = yield* Checkpoints
  const critic = yield* newCritic(c, ds)
  const saved = yield* checkpoints.load(criticPath(c))
  yield* StageConfig.check(criticPath(c), criticStage(c), saved.header.config)
  yield* ResumableLoop.restore(criticPath(c), { q: critic.q, v: critic.v }, saved.tensors, {})
  return critic
})

/** The critic's advantages of every row, read back to the host. */
export const readAdvantages = Effect.fn("Offline.readAdvantages")(function*(critic: Critic.Critic, observations: Tensor, actions: Tensor) {
  const backend = yield* Backend
  const chunks = yield* backend.run((B) => Critic.advantages(B, critic, observations, actions))
  const out = new Float32Array(observations.rows)
  let offset = 0
  for (const t of chunks) {
    const part = yield* backend.read(t)
    out.set(part, offset)
    offset += part.length
    backend.ops.dispose(t)
  }
  return out
})

const REPORT_SLICE = 1 << 18

/**
 * How the run directory's critic ranks the dataset (CriticReport.ts): its advantages on every
 * `qlearning_dataset` transition, grouped by the return of the episode they belong to (returns of
 * those transitions: D4RL's dropped timeout steps do not count), as data and as a markdown table.
 */
export const criticReport = Effect.fn("Offline.criticReport")(function*(c: OfflineConfig, groups: number) {
  const store = yield* DatasetStore
  const backend = yield* Backend
  const raw = yield* store.read(c.dataset)
  const transitions = OfflineDataset.clipActions(OfflineDataset.qlearningTransitions(raw))
  const critic = yield* loadCritic(c, transitions)
  // In slices, so that no upload exceeds a GPU binding (2M × 17 floats would).
  const { observationDim: sd, actionDim: ad, size } = transitions
  const advantages = new Float32Array(size)
  for (let start = 0; start < size; start += REPORT_SLICE) {
    const rows = Math.min(REPORT_SLICE, size - start)
    const [observations, actions] = yield* backend.run((B) => [
      B.upload(transitions.observations.subarray(start * sd, (start + rows) * sd), rows, sd),
      B.upload(transitions.actions.subarray(start * ad, (start + rows) * ad), rows, ad)
    ] as const)
    advantages.set(yield* readAdvantages(critic, observations, actions), start)
    backend.ops.dispose(observations)
    backend.ops.dispose(actions)
  }
  const report = CriticReport.byEpisodeReturn(OfflineDataset.episodes(transitions), advantages, groups)
  const envName = raw.metadata.env_name
  const scored = typeof envName === "string" && Environment.isScoredTask(envName) ? envName : undefined
  return { groups: report, markdown: CriticReport.markdown(report, scored && ((r) => Environment.normalizedScore(scored, r))) }
})

/**
 * Above this share of weights near the midpoint of their range, train-swg suggests the hard expectile: maze2d-umaze's
 * smooth weights had 30 % there and guided far worse than its hard ones; the locomotion tasks', 5–10 %, did not.
 */
const FLAT_SHARE = 0.2

/** The suggestion train-swg prints when smooth expectile weights sit mostly near their midpoint, else undefined. */
export const flatWeightsNote = (f: WeightFunction.WeightFunction, spread: WeightFunction.Spread): string | undefined =>
  f._tag === "SmoothExpectile" && spread.nearMidpoint !== undefined && spread.nearMidpoint > FLAT_SHARE
    ? `note: ${(100 * spread.nearMidpoint).toFixed(0)} % of the weights are within ${spread.tolerance.toPrecision(2)} of the midpoint: the ` +
      `critic's advantages are small for κ = ${f.kappa}, so guidance has little to go on. On such data the hard expectile ` +
      `did far better (maze2d-umaze, docs/methods.md §2.3): swg.weightFunction {"_tag": "Expectile", "tau": ${f.tau}}`
    : undefined

const weightSummary = (range: readonly [number, number], spread: WeightFunction.Spread): string =>
  `weights in [${range[0].toFixed(4)}, ${range[1].toFixed(4)}], std ${spread.std.toFixed(3)}` +
  (spread.nearMidpoint === undefined ? "" : `, ${(100 * spread.nearMidpoint).toFixed(1)} % within ${spread.tolerance.toPrecision(2)} of the midpoint`)

/** Stage 2: weights from the critic, then the SWG diffusion model on z = [a, w]. */
export const trainSwg = Effect.fn("Offline.trainSwg")(function*(c: OfflineConfig) {
  const inputs = [criticPath(c)]
  if (yield* finished(c, "swg", { path: swgPath(c), config: swgStage(c), inputs }, c.swg.steps)) return
  yield* Critic.checkWeightTau(c.critic, c.swg.weightFunction)
  const { prepared, device } = yield* loadData(c)
  const backend = yield* Backend
  const B = backend.ops
  const critic = yield* loadCritic(c, prepared.train)
  const advantages = yield* readAdvantages(critic, device.observations, device.actions)
  const { z, range, spread } = SwgAgent.augmentedData(c.swg.weightFunction, prepared.train.actions, prepared.train.actionDim, advantages)
  yield* Console.log(`${c.task}: ${z.length / (prepared.train.actionDim + 1)} weighted samples, ${weightSummary(range, spread)}`)
  const note = flatWeightsNote(c.swg.weightFunction, spread)
  if (note !== undefined) yield* Console.log(note)
  const agent = yield* backend.run((ops) =>
    SwgAgent.create(ops, c.swg, prepared.train.observationDim, prepared.train.actionDim, range, Rng.named(c.seed, "swg-init")))
  const data: Training.DiffusionData = {
    z0: B.upload(z, prepared.train.size, prepared.train.actionDim + 1),
    condition: device.observations
  }
  const tables = yield* backend.run((ops) => DiffusionTraining.noiseTables(ops, agent.schedule))
  yield* ResumableLoop.run({
    label: `swg ${c.task}`, totalSteps: c.swg.steps, checkpointPath: swgPath(c), checkpointEvery: c.checkpointEvery,
    resume: c.resume, logEvery: c.logEvery, models: { swg: agent.model },
    architecture: { kind: "swg", weightRange: [range[0], range[1]], observationDim: prepared.train.observationDim, actionDim: prepared.train.actionDim },
    config: swgStage(c), seed: c.seed, lossNames: ["eps_loss"], inputs,
    step: (i) => SwgAgent.trainStep(B, agent, data, tables, Rng.named(c.seed, "swg"), i)
  })
})

/** Stage 2b: IQL's AWR actor. */
export const trainIql = Effect.fn("Offline.trainIql")(function*(c: OfflineConfig) {
  const inputs = [criticPath(c)]
  if (yield* finished(c, "iql actor", { path: iqlPath(c), config: iqlStage(c), inputs }, c.iql.steps)) return
  const { prepared, device } = yield* loadData(c)
  const backend = yield* Backend
  const critic = yield* loadCritic(c, prepared.train)
  const actor = yield* backend.run((B) => IqlActor.create(B, c.iql, prepared.train.observationDim, prepared.train.actionDim, Rng.named(c.seed, "iql-actor")))
  yield* ResumableLoop.run({
    label: `iql actor ${c.task}`, totalSteps: c.iql.steps, checkpointPath: iqlPath(c), checkpointEvery: c.checkpointEvery,
    resume: c.resume, logEvery: c.logEvery, models: { actor: actor.model },
    architecture: { kind: "iql-actor" }, config: iqlStage(c), seed: c.seed,
    lossNames: ["awr_loss"], inputs,
    step: (i) => IqlActor.updateStep(backend.ops, actor, critic, device, Rng.named(c.seed, "iql"), i)
  })
})

/**
 * Stage 2c: QGPO on the SWG model as its behaviour model (`trainSwg` first): K support actions for every training
 * state and next state (or those of `qgpo.supportStates` training rows drawn at random), the twin Q by the
 * in-support softmax backup (qgpo-q.safetensors), then the energy network by contrastive energy prediction
 * (qgpo.safetensors). Support sampling costs K·T behaviour-network calls per state.
 */
export const trainQgpo = Effect.fn("Offline.trainQgpo")(function*(c: OfflineConfig) {
  // Both parts are trained on support actions drawn from the SWG model (QGPO's behaviour model).
  const qStage = { path: qgpoQPath(c), config: qgpoQStage(c), inputs: [swgPath(c)] }
  const energyInputs = [swgPath(c), qgpoQPath(c)]
  if (yield* finished(c, "qgpo", { path: qgpoPath(c), config: qgpoEnergyStage(c), inputs: energyInputs }, c.qgpo.energySteps, [qStage])) return
  const { prepared, device } = yield* loadData(c)
  const backend = yield* Backend
  const B = backend.ops
  const behaviour = yield* loadSwg(c, prepared.train)
  const agent = yield* backend.run((ops) => QgpoAgent.create(ops, c.qgpo, behaviour, prepared.train.observationDim, Rng.named(c.seed, "qgpo-init")))
  // `supportStates` (a departure from QGPO, which uses every transition): a seeded subset of the training rows.
  const rows = QgpoAgent.trainingRows(c.qgpo, prepared.train.size, Rng.named(c.seed, "qgpo-subset"))
  const transitions = rows === undefined ? device : yield* backend.run((ops) => QgpoAgent.subsetTransitions(ops, device, rows))
  const states = rows === undefined ? `each of the ${prepared.train.size}` : `each of ${rows.length} of the ${prepared.train.size}`
  yield* Console.log(`qgpo ${c.task}: sampling ${c.qgpo.support} support actions for ${states} training states and next states`)
  const started = yield* Clock.currentTimeMillis
  const data = yield* QgpoAgent.prepare(backend, agent, transitions, Rng.named(c.seed, "qgpo-support"))
  yield* Console.log(`qgpo ${c.task}: support sampled in ${(((yield* Clock.currentTimeMillis) - started) / 1000).toFixed(1)} s`)
  const architecture = { kind: "qgpo", observationDim: prepared.train.observationDim, actionDim: prepared.train.actionDim }
  yield* ResumableLoop.run({
    label: `qgpo q ${c.task}`, totalSteps: c.qgpo.qSteps, checkpointPath: qgpoQPath(c), checkpointEvery: c.checkpointEvery,
    resume: c.resume, logEvery: c.logEvery, models: { q: agent.q }, architecture, config: qStage.config, seed: c.seed, lossNames: ["q_loss"], inputs: qStage.inputs,
    step: (i) => QgpoAgent.qStep(B, agent, data, Rng.named(c.seed, "qgpo-q"), i)
  })
  const tables = yield* backend.run((ops) => DiffusionTraining.noiseTables(ops, behaviour.schedule))
  // Q̄ of the support actions (the CEP labels), at the first energy step: after the loop has restored Q on a resume.
  let energyData: QgpoAgent.EnergyData | undefined
  yield* ResumableLoop.run({
    label: `qgpo energy ${c.task}`, totalSteps: c.qgpo.energySteps, checkpointPath: qgpoPath(c), checkpointEvery: c.checkpointEvery,
    resume: c.resume, logEvery: c.logEvery, models: { q: agent.q, energy: agent.energy }, architecture, config: qgpoEnergyStage(c), seed: c.seed,
    lossNames: QgpoAgent.ENERGY_LOSS_NAMES, inputs: energyInputs,
    step: (i) => QgpoAgent.energyStep(B, agent, (energyData ??= QgpoAgent.energyData(B, agent, data)), tables, Rng.named(c.seed, "qgpo-energy"), i)
  })
})

/**
 * Stage 2d: Diffusion-DICE. The DICE critic (dice-critic.safetensors), its ratios w* on the training rows, the
 * behaviour model on the VP-SDE (dice-behaviour.safetensors), then the guidance network by IGL (dice-guidance.safetensors).
 */
export const trainDice = Effect.fn("Offline.trainDice")(function*(c: OfflineConfig) {
  const earlier = [{ path: diceCriticPath(c), config: diceCriticStage(c) }, { path: diceBehaviourPath(c), config: diceBehaviourStage(c) }]
  // The guidance network learns the critic's ratios w* (IGL) on the behaviour model's noise schedule.
  const guidanceInputs = [diceCriticPath(c), diceBehaviourPath(c)]
  if (yield* finished(c, "d-dice", { path: dicePath(c), config: diceGuidanceStage(c), inputs: guidanceInputs }, c.dice.agent.guidanceSteps, earlier)) return
  const { prepared, device } = yield* loadData(c)
  const backend = yield* Backend
  const B = backend.ops
  const d = c.dice
  const architecture = { kind: "d-dice", observationDim: prepared.train.observationDim, actionDim: prepared.train.actionDim }
  const loop = { checkpointEvery: c.checkpointEvery, resume: c.resume, logEvery: c.logEvery, seed: c.seed, architecture }
  const critic = yield* backend.run((ops) => Critic.create(ops, d.critic, prepared.train.observationDim, prepared.train.actionDim, Rng.named(c.seed, "dice-critic")))
  yield* ResumableLoop.run({
    ...loop, label: `dice critic ${c.task}`, totalSteps: d.criticSteps, checkpointPath: diceCriticPath(c), models: Critic.models(critic),
    config: diceCriticStage(c), lossNames: Critic.lossNames(d.critic),
    step: (i) => Critic.updateStep(B, critic, device, Rng.named(c.seed, "dice-critic-batch"), i)
  })
  const ratios = DiceAgent.ratios(critic, yield* readAdvantages(critic, device.observations, device.actions))
  const agent = yield* backend.run((ops) => DiceAgent.create(ops, d.agent, prepared.train.observationDim, prepared.train.actionDim, Rng.named(c.seed, "dice-init")))
  yield* ResumableLoop.run({
    ...loop, label: `dice behaviour ${c.task}`, totalSteps: d.agent.behaviourSteps, checkpointPath: diceBehaviourPath(c),
    models: { behaviour: agent.behaviour }, config: diceBehaviourStage(c), lossNames: ["score_loss"],
    step: (i) => DiceAgent.behaviourStep(B, agent, device.actions, device.observations, Rng.named(c.seed, "dice-behaviour"), i)
  })
  const { onDevice, repeat } = yield* backend.run((ops) => ({ onDevice: ops.upload(Float32Array.from(ratios), ratios.length, 1), repeat: DiceAgent.repeatIndex(ops, agent) }))
  yield* ResumableLoop.run({
    ...loop, label: `dice guidance ${c.task}`, totalSteps: d.agent.guidanceSteps, checkpointPath: dicePath(c),
    models: { guidance: agent.guidance }, config: diceGuidanceStage(c), lossNames: ["igl_loss"], inputs: guidanceInputs,
    step: (i) => DiceAgent.guidanceStep(B, agent, device.actions, device.observations, onDevice, repeat, Rng.named(c.seed, "dice-guidance"), i)
  })
})

/**
 * Stage 2e: TD3+BC on the training transitions with their raw rewards (TD3+BC's reference scales no rewards; its
 * λ = α/mean|Q| makes the actor's loss indifferent to the reward scale), states normalised by the training split's
 * mean and std; the normaliser is saved with the agent (td3bc.safetensors).
 */
export const trainTd3Bc = Effect.fn("Offline.trainTd3Bc")(function*(c: OfflineConfig) {
  if (yield* finished(c, "td3bc", { path: td3bcPath(c), config: td3bcStage(c) }, c.td3bc.steps)) return
  const { prepared, device } = yield* loadData(c, "none")
  const backend = yield* Backend
  const { observationDim, actionDim } = prepared.train
  const agent = yield* backend.run((B) =>
    Td3Bc.create(B, c.td3bc, observationDim, actionDim, Rng.named(c.seed, "td3bc-init"), Td3Bc.normaliserOf(c.td3bc, prepared.train)))
  yield* ResumableLoop.run({
    label: `td3bc ${c.task}`, totalSteps: c.td3bc.steps, checkpointPath: td3bcPath(c), checkpointEvery: c.checkpointEvery,
    resume: c.resume, logEvery: c.logEvery, models: Td3Bc.models(agent),
    architecture: { kind: "td3bc", observationDim, actionDim }, config: td3bcStage(c), seed: c.seed,
    lossNames: [...Td3Bc.LOSS_NAMES], step: (i) => Td3Bc.updateStep(backend.ops, agent, device, Rng.named(c.seed, "td3bc-batch"), i)
  })
})

/** The environment of a task name (batch = episodes run in lockstep); `UnknownTask` when there is none. */
export const environmentFor = (task: string, batch: number) =>
  Effect.gen(function*() {
    const envs = yield* Environments
    const maze = /^maze2d-(umaze|medium|large)(-dense)?-v1$/.exec(task)
    if (maze) return yield* envs.maze2d({ maze: maze[1] as "umaze" | "medium" | "large", batch, reward: maze[2] ? "dense" : "sparse" })
    const loco = /^(halfcheetah|hopper|walker2d)-/.exec(task)
    if (loco) return yield* envs.locomotion({ task: loco[1] as "halfcheetah" | "hopper" | "walker2d", batch })
    if (task.startsWith("pendulum")) return yield* envs.pendulum({ batch })
    return yield* new UnknownTask({ task })
  })

const scoreOf = (env: Environment.VectorEnv, episodeReturn: number): number | null =>
  Environment.isScoredTask(env.name) ? Environment.normalizedScore(env.name, episodeReturn) : null

/** Restores the SWG model from the run directory, as its checkpoint header describes it (config, dimensions, weight range). */
export const loadSwg = Effect.fn("Offline.loadSwg")(function*(c: OfflineConfig, _ds: OfflineDataset.OfflineDataset) {
  return (yield* Agent.loadSwgModel(swgPath(c))).agent
})

/** The checkpoints of `c.runDir` that `method` acts with (none for the data). */
const checkpointsOf = (c: OfflineConfig, method: string): ReadonlyArray<string> =>
  Schema.is(Agent.AgentMethod)(method) ? Agent.checkpointsOf(c.runDir, method) : []

/**
 * A result file written by an earlier evaluation with the same episode count, if there is one, and `stale`: the
 * checkpoint it recorded that has been retrained since (the result is then not kept). A file that does not decode
 * fails (naming the file and the field) rather than being silently evaluated again.
 */
const readEarlierResult = (c: OfflineConfig, path: string, method: string) =>
  Effect.gen(function*() {
    const r = yield* ResultFile.readIfExists(path)
    if (r === undefined || r.episodes !== c.evaluation.episodes) return { earlier: undefined, stale: undefined }
    const changed = yield* StageInputs.firstChanged(checkpointsOf(c, method), r.checkpoints)
    return changed === undefined ? { earlier: r, stale: undefined } : { earlier: undefined, stale: changed.input }
  })

/**
 * True when `resume` is on and every method of `c.evaluation.methods` already has its result file
 * for this (task, seed) with the configured episode count, evaluated from the checkpoints there are now: `table`
 * then skips the (task, seed) without retraining models whose checkpoints are gone (result files outlive run
 * directories; a result is stale only while the checkpoint that replaced its model is there to say so).
 */
export const evaluated = (c: OfflineConfig) =>
  Effect.gen(function*() {
    if (!c.resume) return false
    for (const method of c.evaluation.methods) {
      const { earlier } = yield* readEarlierResult(c, ResultFile.pathOf(c.resultsDir, c.task, method, c.seed), method)
      if (earlier === undefined) return false
    }
    return true
  })

/**
 * The data's own result: the behaviour score recorded at generation (metadata/behavior/*), else the
 * mean return of the dataset's complete episodes; its clip share from the dataset's actions.
 */
export const dataResult = (task: string, seed: number, raw: OfflineDataset.OfflineDataset): ResultFile.OfflineResult => {
  const recorded = Summary.behaviourFromMetadata(raw)
  const summary = Summary.summarize(raw, { name: task, path: "" })
  const returnMean = recorded?.return ?? summary.returns?.mean ?? Number.NaN
  const normalizedScore = recorded?.normalizedScore ?? (Environment.isScoredTask(task) ? Environment.normalizedScore(task, returnMean) : null)
  return {
    task, method: "data", seed, episodes: summary.episodes, returnMean, normalizedScore,
    clipShare: ResultFile.saturated(raw.actions) / Math.max(raw.actions.length, 1)
  }
}

/**
 * The Agent defaults of `evaluate`: the evaluation section's for the SWG-sampled methods, QGPO's and D-DICE's acting
 * settings from their sections (the config evaluated with, not the one trained with).
 */
export const actDefaults = (c: OfflineConfig): Agent.ActDefaults => {
  const e = c.evaluation
  return {
    guidanceScale: e.guidanceScale, swgTemperature: 0, temperature: e.temperature, candidates: e.candidates, swgRRule: e.swgRRule,
    swgWeightClip: c.swg.weightClip,
    qgpoGuidanceScale: c.qgpo.guidanceScale, qgpoTemperature: c.qgpo.temperature,
    diceCandidates: c.dice.candidates, diceGuidanceScale: c.dice.guidanceScale, diceSelection: DiceAgent.selectionFor(c.dice, c.task)
  }
}

/**
 * Stage 3: rollouts of each method; one result file per (task, method, seed). With `resume` (the
 * default) a method whose result file exists for the same episode count is not evaluated again.
 */
export const evaluate = Effect.fn("Offline.evaluate")(function*(c: OfflineConfig, scales?: ReadonlyArray<number>) {
  const store = yield* DatasetStore
  const progress = yield* Progress
  const raw = yield* store.read(c.dataset)
  const e = c.evaluation
  const results: Array<ResultFile.OfflineResult> = []
  // Each method is an Agent over the run directory's models, loaded once for all of them.
  const agentMethods = e.methods.filter(Schema.is(Agent.AgentMethod))
  const trained = yield* Agent.loadRun(c.runDir, agentMethods)
  yield* Critic.checkWeightTau(c.critic, c.swg.weightFunction)
  type Policy = (obs: Float64Array, step: number) => Effect.Effect<Float64Array, Agent.AgentError | GpuError | IndexOutOfRange>
  const runs: Array<{ method: string; rho?: number; policy: Policy }> = []
  const key = (name: string) => Rng.split(Rng.named(c.seed, "evaluate"), name)
  const defaults = actDefaults(c)
  // Each method's random stream (by name, so a method's rollouts do not depend on which others run).
  const streams = {
    "swg-r": "swg-r", "diffusion-bc": "bc", "idql": "idql", "iql": "iql", "td3bc": "td3bc", "qgpo": "qgpo",
    "d-dice": "d-dice", "d-dice-guide-only": "d-dice-guide-only", "d-dice-select-only": "d-dice-select-only",
    "td3bc-unguided": "td3bc-unguided", "td3bc-pgd": "td3bc-pgd", "iql-unguided": "iql-unguided", "iql-pgd": "iql-pgd"
  } as const
  for (const method of agentMethods) {
    const agent = yield* Agent.fromRun(trained, method, { defaults })
    if (method === "swg") {
      for (const rho of scales ?? [e.guidanceScale]) {
        runs.push({ method, rho, policy: (obs, t) => agent.act(obs, { guidanceScale: rho, temperature: 0, key: Rng.at(key(`swg-${rho}`), t) }) })
      }
    } else {
      const rho = method === "swg-r" ? { rho: e.guidanceScale } : {}
      runs.push({ method, ...rho, policy: (obs, t) => agent.act(obs, { key: Rng.at(key(streams[method]), t) }) })
    }
  }
  // The data's own score and clip share, beside every method (no rollout: the dataset's episodes).
  if (scales === undefined) {
    const data = dataResult(c.task, c.seed, raw)
    results.push(data)
    yield* ResultFile.write(ResultFile.pathOf(c.resultsDir, c.task, "data", c.seed), data)
  }
  for (const run of runs) {
    const suffix = scales === undefined ? "" : `-rho${run.rho}`
    const path = ResultFile.pathOf(c.resultsDir, c.task, run.method, c.seed, scales === undefined ? undefined : run.rho)
    const { earlier, stale } = c.resume ? yield* readEarlierResult(c, path, run.method) : { earlier: undefined, stale: undefined }
    if (earlier !== undefined) {
      results.push(earlier)
      yield* Console.log(`${c.task} ${run.method}${suffix} seed ${c.seed}: kept ${path} (--fresh re-evaluates)`)
      continue
    }
    if (stale !== undefined) yield* Console.log(`${c.task} ${run.method}${suffix} seed ${c.seed}: ${stale} was retrained since ${path}; evaluating again`)
    const checkpoints = yield* StageInputs.record(checkpointsOf(c, run.method))
    const outcome = yield* Effect.scoped(Effect.gen(function*() {
      const env = yield* environmentFor(c.task, e.episodes)
      const tracker = yield* progress.start(`evaluate ${c.task} ${run.method}${suffix} seed ${c.seed}`, env.maxEpisodeSteps)
      let entries = 0
      let saturated = 0
      const policy = (obs: Float64Array, t: number) =>
        run.policy(obs, t).pipe(
          Effect.tap((actions) => {
            entries += actions.length
            saturated += ResultFile.saturated(actions)
            return tracker.update(t + 1, { running: `${obs.length / env.observationDim}` })
          }))
      const r = yield* Environment.rolloutEffect(env, policy, 1_000_000 + c.seed, { runningOnly: true })
      const returnMean = Statistics.mean(Array.from(r.returns))
      return { returnMean, normalizedScore: scoreOf(env, returnMean), clipShare: saturated / Math.max(entries, 1) }
    }))
    const result: ResultFile.OfflineResult = {
      task: c.task, method: run.method, seed: c.seed, episodes: e.episodes,
      returnMean: outcome.returnMean, normalizedScore: outcome.normalizedScore, clipShare: outcome.clipShare,
      ...(run.rho === undefined ? {} : { guidanceScale: run.rho }), checkpoints
    }
    results.push(result)
    yield* ResultFile.write(path, result)
    yield* Console.log(`${c.task} ${run.method}${run.rho === undefined ? "" : ` ρ=${run.rho}`} seed ${c.seed}: return ${outcome.returnMean.toFixed(2)}, normalised ${outcome.normalizedScore?.toFixed(1) ?? "—"}`)
  }
  return results
})
