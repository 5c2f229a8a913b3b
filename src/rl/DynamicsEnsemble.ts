/**
 * A one-step dynamics ensemble rolled out autoregressively: the model-based comparison of Policy-Guided Diffusion's
 * dynamics-error figure (Jackson et al., RLC 2024, against a PETS-style world model; issue #10 item 6).
 *
 * E MLPs each predict the state change Δs = s′ − s from [s, a], inputs and outputs standardised by the training
 * transitions' mean and std (a zero std becomes 1), each member trained by MSE on its own minibatches (bootstrap by
 * independent draws). A rollout starts from given states and, at every step, takes the policy's action and the
 * prediction of one member drawn uniformly per trajectory and step (PETS's "TS-1" propagation).
 *
 * Simplifications we chose (the paper's world model is not specified here): deterministic members (mean only, no
 * variance head), and no reward or termination model (the dynamics error needs only states).
 */
import { Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Mlp from "../nn/Mlp.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import type { DeviceTransitions } from "./Critic.ts"
import type { Device } from "./Device.ts"

export class DynamicsEnsembleConfig extends Schema.Class<DynamicsEnsembleConfig>("DynamicsEnsembleConfig")({
  /** E, the members (PETS uses 5). */
  members: Config.PositiveInt.pipe(Config.withDefault(5)),
  /** Width of each member's two hidden layers. */
  hidden: Config.PositiveInt.pipe(Config.withDefault(200)),
  steps: Config.PositiveInt.pipe(Config.withDefault(5000)),
  /** Transitions per member per step. */
  batch: Config.PositiveInt.pipe(Config.withDefault(256)),
  lr: Config.PositiveFinite.pipe(Config.withDefault(1e-3))
}) {}

export const dynamicsEnsembleConfig = (fields: Partial<typeof DynamicsEnsembleConfig.Encoded> = {}): DynamicsEnsembleConfig =>
  Schema.decodeUnknownSync(DynamicsEnsembleConfig)(fields)

/** Mean and std of the inputs [s, a] and of the targets Δs. */
export interface Standardisation {
  readonly inputMean: Float32Array
  readonly inputStd: Float32Array
  readonly outputMean: Float32Array
  readonly outputStd: Float32Array
}

export interface DynamicsEnsemble {
  readonly config: DynamicsEnsembleConfig
  readonly observationDim: number
  readonly actionDim: number
  readonly model: Model.Model
  readonly standardisation: Standardisation
}

const memberMlp = (c: DynamicsEnsembleConfig, observationDim: number, actionDim: number): Mlp.MlpConfig => ({
  inputs: observationDim + actionDim, widths: [c.hidden, c.hidden, observationDim], activation: "silu"
})

const moments = (values: ArrayLike<number>, width: number) => {
  const rows = values.length / width
  const mean = new Float64Array(width)
  for (let i = 0; i < values.length; i++) mean[i % width] += values[i] / Math.max(1, rows)
  const sq = new Float64Array(width)
  for (let i = 0; i < values.length; i++) sq[i % width] += (values[i] - mean[i % width]) ** 2 / Math.max(1, rows)
  return { mean: Float32Array.from(mean), std: Float32Array.from(sq, (v) => (v > 0 ? Math.sqrt(v) : 1)) }
}

/** The standardisation of host transitions: [s, a] row-major [N·(S + A)] and Δs [N·S]. */
export const standardisationOf = (
  observations: ArrayLike<number>,
  actions: ArrayLike<number>,
  nextObservations: ArrayLike<number>,
  observationDim: number,
  actionDim: number
): Standardisation => {
  const n = observations.length / observationDim
  const inputs = new Float64Array(n * (observationDim + actionDim))
  const deltas = new Float64Array(n * observationDim)
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < observationDim; k++) {
      inputs[r * (observationDim + actionDim) + k] = observations[r * observationDim + k]
      deltas[r * observationDim + k] = nextObservations[r * observationDim + k] - observations[r * observationDim + k]
    }
    for (let k = 0; k < actionDim; k++) inputs[r * (observationDim + actionDim) + observationDim + k] = actions[r * actionDim + k]
  }
  const input = moments(inputs, observationDim + actionDim)
  const output = moments(deltas, observationDim)
  return { inputMean: input.mean, inputStd: input.std, outputMean: output.mean, outputStd: output.std }
}

export const create = (
  B: TensorBackend,
  c: DynamicsEnsembleConfig,
  observationDim: number,
  actionDim: number,
  standardisation: Standardisation,
  key: RngKey
): DynamicsEnsemble => ({
  config: c,
  observationDim,
  actionDim,
  model: Model.create(B, Array.from({ length: c.members }, (_, m) => Mlp.specs(`m${m}`, memberMlp(c, observationDim, actionDim))).flat(), key),
  standardisation
})

const rowOf = (B: TensorBackend, values: Float32Array) => B.upload(values, 1, values.length)

