/**
 * The Agent service: one trained policy, loaded from its run directory, behind one interface,
 * `act(observations, options)` → actions. The methods are those the offline stages train
 * (programs/Offline.ts): SWG, SWG-R, diffusion BC and IDQL sample the SWG diffusion model
 * (swg.safetensors; IDQL also scores with the critic, critic.safetensors), IQL takes the mean of its
 * AWR actor (iql-actor.safetensors, with the dimensions from the critic's header), TD3+BC its deterministic actor
 * (td3bc.safetensors, with its state normaliser); the agents of Policy-Guided Diffusion trained on synthetic experience
 * (td3bc-unguided, td3bc-pgd, iql-unguided, iql-pgd: `<method>.safetensors`) act as TD3+BC and IQL do. QGPO guides the
 * SWG model, sampled unguided as its behaviour model, with its energy network (qgpo.safetensors, Q beside it);
 * Diffusion-DICE and its two ablations guide and select with the D-DICE models (dice-critic, dice-behaviour and
 * dice-guidance.safetensors; their actions are not clipped: as in the reference, the environment clips them).
 * Everything a model needs is read from its checkpoint header (config, dimensions, the SWG weight range), so a run
 * directory is enough; what no checkpoint holds (QGPO's and D-DICE's acting settings) comes from `ActDefaults`.
 * Every failure is an `AgentError` with a tagged reason: a missing or unusable
 * checkpoint, observations of the wrong width or with a non-finite entry, options the method does not
 * take, or the device's own typed error.
 */
import { basename, dirname, join } from "node:path"
import { Context, Effect, Layer, Schema, type Scope, Semaphore } from "effect"
import { IndexOutOfRange, MemoryLimit, ShapeError } from "../domain/Ops.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { TensorBackend } from "../domain/TensorBackend.ts"
import type * as Model from "../nn/Model.ts"
import * as Critic from "../rl/Critic.ts"
import * as DiceAgent from "../rl/DiceAgent.ts"
import * as DiceSelect from "../rl/DiceSelect.ts"
import * as IqlActor from "../rl/IqlActor.ts"
import * as QgpoAgent from "../rl/QgpoAgent.ts"
import * as SyntheticExperience from "../rl/SyntheticExperience.ts"
import * as SwgAgent from "../rl/SwgAgent.ts"
import * as Td3Bc from "../rl/Td3Bc.ts"
import { CheckpointMismatch, restore } from "../programs/ResumableLoop.ts"
import { Backend } from "./Backend.ts"
import { CheckpointError, Checkpoints, decodeHeaderField } from "./Checkpoints.ts"
import { GpuError } from "./Gpu.ts"

/** The trained methods an agent can be. */
export const AgentMethod = Schema.Literals([
  "swg", "swg-r", "diffusion-bc", "idql", "iql", "td3bc", "qgpo", ...DiceSelect.DiceMethods, ...SyntheticExperience.SyntheticMethods
])
export type AgentMethod = typeof AgentMethod.Type

/** The checkpoint files of a run directory, as the offline stages write them. */
export const runFiles = (runDir: string) => ({
  critic: join(runDir, "critic.safetensors"),
  swg: join(runDir, "swg.safetensors"),
  iql: join(runDir, "iql-actor.safetensors"),
  td3bc: join(runDir, "td3bc.safetensors"),
  qgpo: join(runDir, "qgpo.safetensors"),
  diceCritic: join(runDir, "dice-critic.safetensors"),
  diceBehaviour: join(runDir, "dice-behaviour.safetensors"),
  diceGuidance: join(runDir, "dice-guidance.safetensors"),
  /** The agents trained on synthetic experience, by method (OfflinePgd.ts). */
  synthetic: (method: SyntheticExperience.SyntheticMethod) => join(runDir, `${method}.safetensors`)
})

/** The checkpoints of a run directory that `loadRun` reads for `method` (what its result files record). */
export const checkpointsOf = (runDir: string, method: AgentMethod): ReadonlyArray<string> => {
  const f = runFiles(runDir)
  switch (method) {
    case "swg":
    case "swg-r":
    case "diffusion-bc":
      return [f.swg]
    case "idql":
      return [f.swg, f.critic]
    case "iql":
      return [f.critic, f.iql]
    case "qgpo":
      return [f.swg, f.qgpo]
    case "td3bc":
      return [f.td3bc]
    case "d-dice":
    case "d-dice-guide-only":
    case "d-dice-select-only":
      return [f.diceCritic, f.diceBehaviour, f.diceGuidance]
    default:
      return [f.synthetic(method)]
  }
}

