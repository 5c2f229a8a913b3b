/**
 * The Diffusion-DICE agent (Mao et al. 2024) for offline RL: a DICE critic (Critic.ts with the "dice" value
 * loss, its Q ensemble for locomotion), a behaviour model on the continuous VP-SDE (DiceBehaviour.ts: the
 * LN-ResNet ε-network over actions conditioned on the state, no weight coordinate) and the in-sample guidance
 * network (DiceGuidance.ts) trained with IGL on w* = w*((min Q_target − V)/α) of the dataset's own actions.
 * Acting is guide-then-select or one of its ablations (DiceSelect.ts).
 *
 * The behaviour body is our choice: the engine's LN-ResNet (SWG/IDQL's actor) instead of the reference's
 * U-Net-shaped MLP (QGPO's ScoreNet).
 */
import { Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Divergence from "../domain/Divergence.ts"
import { cosineDecay } from "../domain/LearningRate.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as DiceBehaviour from "../diffusion/DiceBehaviour.ts"
import * as DiceGuidance from "../diffusion/DiceGuidance.ts"
import * as EpsNetwork from "../diffusion/EpsNetwork.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import * as Critic from "./Critic.ts"
import * as DiceSelect from "./DiceSelect.ts"
import type { Device } from "./Device.ts"

export class DiceAgentConfig extends Schema.Class<DiceAgentConfig>("DiceAgentConfig")({
  /** Behaviour LN-ResNet: width, blocks, dropout. */
  hidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  blocks: Config.PositiveInt.pipe(Config.withDefault(3)),
  dropout: Config.Probability.pipe(Config.withDefault(0.1)),
  behaviourSteps: Config.PositiveInt.pipe(Config.withDefault(1_000_000)),
  /** Guidance network: hidden width and layers (reference 256 × 4), steps, copies M per action (16 on MuJoCo). */
  guidanceHidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  guidanceLayers: Config.PositiveInt.pipe(Config.withDefault(4)),
  guidanceSteps: Config.PositiveInt.pipe(Config.withDefault(1_000_000)),
  copies: Config.PositiveInt.pipe(Config.withDefault(16)),
  /** Rows per step (the guidance network sees batch/copies actions × copies). */
  batch: Config.PositiveInt.pipe(Config.withDefault(512)),
  lr: Config.PositiveFinite.pipe(Config.withDefault(3e-4)),
  /** Cosine decay horizon of the learning rates. */
  lrDecaySteps: Config.PositiveInt.pipe(Config.withDefault(1_000_000)),
  emaRate: Config.Probability.pipe(Config.withDefault(0.001))
}) {}

/** D-DICE's stages and evaluation in the offline pipeline (`train-dice`, methods d-dice, d-dice-guide-only, d-dice-select-only). */
export class DiceOfflineConfig extends Schema.Class<DiceOfflineConfig>("DiceOfflineConfig")({
  /**
   * The DICE critic: its own checkpoint beside the IQL critic (α 0.5, a 10-Q ensemble for locomotion's selection),
   * with the reference's value network (LayerNorm after each hidden layer) and AdamW weight decay 1e-4. The
   * reference's batch is 512; the default keeps CriticConfig's 256 (a preset sets it).
   */
  critic: Critic.CriticConfig.pipe(
    Config.withDefault({ valueLoss: "dice", diceAlpha: 0.5, ensemble: 10, valueLayerNorm: "hidden", weightDecay: 1e-4 })
  ),
  criticSteps: Config.PositiveInt.pipe(Config.withDefault(1_000_000)),
  agent: DiceAgentConfig.pipe(Config.withDefault({})),
  /** Candidates K (the paper's is not published; the reference's CLI default is 1). */
  candidates: Config.PositiveInt.pipe(Config.withDefault(16)),
  /** s_guid (reference: 4 on medium and medium-replay, 2 on medium-expert, 1–4 on antmaze). */
  guidanceScale: Schema.Finite.pipe(Config.withDefault(4)),
  /** Selection; left out: softmax over the first target-Q head on maze tasks, the ensemble-mean argmax elsewhere. */
  selection: Schema.optionalKey(Schema.Literals(["argmax", "softmax"]))
}) {}

/** The selection rule of a task: `config.selection`, else softmax on maze tasks and argmax elsewhere. */
export const selectionFor = (c: DiceOfflineConfig, task: string): DiceSelect.Selection =>
  c.selection ?? (/^(maze2d|antmaze)-/.test(task) ? "softmax" : "argmax")

export interface DiceAgent {
  readonly config: DiceAgentConfig
  readonly network: EpsNetwork.EpsNetworkConfig
  readonly behaviour: Model.Model
  readonly guidanceNetwork: DiceGuidance.GuidanceNetworkConfig
  readonly guidance: Model.Model
}

export const create = (B: TensorBackend, c: DiceAgentConfig, observationDim: number, actionDim: number, key: RngKey): DiceAgent => {
  const network = new EpsNetwork.EpsNetworkConfig({
    dataDim: actionDim, conditionDim: observationDim, timeFeatures: 128, timeHidden: 256,
    body: new EpsNetwork.LnResNetBody({ hidden: c.hidden, blocks: c.blocks, activation: "silu", dropout: c.dropout })
  })
  const guidanceNetwork = new DiceGuidance.GuidanceNetworkConfig({
    actionDim, conditionDim: observationDim, timeFeatures: 32, timeEmbedding: 32, hidden: c.guidanceHidden, layers: c.guidanceLayers
  })
  return {
    config: c, network, guidanceNetwork,
    behaviour: Model.create(B, EpsNetwork.specs(network), Rng.split(key, "behaviour"), { ema: true }),
    guidance: Model.create(B, DiceGuidance.specs(guidanceNetwork), Rng.split(key, "guidance"), { ema: true })
  }
}

/** The ratios w* of the dataset's rows from the DICE critic's advantages (host), clipped to [1e-40, 100]. */
export const ratios = (critic: Critic.Critic, advantages: ArrayLike<number>): Float64Array =>
  Divergence.ratios(advantages, new Float64Array(advantages.length), Critic.diceAlpha(critic.config))

/** One behaviour step on actions [N, A] with observations [N, S]; returns the loss [1, 1]. */
export const behaviourStep = (B: TensorBackend, agent: DiceAgent, actions: Tensor, observations: Tensor, key: RngKey, step: number): Tensor =>
  Model.trainStep(B, agent.behaviour, {
    lr: cosineDecay(agent.config.lr, agent.config.lrDecaySteps, step), adamw: Optimizer.adamwDefaults, emaRate: agent.config.emaRate,
    rng: Rng.at(Rng.split(key, "dropout"), step)
  }, (p) => DiceBehaviour.loss(p, agent.network, DiceBehaviour.schedule(), { z0: actions, condition: observations }, agent.config.batch, Rng.at(Rng.split(key, "batch"), step)))

/** One IGL step on actions [N, A], observations [N, S] and ratios [N, 1]; `repeat` from `repeatIndex(agent)`. */
export const guidanceStep = (
  B: TensorBackend, agent: DiceAgent, actions: Tensor, observations: Tensor, ratiosOnDevice: Tensor, repeat: Tensor, key: RngKey, step: number
): Tensor =>
  Model.trainStep(B, agent.guidance, {
    lr: cosineDecay(agent.config.lr, agent.config.lrDecaySteps, step), adamw: Optimizer.adamwDefaults, emaRate: agent.config.emaRate,
    rng: Rng.at(Rng.split(key, "unused"), step)
  }, (p) => {
    const k = Rng.at(Rng.split(key, "batch"), step)
    const index = B.randint(repeat.rows / agent.config.copies, 1, Rng.split(k, "index"), actions.rows)
    return DiceGuidance.iglLossOn(p, agent.guidanceNetwork, DiceBehaviour.schedule(), B.gatherRows(actions, index), B.gatherRows(ratiosOnDevice, index), B.gatherRows(observations, index), repeat, k)
  })

/** The repeat index of the IGL batch: max(1, batch/copies) actions × copies rows. */
export const repeatIndex = (B: TensorBackend, agent: DiceAgent): Tensor =>
  DiceGuidance.repeatIndex(B, Math.max(1, Math.floor(agent.config.batch / agent.config.copies)), agent.config.copies)

export interface ActOptions {
  readonly method: DiceSelect.DiceMethod
  /** Candidates K of d-dice and select-only. */
  readonly candidates: number
  /** Guidance scale s_guid (reference: 4 medium / medium-replay, 2 medium-expert, 1–4 antmaze). */
  readonly guidanceScale: number
  /** "argmax" of the ensemble mean (locomotion) or "softmax" over the first target-Q head (maze). */
  readonly selection: DiceSelect.Selection
  readonly critic: Critic.Critic
}

/**
 * Actions [E, A] (host) for observations [E, S] (host). Reads back once; a failed read fails with the device's
 * error, and every tensor made here goes back to the pool either way.
 */
export const act = <E>(device: Device<E>, agent: DiceAgent, o: ActOptions, observations: Float64Array, key: RngKey): Effect.Effect<Float64Array, E> =>
  Effect.suspend(() => {
    const B = device.ops
    const S = agent.network.conditionDim
    const A = agent.network.dataDim
    const rows = observations.length / S
    const { candidates, guided } = DiceSelect.plan(o.method, o.candidates)
    const owned: Array<Tensor> = []
    const own = <T extends Tensor>(t: T): T => {
      owned.push(t)
      return t
    }
    return Effect.gen(function*() {
      const obs = own(B.upload(Float32Array.from(observations), rows, S))
      const condition = candidates === 1 ? obs : own(DiceSelect.repeatRows(B, obs, candidates))
      const params = agent.behaviour.ema ?? agent.behaviour.params
      const actions = own(B.scope(() => DiceBehaviour.sample({
        backend: B, network: agent.network, layout: agent.behaviour.layout, params, condition, rows: condition.rows,
        ...(guided
          ? { guidance: { gradient: DiceGuidance.gradient(B, agent.guidanceNetwork, agent.guidance.layout, agent.guidance.ema ?? agent.guidance.params, condition), scale: o.guidanceScale } }
          : {}),
        key
      })))
      const scores = candidates === 1 ? undefined : own(DiceSelect.criticScores(B, o.critic, o.selection, condition, actions))
      const values = yield* device.read(scores === undefined ? actions : own(B.concatCols([actions, scores])))
      const width = scores === undefined ? A : A + 1
      const picked = scores === undefined
        ? Array.from({ length: rows }, (_, r) => r)
        : DiceSelect.pick(Float64Array.from({ length: rows * candidates }, (_, i) => values[i * width + A]), rows, candidates, o.selection, Rng.split(key, "pick"))
      const out = new Float64Array(rows * A)
      picked.forEach((row, r) => {
        for (let d = 0; d < A; d++) out[r * A + d] = values[row * width + d]
      })
      return out
    }).pipe(Effect.ensuring(Effect.sync(() => owned.forEach((t) => B.dispose(t)))))
  })
