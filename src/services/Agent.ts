/**
 * The Agent service: one trained policy, loaded from its run directory, behind one interface,
 * `act(observations, options)` → actions. The methods are those the offline stages train
 * (programs/Offline.ts): SWG, SWG-R, diffusion BC and IDQL sample the SWG diffusion model
 * (swg.safetensors; IDQL also scores with the critic, critic.safetensors), IQL takes the mean of its
 * AWR actor (iql-actor.safetensors, with the dimensions from the critic's header), TD3+BC its deterministic actor
 * (td3bc.safetensors, with its state normaliser); the agents of Policy-Guided Diffusion trained on synthetic experience
 * (td3bc-unguided, td3bc-pgd, iql-unguided, iql-pgd: `<method>.safetensors`) act as TD3+BC and IQL do. Everything a model
 * needs is read from its checkpoint header (config, dimensions, the SWG weight range), so a run
 * directory is enough. Every failure is an `AgentError` with a tagged reason: a missing or unusable
 * checkpoint, observations of the wrong width or with a non-finite entry, options the method does not
 * take, or the device's own typed error.
 */
import { basename, dirname, join } from "node:path"
import { Context, Effect, Layer, Schema, type Scope, Semaphore } from "effect"
import { IndexOutOfRange, ShapeError } from "../domain/Ops.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { TensorBackend } from "../domain/TensorBackend.ts"
import type * as Model from "../nn/Model.ts"
import * as Critic from "../rl/Critic.ts"
import * as IqlActor from "../rl/IqlActor.ts"
import * as SyntheticExperience from "../rl/SyntheticExperience.ts"
import * as SwgAgent from "../rl/SwgAgent.ts"
import * as Td3Bc from "../rl/Td3Bc.ts"
import { CheckpointMismatch, restore } from "../programs/ResumableLoop.ts"
import { Backend } from "./Backend.ts"
import { CheckpointError, Checkpoints, decodeHeaderField } from "./Checkpoints.ts"
import { GpuError } from "./Gpu.ts"

/** The trained methods an agent can be. */
export const AgentMethod = Schema.Literals(["swg", "swg-r", "diffusion-bc", "idql", "iql", "td3bc", ...SyntheticExperience.SyntheticMethods])
export type AgentMethod = typeof AgentMethod.Type

/** The checkpoint files of a run directory, as the offline stages write them. */
export const runFiles = (runDir: string) => ({
  critic: join(runDir, "critic.safetensors"),
  swg: join(runDir, "swg.safetensors"),
  iql: join(runDir, "iql-actor.safetensors"),
  td3bc: join(runDir, "td3bc.safetensors"),
  /** The agents trained on synthetic experience, by method (OfflinePgd.ts). */
  synthetic: (method: SyntheticExperience.SyntheticMethod) => join(runDir, `${method}.safetensors`)
})

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
  error: Schema.Union([GpuError, IndexOutOfRange, ShapeError])
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

/** The methods that act with a deterministic actor (no diffusion model, no options, no generated weights). */
const isSynthetic = Schema.is(Schema.Literals(SyntheticExperience.SyntheticMethods))
const actorMethod = (m: AgentMethod): boolean => m === "iql" || m === "td3bc" || isSynthetic(m)
const needsSwg = (m: AgentMethod) => !actorMethod(m)
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

/**
 * Loads the models `methods` need from `runDir`, each once: the SWG model for every diffusion
 * method, the critic for IDQL and IQL, IQL's actor for IQL, TD3+BC's agent for TD3+BC. Fails with the library's own errors
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
  return { runDir, swg, critic, iql, td3bc, synthetic } satisfies TrainedRun
})

/** Returns every device tensor of the run's models to the pool. */
export const disposeRun = (B: TensorBackend, run: TrainedRun): void => {
  const models: Array<Model.Model> = [
    ...(run.swg ? [run.swg.agent.model] : []),
    ...(run.critic ? [run.critic.critic.q, run.critic.critic.v] : []),
    ...(run.iql ? [run.iql.actor.model] : []),
    ...(run.td3bc ? Object.values(Td3Bc.models(run.td3bc.agent)) : []),
    ...Object.values(run.synthetic ?? {}).flatMap((s) => s.kind === "td3bc" ? Object.values(Td3Bc.models(s.agent)) : [s.actor.model])
  ]
  for (const m of models) {
    for (const t of [m.params, m.grads, m.adam.m, m.adam.v, ...(m.ema ? [m.ema] : [])]) B.dispose(t)
  }
}

// ---- acting --------------------------------------------------------------------------------------

/** Per-call options; each applies only to the methods named, and any other is `InvalidActOptions`. */
export interface ActOptions {
  /** Guidance scale ρ (SWG, SWG-R; eq. 26 of the SWG paper). */
  readonly guidanceScale?: number
  /** Sampling temperature ≥ 0: the scale of the initial and per-step noise (every diffusion method). */
  readonly temperature?: number
  /** Candidates per observation, the best kept (SWG-R by ŵ₀, IDQL by the critic's advantage). */
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
  "iql-pgd": []
}