// ---- errors --------------------------------------------------------------------------------------

/** The run directory has no checkpoint the method needs (that stage was not trained there). */
export class MissingCheckpoint extends Schema.TaggedError<MissingCheckpoint>()("MissingCheckpoint", { path: Schema.String }) {
  override get message(): string {
    return `no checkpoint ${this.path}`
  }
}

/** The checkpoint exists but cannot be used: corrupt, a header field missing, or tensors that do not fit the model. */
export class InvalidCheckpoint extends Schema.TaggedError<InvalidCheckpoint>()("InvalidCheckpoint", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

/** The observations do not split into rows of the agent's observation width. */
export class ObservationWidth extends Schema.TaggedError<ObservationWidth>()("ObservationWidth", {
  expected: Schema.Int,
  values: Schema.Int
}) {
  override get message(): string {
    return `${this.values} observation values do not make rows of the agent's observation width ${this.expected}`
  }
}

/** An observation entry is NaN or infinite. */
export class NonFiniteObservation extends Schema.TaggedError<NonFiniteObservation>()("NonFiniteObservation", {
  row: Schema.Int,
  column: Schema.Int
}) {
  override get message(): string {
    return `observation ${this.row} has a non-finite value in column ${this.column}`
  }
}

/** An option the method does not take, or a value out of its range. */
export class InvalidActOptions extends Schema.TaggedError<InvalidActOptions>()("InvalidActOptions", { detail: Schema.String }) {
  override get message(): string {
    return this.detail
  }
}

/** The device failed while computing or reading the actions back. */
export class DeviceFailure extends Schema.TaggedError<DeviceFailure>()("DeviceFailure", {
  error: Schema.Union([GpuError, IndexOutOfRange, ShapeError, MemoryLimit])
}) {
  override get message(): string {
    return this.error.message
  }
}

export const AgentErrorReason = Schema.Union([
  MissingCheckpoint,
  InvalidCheckpoint,
  ObservationWidth,
  NonFiniteObservation,
  InvalidActOptions,
  DeviceFailure
])
export type AgentErrorReason = typeof AgentErrorReason.Type

/** A failure of the agent `method` of the run directory `runDir`. */
export class AgentError extends Schema.TaggedError<AgentError>()("AgentError", {
  method: Schema.String,
  runDir: Schema.String,
  reason: AgentErrorReason
}) {
  override get message(): string {
    return `agent ${this.method} (${this.runDir}): ${this.reason.message}`
  }
}

// ---- loading -------------------------------------------------------------------------------------

/** A run directory's trained models, each loaded once, with the step its checkpoint holds. */
export interface TrainedRun {
  readonly runDir: string
  readonly swg: { readonly agent: SwgAgent.SwgAgent; readonly step: number } | undefined
  readonly critic: { readonly critic: Critic.Critic; readonly step: number } | undefined
  readonly iql: { readonly actor: IqlActor.IqlActor; readonly step: number } | undefined
  /** Absent in runs loaded before TD3+BC existed. */
  readonly td3bc?: { readonly agent: Td3Bc.Td3Bc; readonly step: number } | undefined
  /** The agents trained on synthetic experience that were asked for, by method. */
  readonly synthetic?: Partial<Record<SyntheticExperience.SyntheticMethod, SyntheticActor>>
  /** QGPO over `swg` (its behaviour model), with the step of its energy stage. */
  readonly qgpo?: { readonly agent: QgpoAgent.QgpoAgent; readonly step: number } | undefined
  /** The D-DICE critic and agent, with the step of the guidance stage. */
  readonly dice?: { readonly critic: Critic.Critic; readonly agent: DiceAgent.DiceAgent; readonly step: number } | undefined
}

/** An agent trained on synthetic experience: TD3+BC's or IQL's actor, and the step its checkpoint holds. */
export type SyntheticActor =
  | { readonly kind: "td3bc"; readonly agent: Td3Bc.Td3Bc; readonly step: number }
  | { readonly kind: "iql"; readonly actor: IqlActor.IqlActor; readonly step: number }

/** What `trainSwg` stores as its architecture (the weight range first: the field older runs may lack). */
const SwgArchitecture = Schema.Struct({
  models: Schema.Struct({
    weightRange: Schema.Tuple([Schema.Finite, Schema.Finite]),
    observationDim: Schema.Int,
    actionDim: Schema.Int
  })
})

/** What `trainCritic` stores as its architecture. */
const CriticArchitecture = Schema.Struct({ models: Schema.Struct({ observationDim: Schema.Int, actionDim: Schema.Int }) })

/** The methods that act with an actor trained on synthetic experience. */
const isSynthetic = Schema.is(Schema.Literals(SyntheticExperience.SyntheticMethods))
const isDice = Schema.is(Schema.Literals(DiceSelect.DiceMethods))
/** The methods that sample the SWG model and return its generated weights. */
const swgSampled = (m: AgentMethod) => m === "swg" || m === "swg-r" || m === "diffusion-bc" || m === "idql"
const needsSwg = (m: AgentMethod) => swgSampled(m) || m === "qgpo"
const needsCritic = (m: AgentMethod) => m === "idql" || m === "iql"

/** The SWG model of the checkpoint at `path`, built as its header describes it, and the step it holds. */
export const loadSwgModel = Effect.fnUntraced(function*(path: string) {
  const backend = yield* Backend
  const saved = yield* (yield* Checkpoints).load(path)
  const config = yield* decodeHeaderField(path, "config", SwgAgent.SwgAgentConfig, saved.header.config)
  const { models } = yield* decodeHeaderField(path, "architecture", SwgArchitecture, saved.header.architecture)
  const agent = yield* backend.run((B) =>
    SwgAgent.create(B, config, models.observationDim, models.actionDim, models.weightRange, Rng.named(0, "swg-init")))
  yield* restore(path, { swg: agent.model }, saved.tensors, {})
  return { agent, step: saved.header.step }
})

const loadCriticModel = Effect.fnUntraced(function*(path: string) {
  const backend = yield* Backend
  const saved = yield* (yield* Checkpoints).load(path)
  const config = yield* decodeHeaderField(path, "config", Critic.CriticConfig, saved.header.config)
  const { models } = yield* decodeHeaderField(path, "architecture", CriticArchitecture, saved.header.architecture)
  const critic = yield* backend.run((B) => Critic.create(B, config, models.observationDim, models.actionDim, Rng.named(0, "critic")))
  yield* restore(path, { q: critic.q, v: critic.v }, saved.tensors, {})
  return { critic, step: saved.header.step }
})

const loadIqlModel = Effect.fnUntraced(function*(path: string, critic: Critic.Critic) {
  const backend = yield* Backend
  const saved = yield* (yield* Checkpoints).load(path)
  const config = yield* decodeHeaderField(path, "config", IqlActor.IqlActorConfig, saved.header.config)
  const actor = yield* backend.run((B) => IqlActor.create(B, config, critic.observationDim, critic.actionDim, Rng.named(0, "iql-actor")))
  yield* restore(path, { actor: actor.model }, saved.tensors, {})
  return { actor, step: saved.header.step }
})

/** What `trainTd3Bc` stores as its architecture. */
const Td3BcArchitecture = CriticArchitecture

const loadTd3BcModel = Effect.fnUntraced(function*(path: string) {
  const backend = yield* Backend
  const saved = yield* (yield* Checkpoints).load(path)
  const config = yield* decodeHeaderField(path, "config", Td3Bc.Td3BcConfig, saved.header.config)
  const { models } = yield* decodeHeaderField(path, "architecture", Td3BcArchitecture, saved.header.architecture)
  const agent = yield* backend.run((B) => Td3Bc.create(B, config, models.observationDim, models.actionDim, Rng.named(0, "td3bc-init")))
  yield* restore(path, Td3Bc.models(agent), saved.tensors, {})
  return { agent, step: saved.header.step }
})

/** What a synthetic-experience stage stores: its dimensions, and its config with the agent's section. */
const SyntheticArchitecture = CriticArchitecture
const SyntheticTd3BcConfig = Schema.Struct({ td3bc: Td3Bc.Td3BcConfig })
const SyntheticIqlConfig = Schema.Struct({ iql: IqlActor.IqlActorConfig })

/** The acting part of a synthetic-experience checkpoint: TD3+BC's agent (actor, critic, normaliser) or IQL's actor. */
export const loadSyntheticModel = Effect.fnUntraced(function*(path: string, method: SyntheticExperience.SyntheticMethod) {
  const backend = yield* Backend
  const saved = yield* (yield* Checkpoints).load(path)
  const { models } = yield* decodeHeaderField(path, "architecture", SyntheticArchitecture, saved.header.architecture)
  if (method.startsWith("td3bc")) {
    const { td3bc } = yield* decodeHeaderField(path, "config", SyntheticTd3BcConfig, saved.header.config)
    const agent = yield* backend.run((B) => Td3Bc.create(B, td3bc, models.observationDim, models.actionDim, Rng.named(0, "td3bc-init")))
    yield* restore(path, Td3Bc.models(agent), saved.tensors, {})
    const out: SyntheticActor = { kind: "td3bc", agent, step: saved.header.step }
    return out
  }
  const { iql } = yield* decodeHeaderField(path, "config", SyntheticIqlConfig, saved.header.config)
  const actor = yield* backend.run((B) => IqlActor.create(B, iql, models.observationDim, models.actionDim, Rng.named(0, "iql-actor")))
  yield* restore(path, { actor: actor.model }, saved.tensors, {})
  const out: SyntheticActor = { kind: "iql", actor, step: saved.header.step }
  return out
})

/** What `trainQgpo` and `trainDice` store as their architecture. */
const StageArchitecture = CriticArchitecture

/** QGPO's Q and energy network (qgpo.safetensors) over the SWG model `behaviour`, built as the header describes them. */
const loadQgpoModel = Effect.fnUntraced(function*(path: string, behaviour: SwgAgent.SwgAgent) {
  const backend = yield* Backend
  const saved = yield* (yield* Checkpoints).load(path)
  const config = yield* decodeHeaderField(path, "config", QgpoAgent.QgpoAgentConfig, saved.header.config)
  const { models } = yield* decodeHeaderField(path, "architecture", StageArchitecture, saved.header.architecture)
  const agent = yield* backend.run((B) => QgpoAgent.create(B, config, behaviour, models.observationDim, Rng.named(0, "qgpo-init")))
  yield* restore(path, { q: agent.q, energy: agent.energy }, saved.tensors, {})
  return { agent, step: saved.header.step }
})

/** The D-DICE critic, behaviour model and guidance network, each from its checkpoint (in the order `trainDice` writes them). */
const loadDiceModels = Effect.fnUntraced(function*(files: ReturnType<typeof runFiles>) {
  const backend = yield* Backend
  const checkpoints = yield* Checkpoints
  const criticSaved = yield* checkpoints.load(files.diceCritic)
  const criticConfig = yield* decodeHeaderField(files.diceCritic, "config", Critic.CriticConfig, criticSaved.header.config)
  const dims = (yield* decodeHeaderField(files.diceCritic, "architecture", StageArchitecture, criticSaved.header.architecture)).models
  const critic = yield* backend.run((B) => Critic.create(B, criticConfig, dims.observationDim, dims.actionDim, Rng.named(0, "dice-critic")))
  yield* restore(files.diceCritic, Critic.models(critic), criticSaved.tensors, {})
  const behaviourSaved = yield* checkpoints.load(files.diceBehaviour)
  const config = yield* decodeHeaderField(files.diceBehaviour, "config", DiceAgent.DiceAgentConfig, behaviourSaved.header.config)
  const agent = yield* backend.run((B) => DiceAgent.create(B, config, dims.observationDim, dims.actionDim, Rng.named(0, "dice-init")))
  yield* restore(files.diceBehaviour, { behaviour: agent.behaviour }, behaviourSaved.tensors, {})
  const guidanceSaved = yield* checkpoints.load(files.diceGuidance)
  yield* restore(files.diceGuidance, { guidance: agent.guidance }, guidanceSaved.tensors, {})
  return { critic, agent, step: guidanceSaved.header.step }
})

/**
 * Loads the models `methods` need from `runDir`, each once: the SWG model for SWG, SWG-R, diffusion BC, IDQL and QGPO,
 * the critic for IDQL and IQL, IQL's actor for IQL, TD3+BC's agent for TD3+BC, QGPO's networks for QGPO, the D-DICE
 * models for the D-DICE methods. Fails with the library's own errors
 * (a missing file is a `CheckpointError` with reason `NotFound`); `load` turns them into `AgentError`.
 */
export const loadRun = Effect.fn("Agent.loadRun")(function*(runDir: string, methods: ReadonlyArray<AgentMethod>) {
  const files = runFiles(runDir)
  const swg = methods.some(needsSwg) ? yield* loadSwgModel(files.swg) : undefined
  const critic = methods.some(needsCritic) ? yield* loadCriticModel(files.critic) : undefined
  const iql = methods.includes("iql") && critic !== undefined ? yield* loadIqlModel(files.iql, critic.critic) : undefined
  const td3bc = methods.includes("td3bc") ? yield* loadTd3BcModel(files.td3bc) : undefined
  const synthetic: Partial<Record<SyntheticExperience.SyntheticMethod, SyntheticActor>> = {}
  for (const m of methods.filter(isSynthetic)) synthetic[m] = yield* loadSyntheticModel(files.synthetic(m), m)
  const qgpo = methods.includes("qgpo") && swg !== undefined ? yield* loadQgpoModel(files.qgpo, swg.agent) : undefined
  const dice = methods.some(isDice) ? yield* loadDiceModels(files) : undefined
  return { runDir, swg, critic, iql, td3bc, synthetic, qgpo, dice } satisfies TrainedRun
})

/** Returns every device tensor of the run's models to the pool. */
export const disposeRun = (B: TensorBackend, run: TrainedRun): void => {
  const models: Array<Model.Model> = [
    ...(run.swg ? [run.swg.agent.model] : []),
    ...(run.critic ? [run.critic.critic.q, run.critic.critic.v] : []),
    ...(run.iql ? [run.iql.actor.model] : []),
    ...(run.td3bc ? Object.values(Td3Bc.models(run.td3bc.agent)) : []),
    ...Object.values(run.synthetic ?? {}).flatMap((s) => s.kind === "td3bc" ? Object.values(Td3Bc.models(s.agent)) : [s.actor.model]),
    // QGPO's behaviour model is `run.swg`'s
    ...(run.qgpo ? [run.qgpo.agent.q, run.qgpo.agent.energy] : []),
    ...(run.dice ? [...Object.values(Critic.models(run.dice.critic)), run.dice.agent.behaviour, run.dice.agent.guidance] : [])
  ]
  for (const m of models) {
    for (const t of [m.params, m.grads, m.adam.m, m.adam.v, ...(m.ema ? [m.ema] : [])]) B.dispose(t)
  }
}

// ---- acting --------------------------------------------------------------------------------------

/** Per-call options; each applies only to the methods named, and any other is `InvalidActOptions`. */
export interface ActOptions {
  /** Guidance scale: ρ (SWG, SWG-R; eq. 26 of the SWG paper), s (QGPO), s_guid (d-dice, d-dice-guide-only). */
  readonly guidanceScale?: number
  /** Sampling temperature ≥ 0: the scale of the initial and per-step noise (SWG, SWG-R, diffusion BC, IDQL, QGPO). */
  readonly temperature?: number
  /** Candidates per observation, the best kept (SWG-R by ŵ₀, IDQL by the critic's advantage, d-dice and d-dice-select-only by the DICE critic). */
  readonly candidates?: number
  /** The random key of this call; by default the agent's own stream, one key per call. */
  readonly key?: RngKey
}

/** The defaults of the options: the offline evaluation's (SWG at temperature 0, ρ = 10, 16 candidates). */
export interface ActDefaults {
  readonly guidanceScale: number
  /** SWG's temperature; SWG-R, diffusion BC and IDQL use `temperature`. */
  readonly swgTemperature: number
  readonly temperature: number
  readonly candidates: number
  /** How SWG-R picks among its candidates by ŵ₀. */
  readonly swgRRule: SwgAgent.Rule
  /**
   * The clip of SWG's ŵ₀ and of the iterate's weight coordinate (a sampling choice, not a trained one);
   * absent: the one in the SWG checkpoint's config. `evaluate` passes its config's, so an evaluation
   * config can sample a model trained under one clip with the other (issue #16's ablation).
   */
  readonly swgWeightClip?: SwgAgent.SwgAgentConfig["weightClip"]
  /** QGPO's guidance scale s and temperature; absent: those of its checkpoint's config. */
  readonly qgpoGuidanceScale?: number
  readonly qgpoTemperature?: number
  /** D-DICE's candidates K, guidance scale s_guid and selection; absent: `DiceOfflineConfig`'s defaults (the selection by the task). */
  readonly diceCandidates?: number
  readonly diceGuidanceScale?: number
  readonly diceSelection?: DiceSelect.Selection
}

export const defaultActDefaults: ActDefaults = { guidanceScale: 10, swgTemperature: 0, temperature: 1, candidates: 16, swgRRule: "greedy" }

/** Which options each method takes. */
const takes: Record<AgentMethod, ReadonlyArray<"guidanceScale" | "temperature" | "candidates">> = {
  "swg": ["guidanceScale", "temperature"],
  "swg-r": ["guidanceScale", "temperature", "candidates"],
  "diffusion-bc": ["temperature"],
  "idql": ["temperature", "candidates"],
  "iql": [],
  "td3bc": [],
  "td3bc-unguided": [],
  "td3bc-pgd": [],
  "iql-unguided": [],
  "iql-pgd": [],
  "qgpo": ["guidanceScale", "temperature"],
  "d-dice": ["guidanceScale", "candidates"],
  "d-dice-guide-only": ["guidanceScale"],
  "d-dice-select-only": ["candidates"]
}

/** What an agent is: reported by the policy server's `/v1/info`. */
export interface AgentInfo {
  readonly method: AgentMethod
  readonly runDir: string
  /** The task given at load, else the run directory's parent when it is `<task>/seed<N>`, else null. */
  readonly task: string | null
  readonly observationDim: number
  readonly actionDim: number
  /** Training steps of the method's main checkpoint (the SWG model, IQL's actor, TD3+BC's agent, QGPO's energy network or D-DICE's guidance network). */
  readonly checkpointStep: number
  /** The backend's kind and description, e.g. "wasm (f32x4 SIMD, …)". */
  readonly backend: string
  /** The options this method takes, with their defaults. */
  readonly defaults: { readonly guidanceScale?: number; readonly temperature?: number; readonly candidates?: number }
  /** True when `actWithWeights` returns the generated weight w of each action (the methods that sample the SWG model: SWG, SWG-R, diffusion BC, IDQL). */
  readonly generatesWeights: boolean
}

/** Actions [E·A] row-major, and for SWG, SWG-R, diffusion BC and IDQL the generated weight w [E] of each. */
export interface Acted {
  readonly actions: Float64Array
  readonly weights: Float64Array | undefined
}

/** Options of `load` and `Agent.layer`. */
export interface AgentOptions {
  readonly runDir: string
  readonly method: AgentMethod
  /** The task's name, for `info` (see `AgentInfo.task`). */
  readonly task?: string
  readonly defaults?: Partial<ActDefaults>
  /** Seed of the agent's own random stream (calls without a `key`). Default 0. */
  readonly seed?: number
}

/** What the Agent service offers. */
export interface AgentShape {
  readonly info: AgentInfo
  /**
   * Actions [E·A] (row-major) for observations [E·S] (row-major, E ≥ 0). Calls run one at a time on the
   * device; a call without `options.key` takes the next key of the agent's stream.
   */
  readonly act: (observations: ArrayLike<number>, options?: ActOptions) => Effect.Effect<Float64Array, AgentError>
  /** As `act`, with the generated weights of the methods that sample the SWG model. */
  readonly actWithWeights: (observations: ArrayLike<number>, options?: ActOptions) => Effect.Effect<Acted, AgentError>
}

export class Agent extends Context.Service<Agent, AgentShape>()("dgrl/services/Agent") {
  /** The agent of `options.method` from `options.runDir`; its models go back to the pool when the layer closes. */
  static readonly layer = (options: AgentOptions): Layer.Layer<Agent, AgentError, Backend | Checkpoints> =>
    Layer.effect(Agent, load(options))
}

/** The task of a run directory laid out as `<task>/seed<N>`, else null. */
const taskOf = (runDir: string): string | null => (/^seed\d+$/.test(basename(runDir)) ? basename(dirname(runDir)) || null : null)

/** Library errors of loading, as `AgentError` reasons. */
const loadReason = (error: CheckpointError | CheckpointMismatch | GpuError | IndexOutOfRange | ShapeError | MemoryLimit): AgentErrorReason => {
  if (error instanceof CheckpointError) {
    return error.reason._tag === "NotFound"
      ? new MissingCheckpoint({ path: error.path })
      : new InvalidCheckpoint({ path: error.path, detail: error.message })
  }
  if (error instanceof CheckpointMismatch) return new InvalidCheckpoint({ path: error.path, detail: error.message })
  return new DeviceFailure({ error })
}

/**
 * Loads the agent (see the module comment) in the current scope: its models go back to the pool when
 * the scope closes.
 */
export const load = (options: AgentOptions): Effect.Effect<AgentShape, AgentError, Backend | Checkpoints | Scope.Scope> =>
  Effect.gen(function*() {
    const backend = yield* Backend
    const { method, runDir } = options
    const run = yield* Effect.acquireRelease(
      loadRun(runDir, [method]).pipe(
        Effect.mapError((error) => new AgentError({ method, runDir, reason: loadReason(error) }))
      ),
      (run) => Effect.sync(() => disposeRun(backend.ops, run))
    )
    return yield* fromRun(run, method, options)
  })

/** The agent `method` over models already loaded by `loadRun` (which must include what `method` needs). */
export const fromRun = (
  run: TrainedRun,
  method: AgentMethod,
  options: Omit<AgentOptions, "runDir" | "method"> = {}
): Effect.Effect<AgentShape, never, Backend> =>
  Effect.gen(function*() {
    const backend = yield* Backend
    const d = { ...defaultActDefaults, ...options.defaults }
    const fail = (reason: AgentErrorReason) => new AgentError({ method, runDir: run.runDir, reason })
    const swg = run.swg === undefined || d.swgWeightClip === undefined || d.swgWeightClip === run.swg.agent.config.weightClip
      ? run.swg
      : { ...run.swg, agent: { ...run.swg.agent, config: new SwgAgent.SwgAgentConfig({ ...run.swg.agent.config, weightClip: d.swgWeightClip }) } }
    const critic = run.critic
    const iql = run.iql
    const td3bc = run.td3bc
    const synthetic = isSynthetic(method) ? run.synthetic?.[method] : undefined
    const qgpo = run.qgpo
    const dice = run.dice
    const missing = method === "iql" ? iql === undefined
      : method === "td3bc" ? td3bc === undefined
      : isSynthetic(method) ? synthetic === undefined
      : method === "qgpo" ? qgpo === undefined
      : isDice(method) ? dice === undefined
      : swg === undefined || (method === "idql" && critic === undefined)
    if (missing) return yield* Effect.die(new Error(`Agent.fromRun: the run was loaded without the models ${method} needs`))
    // TD3+BC's agent or IQL's actor: the method's own, or the synthetic-experience run's.
    const td3bcAgent = method === "td3bc" ? td3bc!.agent : synthetic?.kind === "td3bc" ? synthetic.agent : undefined
    const iqlActor = method === "iql" ? iql!.actor : synthetic?.kind === "iql" ? synthetic.actor : undefined
    const actor = td3bcAgent ?? iqlActor ?? (method === "qgpo" ? qgpo!.agent : undefined)
    const observationDim = actor !== undefined ? actor.observationDim : isDice(method) ? dice!.agent.network.conditionDim : swg!.agent.network.conditionDim
    const actionDim = actor !== undefined ? actor.actionDim : isDice(method) ? dice!.agent.network.dataDim : swg!.agent.actionDim
    const task = options.task ?? taskOf(run.runDir)
    const diceDefaults = Schema.decodeSync(DiceAgent.DiceOfflineConfig)({})
    const diceSelection = d.diceSelection ?? DiceAgent.selectionFor(diceDefaults, task ?? "")
    const guidanceScale = method === "qgpo" ? d.qgpoGuidanceScale ?? qgpo!.agent.config.guidanceScale
      : isDice(method) ? d.diceGuidanceScale ?? diceDefaults.guidanceScale
      : d.guidanceScale
    const temperature = method === "qgpo" ? d.qgpoTemperature ?? qgpo!.agent.config.temperature
      : method === "swg" ? d.swgTemperature
      : d.temperature
    const candidates = isDice(method) ? d.diceCandidates ?? diceDefaults.candidates : d.candidates
    const defaults = {
      ...(takes[method].includes("guidanceScale") ? { guidanceScale } : {}),
      ...(takes[method].includes("temperature") ? { temperature } : {}),
      ...(takes[method].includes("candidates") ? { candidates } : {})
    }
    const step = method === "iql" ? iql!.step
      : method === "td3bc" ? td3bc!.step
      : synthetic !== undefined ? synthetic.step
      : method === "qgpo" ? qgpo!.step
      : isDice(method) ? dice!.step
      : swg!.step
    const info: AgentInfo = {
      method,
      runDir: run.runDir,
      task,
      observationDim,
      actionDim,
      checkpointStep: step,
      backend: `${backend.ops.kind}: ${backend.ops.description}`,
      defaults,
      generatesWeights: swgSampled(method)
    }
    const stream = Rng.named(options.seed ?? 0, `agent-${method}`)
    let calls = 0
    const permit = yield* Semaphore.make(1)

    /** The options of a call, checked, over the defaults. */
    interface Settings {
      readonly guidanceScale: number
      readonly temperature: number
      readonly candidates: number
    }
    const settings = (o: ActOptions): Effect.Effect<Settings, AgentError> => {
      const given = (["guidanceScale", "temperature", "candidates"] as const).filter((k) => o[k] !== undefined)
      const extra = given.filter((k) => !takes[method].includes(k))
      if (extra.length > 0) {
        const accepted = takes[method].length === 0 ? "no options" : takes[method].join(", ")
        return Effect.fail(fail(new InvalidActOptions({ detail: `${method} takes ${accepted}, not ${extra.join(", ")}` })))
      }
      const guidanceScale = o.guidanceScale ?? defaults.guidanceScale ?? 0
      const temperature = o.temperature ?? defaults.temperature ?? 0
      const candidates = o.candidates ?? defaults.candidates ?? 1
      if (!Number.isFinite(guidanceScale)) return Effect.fail(fail(new InvalidActOptions({ detail: `guidanceScale must be finite, got ${guidanceScale}` })))
      if (!(Number.isFinite(temperature) && temperature >= 0)) {
        return Effect.fail(fail(new InvalidActOptions({ detail: `temperature must be finite and ≥ 0, got ${temperature}` })))
      }
      if (!(Number.isInteger(candidates) && candidates >= 1)) {
        return Effect.fail(fail(new InvalidActOptions({ detail: `candidates must be a positive integer, got ${candidates}` })))
      }
      return Effect.succeed({ guidanceScale, temperature, candidates })
    }

    /** How the SWG model is sampled for `method`; undefined for the methods that do not sample it alone. */
    const selector = ({ guidanceScale, temperature, candidates }: Settings): SwgAgent.Selector | undefined => {
      switch (method) {
        case "swg":
          return { _tag: "Swg", guidanceScale, temperature }
        case "swg-r":
          return { _tag: "SwgR", guidanceScale, temperature, candidates, rule: d.swgRRule }
        case "diffusion-bc":
          return { _tag: "DiffusionBc", temperature }
        case "idql":
          return { _tag: "Idql", candidates, temperature, rule: "greedy", critic: critic!.critic, weightFunction: swg!.agent.config.weightFunction }
        default:
          return undefined
      }
    }

    /** Actions [E·A] (and the weights of the SWG-sampled methods) of observations `obs` [E·S], E ≥ 1. */
    const compute = (obs: Float64Array, s: Settings, key: RngKey): Effect.Effect<Acted, GpuError | IndexOutOfRange> => {
      const actions = (e: Effect.Effect<Float64Array, GpuError | IndexOutOfRange>) => Effect.map(e, (a): Acted => ({ actions: a, weights: undefined }))
      const chosen = selector(s)
      if (chosen !== undefined) return SwgAgent.actWithWeights(backend, swg!.agent, chosen, obs, key)
      if (method === "qgpo") return actions(QgpoAgent.act(backend, qgpo!.agent, obs, key, s.guidanceScale, s.temperature))
      if (isDice(method)) {
        const o = { method, candidates: s.candidates, guidanceScale: s.guidanceScale, selection: diceSelection, critic: dice!.critic }
        return actions(DiceAgent.act(backend, dice!.agent, o, obs, key))
      }
      return actions(td3bcAgent !== undefined ? Td3Bc.act(backend, td3bcAgent, obs) : IqlActor.act(backend, iqlActor!, obs))
    }

    const observationsOf = (values: ArrayLike<number>): Effect.Effect<Float64Array, AgentError> => {
      if (values.length % observationDim !== 0) {
        return Effect.fail(fail(new ObservationWidth({ expected: observationDim, values: values.length })))
      }
      for (let i = 0; i < values.length; i++) {
        if (!Number.isFinite(values[i])) {
          return Effect.fail(fail(new NonFiniteObservation({ row: Math.floor(i / observationDim), column: i % observationDim })))
        }
      }
      return Effect.succeed(Float64Array.from(values))
    }

    const actWithWeights = (observations: ArrayLike<number>, options: ActOptions = {}): Effect.Effect<Acted, AgentError> =>
      Effect.gen(function*() {
        const obs = yield* observationsOf(observations)
        const s = yield* settings(options)
        const key = options.key ?? Rng.at(stream, calls++)
        if (obs.length === 0) return { actions: new Float64Array(0), weights: info.generatesWeights ? new Float64Array(0) : undefined }
        return yield* compute(obs, s, key).pipe(Effect.mapError((error) => fail(new DeviceFailure({ error }))))
      }).pipe(permit.withPermit)

    return {
      info,
      act: (observations, options) => Effect.map(actWithWeights(observations, options), (r) => r.actions),
      actWithWeights
    }
  })
