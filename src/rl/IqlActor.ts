/**
 * IQL's policy (Kostrikov et al. 2022, policy extraction by AWR): a Gaussian with tanh on the mean and a
 * state-independent log-std clipped to [−5, 2], trained by advantage-weighted regression:
 *   L = −mean_batch min(exp(β·(Q_target(s, a) − V(s))), 100) · log π(a | s),
 * with a cosine-decayed learning rate; evaluation takes the mean action.
 */
import { Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import { cosineDecay } from "../domain/LearningRate.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Mlp from "../nn/Mlp.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import type * as Parameters from "../nn/Parameters.ts"
import type { Var } from "../nn/Tape.ts"
import * as Critic from "./Critic.ts"
import type { Device } from "./Device.ts"
import * as MixedBatches from "./MixedBatches.ts"

export class IqlActorConfig extends Schema.Class<IqlActorConfig>("IqlActorConfig")({
  hidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** Inverse temperature β of the advantage weights (3 for locomotion, 10 antmaze). */
  beta: Config.PositiveFinite.pipe(Config.withDefault(3)),
  lr: Config.PositiveFinite.pipe(Config.withDefault(3e-4)),
  batch: Config.PositiveInt.pipe(Config.withDefault(256)),
  steps: Config.PositiveInt.pipe(Config.withDefault(1_000_000))
}) {}

/** exp(β·A) is capped here (IQL's EXP_ADV_MAX). */
export const EXP_ADVANTAGE_MAX = 100
export const LOG_STD_MIN = -5
export const LOG_STD_MAX = 2

export interface IqlActor {
  readonly config: IqlActorConfig
  readonly observationDim: number
  readonly actionDim: number
  readonly model: Model.Model
}

const mlp = (c: IqlActorConfig, observationDim: number, actionDim: number): Mlp.MlpConfig => ({
  inputs: observationDim,
  widths: [c.hidden, c.hidden, actionDim],
  activation: "relu"
})

export const create = (B: TensorBackend, c: IqlActorConfig, observationDim: number, actionDim: number, key: RngKey): IqlActor => ({
  config: c,
  observationDim,
  actionDim,
  model: Model.create(B, [
    ...Mlp.specs("pi", mlp(c, observationDim, actionDim)),
    { name: "pi.logStd", rows: 1, cols: actionDim, init: { kind: "zeros" } }
  ], key)
})

/** tanh(MLP(s)) [B, A]. */
export const mean = (p: Parameters.Bound, actor: IqlActor, observations: Var): Var =>
  p.tape.unary("tanh", Mlp.apply(p, "pi", mlp(actor.config, actor.observationDim, actor.actionDim), observations))

/** log π(a | s) [B, 1] of the Gaussian N(tanh-mean, exp(clip(logStd))²). */
export const logProb = (p: Parameters.Bound, actor: IqlActor, observations: Var, actions: Var): Var => {
  const t = p.tape
  const logStd = t.clamp(p.get("pi.logStd"), LOG_STD_MIN, LOG_STD_MAX)
  const z = t.div(t.sub(actions, mean(p, actor, observations)), t.unary("exp", logStd))
  const quadratic = t.affine(t.reduce("sum", "cols", t.unary("square", z)), -0.5)
  const normaliser = t.affine(t.reduce("sum", "cols", logStd), -1, -0.5 * actor.actionDim * Math.log(2 * Math.PI))
  return t.add(quadratic, normaliser)
}

/** One AWR step on a minibatch of `data` (and of `synthetic`, by its share: MixedBatches); returns the loss [1, 1]. */
export const updateStep = (
  B: TensorBackend,
  actor: IqlActor,
  critic: Critic.Critic,
  data: Critic.DeviceTransitions,
  key: RngKey,
  step: number,
  synthetic?: MixedBatches.Synthetic
): Tensor => {
  const c = actor.config
  const { observations: s, actions: a } = MixedBatches.sample(B, data, c.batch, key, step, synthetic, ["observations", "actions"])
  const [advantage] = Critic.advantages(B, critic, s, a, c.batch)
  const weight = B.clamp(B.unary("exp", B.affine(advantage, c.beta, 0)), 0, EXP_ADVANTAGE_MAX)
  const loss = Model.trainStep(B, actor.model, {
    lr: cosineDecay(c.lr, c.steps, step),
    adamw: { ...Optimizer.adamwDefaults, weightDecay: 0 },
    emaRate: 0,
    rng: Rng.named(0, "iql-actor")
  }, (p) => {
    const t = p.tape
    const lp = logProb(p, actor, t.leaf(s), t.leaf(a))
    return t.affine(t.reduce("mean", "all", t.mul(t.leaf(weight), lp)), -1)
  })
  for (const x of [s, a, advantage, weight]) B.dispose(x)
  return loss
}

/** Mean actions [E, A] (host) for observations [E, S] (host); a failed read fails with the device's error. */
export const act = <E>(device: Device<E>, actor: IqlActor, observations: Float64Array): Effect.Effect<Float64Array, E> =>
  Effect.suspend(() => {
    const B = device.ops
    const rows = observations.length / actor.observationDim
    const out = B.scope(() => {
      const p = Model.bind(B, actor.model, actor.model.params)
      return mean(p, actor, p.tape.leaf(B.upload(Float32Array.from(observations), rows, actor.observationDim))).value
    })
    return device.read(out).pipe(
      Effect.map((values) => Float64Array.from(values)),
      Effect.ensuring(Effect.sync(() => B.dispose(out)))
    )
  })