/** What an agent is: reported by the policy server's `/v1/info`. */
export interface AgentInfo {
  readonly method: AgentMethod
  readonly runDir: string
  /** The task given at load, else the run directory's parent when it is `<task>/seed<N>`, else null. */
  readonly task: string | null
  readonly observationDim: number
  readonly actionDim: number
  /** Training steps of the method's main checkpoint (the SWG model, IQL's actor or TD3+BC's agent). */
  readonly checkpointStep: number
  /** The backend's kind and description, e.g. "wasm (f32x4 SIMD, …)". */
  readonly backend: string
  /** The options this method takes, with their defaults. */
  readonly defaults: { readonly guidanceScale?: number; readonly temperature?: number; readonly candidates?: number }
  /** True when `actWithWeights` returns the generated weight w of each action (the diffusion methods). */
  readonly generatesWeights: boolean
}

/** Actions [E·A] row-major, and for the diffusion methods the generated weight w [E] of each. */
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
  /** As `act`, with the generated weights of the diffusion methods. */
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
const loadReason = (error: CheckpointError | CheckpointMismatch | GpuError | IndexOutOfRange | ShapeError): AgentErrorReason => {
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
    const swg = run.swg
    const critic = run.critic
    const iql = run.iql
    const td3bc = run.td3bc
    const synthetic = isSynthetic(method) ? run.synthetic?.[method] : undefined
    const missing = method === "iql" ? iql === undefined
      : method === "td3bc" ? td3bc === undefined
      : isSynthetic(method) ? synthetic === undefined
      : swg === undefined || (method === "idql" && critic === undefined)
    if (missing) return yield* Effect.die(new Error(`Agent.fromRun: the run was loaded without the models ${method} needs`))
    // TD3+BC's agent or IQL's actor: the method's own, or the synthetic-experience run's.
    const td3bcAgent = method === "td3bc" ? td3bc!.agent : synthetic?.kind === "td3bc" ? synthetic.agent : undefined
    const iqlActor = method === "iql" ? iql!.actor : synthetic?.kind === "iql" ? synthetic.actor : undefined
    const actor = td3bcAgent ?? iqlActor
    const observationDim = actor !== undefined ? actor.observationDim : swg!.agent.network.conditionDim
    const actionDim = actor !== undefined ? actor.actionDim : swg!.agent.actionDim
    const defaults = {
      ...(takes[method].includes("guidanceScale") ? { guidanceScale: d.guidanceScale } : {}),
      ...(takes[method].includes("temperature") ? { temperature: method === "swg" ? d.swgTemperature : d.temperature } : {}),
      ...(takes[method].includes("candidates") ? { candidates: d.candidates } : {})
    }
    const info: AgentInfo = {
      method,
      runDir: run.runDir,
      task: options.task ?? taskOf(run.runDir),
      observationDim,
      actionDim,
      checkpointStep: method === "iql" ? iql!.step : method === "td3bc" ? td3bc!.step : synthetic !== undefined ? synthetic.step : swg!.step,
      backend: `${backend.ops.kind}: ${backend.ops.description}`,
      defaults,
      generatesWeights: !actorMethod(method)
    }
    const stream = Rng.named(options.seed ?? 0, `agent-${method}`)
    let calls = 0
    const permit = yield* Semaphore.make(1)

    const selector = (o: ActOptions): Effect.Effect<SwgAgent.Selector | undefined, AgentError> => {
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
      switch (method) {
        case "swg":
          return Effect.succeed({ _tag: "Swg", guidanceScale, temperature })
        case "swg-r":
          return Effect.succeed({ _tag: "SwgR", guidanceScale, temperature, candidates, rule: d.swgRRule })
        case "diffusion-bc":
          return Effect.succeed({ _tag: "DiffusionBc", temperature })
        case "idql":
          return Effect.succeed({
            _tag: "Idql", candidates, temperature, rule: "greedy", critic: critic!.critic, weightFunction: swg!.agent.config.weightFunction
          })
        default:
          return Effect.succeed(undefined)
      }
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
        const chosen = yield* selector(options)
        const key = options.key ?? Rng.at(stream, calls++)
        if (obs.length === 0) return { actions: new Float64Array(0), weights: chosen === undefined ? undefined : new Float64Array(0) }
        const device = yield* (chosen === undefined
          ? Effect.map(td3bcAgent !== undefined ? Td3Bc.act(backend, td3bcAgent, obs) : IqlActor.act(backend, iqlActor!, obs), (actions): Acted => ({ actions, weights: undefined }))
          : SwgAgent.actWithWeights(backend, swg!.agent, chosen, obs, key)).pipe(
            Effect.mapError((error) => fail(new DeviceFailure({ error })))
          )
        return device
      }).pipe(permit.withPermit)

    return {
      info,
      act: (observations, options) => Effect.map(actWithWeights(observations, options), (r) => r.actions),
      actWithWeights
    }
  })