/** Standardised inputs [n, S + A] of states [n, S] and actions [n, A]. */
const inputsOf = (B: TensorBackend, e: DynamicsEnsemble, s: Tensor, a: Tensor): Tensor =>
  B.binary("div", B.binary("sub", B.concatCols([s, a]), rowOf(B, e.standardisation.inputMean)), rowOf(B, e.standardisation.inputStd))

/**
 * One step: every member m takes its own minibatch (stream Rng.split(key, `m`) at `step`) and the loss is the sum over
 * members of the mean over rows of Σ_dims (prediction − standardised Δs)². Returns the loss [1, 1].
 */
export const trainStep = (B: TensorBackend, e: DynamicsEnsemble, data: DeviceTransitions, key: RngKey, step: number): Tensor =>
  B.scope(() => {
    const c = e.config
    const mlp = memberMlp(c, e.observationDim, e.actionDim)
    const batches = Array.from({ length: c.members }, (_, m) => {
      const rows = B.randint(c.batch, 1, Rng.at(Rng.split(key, `${m}`), step), data.observations.rows)
      const s = B.gatherRows(data.observations, rows)
      const target = B.binary("div", B.binary("sub", B.binary("sub", B.gatherRows(data.nextObservations, rows), s), rowOf(B, e.standardisation.outputMean)),
        rowOf(B, e.standardisation.outputStd))
      return { input: inputsOf(B, e, s, B.gatherRows(data.actions, rows)), target }
    })
    return Model.trainStep(B, e.model, { lr: c.lr, adamw: { ...Optimizer.adamwDefaults, weightDecay: 0 }, emaRate: 0, rng: Rng.named(0, "ensemble") }, (p) => {
      const t = p.tape
      const losses = batches.map((b, m) => t.mseLoss(Mlp.apply(p, `m${m}`, mlp, t.leaf(b.input)), b.target))
      return losses.reduce((sum, l) => t.add(sum, l))
    })
  })

/** s + Δs of member `m` for states [n, S] and actions [n, A] (device). */
export const predict = (B: TensorBackend, e: DynamicsEnsemble, member: number, s: Tensor, a: Tensor): Tensor =>
  B.scope(() => {
    const p = Model.bind(B, e.model, e.model.params)
    const out = Mlp.apply(p, `m${member}`, memberMlp(e.config, e.observationDim, e.actionDim), p.tape.leaf(inputsOf(B, e, s, a))).value
    const delta = B.binary("add", B.binary("mul", out, rowOf(B, e.standardisation.outputStd)), rowOf(B, e.standardisation.outputMean))
    return B.binary("add", s, delta)
  })

/** Trajectories of `length` rows: observations [count·length·S] and actions [count·length·A] (DynamicsError's layout). */
export interface Rollouts {
  readonly count: number
  readonly length: number
  readonly observations: Float64Array
  readonly actions: Float64Array
}

/**
 * Rollouts of `length` rows from `starts` [count·S] (host): a_t = policy(s_t), s_{t+1} = the prediction of member
 * m ~ U{0..E−1} drawn per trajectory and step (stream `key` at t). The last row's action is the policy's too.
 */
export const rollout = <E, R>(
  device: Device<E>,
  e: DynamicsEnsemble,
  starts: Float64Array,
  length: number,
  policy: (observations: Float64Array) => Effect.Effect<Float64Array, E, R>,
  key: RngKey
): Effect.Effect<Rollouts, E, R> =>
  Effect.gen(function*() {
    const B = device.ops
    const [S, A] = [e.observationDim, e.actionDim]
    const count = starts.length / S
    const observations = new Float64Array(count * length * S)
    const actions = new Float64Array(count * length * A)
    let s = starts
    const members = new Float64Array(count)
    for (let t = 0; t < length; t++) {
      const a = yield* policy(s)
      for (let j = 0; j < count; j++) {
        observations.set(s.subarray(j * S, (j + 1) * S), (j * length + t) * S)
        actions.set(a.subarray(j * A, (j + 1) * A), (j * length + t) * A)
      }
      if (t === length - 1) break
      Rng.fillInt(Rng.at(key, t), e.config.members, members)
      const next = new Float64Array(count * S)
      for (let m = 0; m < e.config.members; m++) {
        const rows = Array.from(members.keys()).filter((j) => members[j] === m)
        if (rows.length === 0) continue
        const pick = (x: Float64Array, w: number) => Float32Array.from(rows.flatMap((j) => Array.from(x.subarray(j * w, (j + 1) * w))))
        const out = B.scope(() => predict(B, e, m, B.upload(pick(s, S), rows.length, S), B.upload(pick(a, A), rows.length, A)))
        const values = yield* device.read(out)
        B.dispose(out)
        rows.forEach((j, i) => next.set(values.subarray(i * S, (i + 1) * S), j * S))
      }
      s = next
    }
    return { count, length, observations, actions }
  })
