/**
 * Offline QGPO (Lu et al., ICML 2023, §4–5): energy-guided sampling of π(a|s) ∝ μ(a|s)·exp(β·Q(s, a)).
 *   1. Support actions: K actions per dataset state and per next state, pre-sampled from the behaviour model μ.
 *      Here μ is the SWG model sampled unguided (ρ = 0, DDPM at temperature 1 over its own T steps; the paper
 *      uses a separate behaviour model and DPM-Solver++ with 15 steps), so QGPO and SWG share one behaviour model.
 *   2. Q by the in-support softmax backup (the paper's eq. 13): y = r + γ·mask·V(s'), with
 *        V(s') = Σ_j softmax_j(β_q·Q̄(s', a'_j))·Q̄(s', a'_j)   over the K support actions a'_j of s',
 *      Q̄ = min of the target twin Q (Polyak), mean over heads and batch of (Q_i − y)².
 *   3. The intermediate energy f_φ(a_t, s, t) by contrastive energy prediction (eq. 11): each state of the batch
 *      is a group of its K support actions sharing one t, with labels β·Q̄(s, a_j). As the reference: 4 hidden layers
 *      of 256 (silu), plain Adam at 3e-4, no EMA (weight decay and an EMA copy are config options).
 *   4. Acting: the behaviour ε plus s·σ_t·∇_{a_t} f_φ (eq. 6), actions clipped to [−1, 1] every step.
 */
import { Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import * as SamplerSteps from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Qgpo from "../diffusion/Qgpo.ts"
import * as Sampler from "../diffusion/Sampler.ts"
import * as SwgPolicy from "../diffusion/SwgPolicy.ts"
import * as Training from "../diffusion/Training.ts"
import * as Mlp from "../nn/Mlp.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import * as Parameters from "../nn/Parameters.ts"
import type { Tape, Var } from "../nn/Tape.ts"
import type { Device } from "./Device.ts"
import type { DeviceTransitions } from "./Critic.ts"
import * as SwgAgent from "./SwgAgent.ts"

export class QgpoAgentConfig extends Schema.Class<QgpoAgentConfig>("QgpoAgentConfig")({
  /** Support actions per state (QGPO: 16 on MuJoCo, 32 on AntMaze). */
  support: Config.PositiveInt.check(Schema.isGreaterThan(1)).pipe(Config.withDefault(16)),
  /**
   * Training transitions QGPO learns from: a seeded random subset of this many distinct rows (`subsetRows`) gets
   * support actions for its states and next states, and the Q and energy batches are drawn from it alone. Absent, or
   * at least the training rows: every transition, as QGPO does. The subset departs from QGPO, to bring the support
   * sampling (2·K·T behaviour-network calls per row) within a CPU budget.
   */
  supportStates: Schema.optionalKey(Config.PositiveInt),
  /** Inverse temperature β of the target μ·exp(β·Q) (QGPO `--alpha`, default 3). */
  beta: Config.PositiveFinite.pipe(Config.withDefault(3)),
  /** β_q of the in-support softmax backup (QGPO `q_alpha`, default β); absent: β. */
  qBeta: Schema.optionalKey(Config.PositiveFinite),
  /** Twin Q: hidden width (three hidden layers, relu). */
  qHidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  qSteps: Config.PositiveInt.pipe(Config.withDefault(500_000)),
  qLr: Config.PositiveFinite.pipe(Config.withDefault(3e-4)),
  discount: Config.Probability.pipe(Config.withDefault(0.99)),
  /** Polyak rate of the target Q. */
  polyak: Config.Probability.pipe(Config.withDefault(0.005)),
  /** Transitions per Q step. */
  qBatch: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** The energy network f_φ: width and number of hidden layers before the scalar output (QGPO: 4 hidden × 256, silu). */
  energyHidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  energyHiddenLayers: Config.PositiveInt.pipe(Config.withDefault(4)),
  energySteps: Config.PositiveInt.pipe(Config.withDefault(1_000_000)),
  /** The energy network's optimiser: Adam at this rate (QGPO's `qt_optimizer`, lr 3e-4, no weight decay). */
  energyLr: Config.PositiveFinite.pipe(Config.withDefault(3e-4)),
  /** AdamW's decoupled weight decay on the energy network; QGPO: 0 (plain Adam). */
  energyWeightDecay: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).pipe(Config.withDefault(0)),
  /**
   * EMA rate of an averaged copy of the energy network that guidance then uses; left out: none, the guidance uses
   * the trained weights, as QGPO does.
   */
  energyEmaRate: Schema.optionalKey(Config.PositiveFinite.check(Schema.isLessThanOrEqualTo(1))),
  /** States per CEP step (each with its K support actions). */
  energyBatch: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** Guidance scale s (QGPO sweeps {0, 1, 2, 3, 5, 8, 10} on MuJoCo). */
  guidanceScale: Schema.Finite.pipe(Config.withDefault(3)),
  /** Sampling temperature of the acting loop (initial noise and per-step noise). */
  temperature: Schema.Finite.pipe(Config.withDefault(1))
}) {}

export interface QgpoAgent {
  readonly config: QgpoAgentConfig
  /** The behaviour model: the SWG model, sampled unguided. */
  readonly behaviour: SwgAgent.SwgAgent
  readonly observationDim: number
  readonly actionDim: number
  /** Twin Q; its EMA copy is the target. */
  readonly q: Model.Model
  readonly energyNetwork: Qgpo.EnergyNetworkConfig
  readonly energy: Model.Model
}

const qMlp = (c: QgpoAgentConfig, inputs: number): Mlp.MlpConfig => ({ inputs, widths: [c.qHidden, c.qHidden, c.qHidden, 1], activation: "relu" })

export const create = (B: TensorBackend, c: QgpoAgentConfig, behaviour: SwgAgent.SwgAgent, observationDim: number, key: RngKey): QgpoAgent => {
  const actionDim = behaviour.actionDim
  const energyNetwork = new Qgpo.EnergyNetworkConfig({
    dataDim: actionDim, conditionDim: observationDim, timeFeatures: 32, timeHidden: 64,
    hidden: c.energyHidden, hiddenLayers: c.energyHiddenLayers, activation: "silu"
  })
  const inputs = observationDim + actionDim
  return {
    config: c,
    behaviour,
    observationDim,
    actionDim,
    q: Model.create(B, [...Mlp.specs("q1", qMlp(c, inputs)), ...Mlp.specs("q2", qMlp(c, inputs))], Rng.split(key, "q"), { ema: true }),
    energyNetwork,
    energy: Model.create(B, Qgpo.specs(energyNetwork), Rng.split(key, "energy"), { ema: c.energyEmaRate !== undefined })
  }
}

/** min(Q₁, Q₂)(s, a) [B, 1] and the twin [B, 2]. */
const qValues = (p: Parameters.Bound, agent: QgpoAgent, s: Var, a: Var): { readonly twin: Var; readonly min: Var } => {
  const t = p.tape
  const input = t.concatCols([s, a])
  const q1 = Mlp.apply(p, "q1", qMlp(agent.config, input.cols), input)
  const q2 = Mlp.apply(p, "q2", qMlp(agent.config, input.cols), input)
  return { twin: t.concatCols([q1, q2]), min: t.binary("min", q1, q2) }
}

/** Row indices [rows·K, 1]: row r's index repeated K times (index given as [rows, 1]). */
const repeatIndex = (B: TensorBackend, index: Tensor, k: number): Tensor => B.view(B.broadcastTo(index, index.rows, k), 0, index.rows * k, 1)

/** The K support rows of each state index: index·K + j, j = 0 … K−1, as [rows·K, 1]. */
const supportIndex = (B: TensorBackend, index: Tensor, k: number, ramp: Tensor): Tensor =>
  B.view(B.binary("add", B.affine(B.broadcastTo(index, index.rows, k), k, 0), ramp), 0, index.rows * k, 1)

/** [1, K] holding 0 … K−1. */
export const ramp = (B: TensorBackend, k: number): Tensor => B.upload(Float32Array.from({ length: k }, (_, j) => j), 1, k)

/**
 * K behaviour actions for every row of `observations` [N, S] (device): [N·K, A], rows n·K … n·K + K − 1 for
 * state n. Sampled in chunks of `chunk` states, each chunk one sampling loop read back to the host, then
 * uploaded as one tensor.
 */
export const supportActions = <E>(device: Device<E>, agent: QgpoAgent, observations: Tensor, key: RngKey, chunk = 1024): Effect.Effect<Tensor, E> =>
  Effect.gen(function*() {
    const B = device.ops
    const k = agent.config.support
    const A = agent.actionDim
    const host = new Float32Array(observations.rows * k * A)
    for (let start = 0, i = 0; start < observations.rows; start += chunk, i++) {
      const rows = Math.min(chunk, observations.rows - start)
      const part = B.scope(() => {
        const index = B.upload(Float32Array.from({ length: rows * k }, (_, j) => start + Math.floor(j / k)), rows * k, 1)
        const condition = B.gatherRows(observations, index)
        const options = SwgAgent.samplingOptions(B, agent.behaviour, condition, 0, 1, Rng.at(key, i))
        return B.sliceCols(SwgPolicy.sample(options), 0, A)
      })
      const values = yield* device.read(part).pipe(Effect.ensuring(Effect.sync(() => B.dispose(part))))
      host.set(values, start * k * A)
    }
    return B.upload(host, observations.rows * k, A)
  })

/**
 * `count` distinct rows of 0 … size − 1 drawn by `key` (a partial Fisher–Yates shuffle: draw i picks uniformly among
 * the rows not drawn yet), in increasing order; every row when `count` ≥ `size`.
 */
export const subsetRows = (size: number, count: number, key: RngKey): Int32Array => {
  const rows = Int32Array.from({ length: size }, (_, i) => i)
  const m = Math.min(count, size)
  const word = new Uint32Array(4)
  for (let i = 0; i < m; i++) {
    Rng.philox(i, key.offset, key.seed, key.stream, word)
    const j = i + Rng.wordToInt(word[0], size - i)
    const swap = rows[i]
    rows[i] = rows[j]
    rows[j] = swap
  }
  return rows.slice(0, m).sort()
}

/** The transitions of `rows` (indices into `transitions`), gathered on the device. */
export const subsetTransitions = (B: TensorBackend, transitions: DeviceTransitions, rows: Int32Array): DeviceTransitions => {
  const index = B.upload(Float32Array.from(rows), rows.length, 1)
  const gather = (t: Tensor) => B.gatherRows(t, index)
  const subset = {
    observations: gather(transitions.observations), actions: gather(transitions.actions), rewards: gather(transitions.rewards),
    masks: gather(transitions.masks), nextObservations: gather(transitions.nextObservations)
  }
  B.dispose(index)
  return subset
}

/**
 * The rows QGPO trains on (`QgpoAgentConfig.supportStates`): a subset drawn by `key` from `size` training rows, or
 * undefined for every row.
 */
export const trainingRows = (c: QgpoAgentConfig, size: number, key: RngKey): Int32Array | undefined =>
  c.supportStates === undefined || c.supportStates >= size ? undefined : subsetRows(size, c.supportStates, key)

/** The device data QGPO trains on: the transitions and the support actions of every state and next state. */
export interface QgpoData {
  readonly transitions: DeviceTransitions
  /** [N·K, A]: K behaviour actions of each observation. */
  readonly support: Tensor
  /** [N·K, A]: K behaviour actions of each next observation. */
  readonly nextSupport: Tensor
  /** [1, K] holding 0 … K−1. */
  readonly ramp: Tensor
  /** Groups of K rows for `energyBatch` states and for `qBatch` next states. */
  readonly energyGroups: Qgpo.Grouping
  readonly qGroups: Qgpo.Grouping
}

export const prepare = <E>(device: Device<E>, agent: QgpoAgent, transitions: DeviceTransitions, key: RngKey): Effect.Effect<QgpoData, E> =>
  Effect.gen(function*() {
    const B = device.ops
    const c = agent.config
    const support = yield* supportActions(device, agent, transitions.observations, Rng.split(key, "support"))
    const nextSupport = yield* supportActions(device, agent, transitions.nextObservations, Rng.split(key, "next-support"))
    return {
      transitions, support, nextSupport,
      ramp: ramp(B, c.support),
      energyGroups: Qgpo.grouping(c.energyBatch, c.support),
      qGroups: Qgpo.grouping(c.qBatch, c.support)
    }
  })

/** Σ_{j∈g} softmax_g(β_q·q)_j·q_j per group: [G, 1] from q [G·K, 1] (no tape: a regression target). */
export const softmaxValue = (B: TensorBackend, q: Tensor, g: Qgpo.Grouping, qBeta: number): Tensor => {
  const p = Qgpo.groupSoftmax(B, B.affine(q, qBeta, 0), g)
  return Qgpo.groupSum(B, B.binary("mul", p, q), g)
}

/** One Q step with the in-support softmax backup, then Polyak; returns the loss [1, 1]. */
export const qStep = (B: TensorBackend, agent: QgpoAgent, data: QgpoData, key: RngKey, step: number): Tensor => {
  const c = agent.config
  const d = data.transitions
  return Model.trainStep(B, agent.q, {
    lr: c.qLr, adamw: { ...Optimizer.adamwDefaults, weightDecay: 0 }, emaRate: c.polyak, rng: Rng.named(0, "qgpo-q")
  }, (p) => {
    const t = p.tape
    const index = B.randint(c.qBatch, 1, Rng.at(key, step), d.observations.rows)
    const next = B.gatherRows(d.nextObservations, repeatIndex(B, index, c.support))
    const nextActions = B.gatherRows(data.nextSupport, supportIndex(B, index, c.support, data.ramp))
    const target = new Parameters.Bound(t, agent.q.layout, agent.q.ema ?? agent.q.params)
    const qNext = qValues(target, agent, t.leaf(next), t.leaf(nextActions)).min.value
    const v = softmaxValue(B, qNext, data.qGroups, c.qBeta ?? c.beta)
    const y = B.binary("add", B.gatherRows(d.rewards, index), B.affine(B.binary("mul", B.gatherRows(d.masks, index), v), c.discount, 0))
    const q = qValues(p, agent, t.leaf(B.gatherRows(d.observations, index)), t.leaf(B.gatherRows(d.actions, index))).twin
    // mean over heads and batch of (Q_i − y)²: the summed-over-heads mse halved
    return t.affine(t.mseLoss(q, B.concatCols([y, y])), 0.5)
  })
}

/** The columns `energyStep` returns, in order (the offline stage's learning curve). */
export const ENERGY_LOSS_NAMES = ["cep_loss", "target_entropy", "kl_gap"] as const

/** The energy stage's data: QgpoData and the CEP labels' Q̄ of every support action. */
export interface EnergyData extends QgpoData {
  /** [N·K, 1]: Q̄(s_n, a_nj) at row n·K + j, the support actions of `support`. */
  readonly supportQ: Tensor
}

/** States per chunk of `energyData`: chunk·K rows, so each chunk's view of Q̄ starts at a multiple of 64 for any K. */
const LABEL_CHUNK = 1024

/**
 * Q̄ of every support action (target twin, min), in chunks of states: the Q stage is over and the energy stage leaves Q
 * as it is, so its CEP labels are computed once here instead of on every step's batch (the same values).
 */
export const energyData = (B: TensorBackend, agent: QgpoAgent, data: QgpoData): EnergyData => {
  const chunk = LABEL_CHUNK
  const k = agent.config.support
  const n = data.transitions.observations.rows
  const supportQ = B.zeros(n * k, 1)
  for (let start = 0; start < n; start += chunk) {
    const rows = Math.min(chunk, n - start)
    B.scope(() => {
      const index = B.upload(Float32Array.from({ length: rows }, (_, i) => start + i), rows, 1)
      const states = B.gatherRows(data.transitions.observations, repeatIndex(B, index, k))
      const actions = B.gatherRows(data.support, supportIndex(B, index, k, data.ramp))
      B.copyInto(B.view(supportQ, start * k, rows * k, 1), targetQ(B, agent, states, actions))
    })
  }
  return { ...data, supportQ }
}

/**
 * One CEP step: `energyBatch` states, each a group of its K support actions with labels β·Q̄(s, a_j). Returns [1, 3]:
 * the CEP loss, its floor on the batch (the mean entropy of the targets softmax(β·Q̄), `Qgpo.targetEntropy`; log K when
 * Q̄ is flat over a state's support actions) and the gap between them, the mean KL from the targets to the model's
 * softmax over f (≥ 0; a gap that does not fall means the energy does not learn, whatever the loss's level).
 */
export const energyStep = (B: TensorBackend, agent: QgpoAgent, data: EnergyData, tables: Training.NoiseTables, key: RngKey, step: number): Tensor =>
  B.scope(() => {
    const c = agent.config
    const index = B.randint(c.energyBatch, 1, Rng.at(Rng.split(key, "index"), step), data.transitions.observations.rows)
    const states = B.gatherRows(data.transitions.observations, repeatIndex(B, index, c.support))
    const support = supportIndex(B, index, c.support, data.ramp)
    const actions = B.gatherRows(data.support, support)
    const q = B.gatherRows(data.supportQ, support)
    const labels = B.affine(q, c.beta, 0)
    const loss = Model.trainStep(B, agent.energy, {
      // QGPO: Adam (decay 0), no EMA
      lr: c.energyLr, adamw: { ...Optimizer.adamwDefaults, weightDecay: c.energyWeightDecay }, emaRate: c.energyEmaRate ?? 0,
      rng: Rng.named(0, "qgpo-energy")
    }, (p) => Qgpo.cepLossOn(p, agent.energyNetwork, tables, actions, labels, states, data.energyGroups, Rng.at(Rng.split(key, "cep"), step)))
    const floor = Qgpo.targetEntropy(B, q, c.beta, data.energyGroups)
    return B.concatCols([loss, floor, B.binary("sub", loss, floor)])
  })

/** Q̄(s, a) [B, 1] (target twin, min) for host-side checks. */
export const targetQ = (B: TensorBackend, agent: QgpoAgent, observations: Tensor, actions: Tensor): Tensor => {
  const bound = Model.bind(B, agent.q)
  return qValues(bound, agent, bound.tape.leaf(observations), bound.tape.leaf(actions)).min.value
}

/** The energy f_φ(a_t, s, t) of z_t = [a_t, w_t] (actions only) for `condition` at a grid point (its EMA copy if it has one). */
const energyAt = (B: TensorBackend, agent: QgpoAgent, condition: Tensor, time: number): Qgpo.EnergyFunction => (tape: Tape, z: Var) =>
  Qgpo.apply(
    new Parameters.Bound(tape, agent.energy.layout, agent.energy.ema ?? agent.energy.params),
    agent.energyNetwork, tape.sliceCols(z, 0, agent.actionDim), tape.leaf(condition), tape.leaf(B.fill(z.rows, 1, time))
  )

/**
 * Guided samples z₀ [rows, A+1] for `condition` [rows, S] (device): behaviour ε − s·σ·∇_a f_φ, DDPM, clip [−1, 1], at
 * `temperature` (default the config's).
 */
export const sample = (B: TensorBackend, agent: QgpoAgent, condition: Tensor, scale: number, key: RngKey, temperature = agent.config.temperature): Tensor => {
  const options = SwgAgent.samplingOptions(B, agent.behaviour, condition, 0, temperature, key)
  const eps = SwgPolicy.denoiser(options)
  const guidance = new Qgpo.QgpoGuidance({ scale })
  const denoiser: Sampler.Denoiser = (x, point) => Qgpo.guidedEps(B, eps(x, point), energyAt(B, agent, condition, point.time), x, point, guidance)
  const xT = B.affine(B.normal(condition.rows, options.network.dataDim, Rng.split(key, "initial")), options.initialScale, 0)
  const out = Sampler.sample({ backend: B, denoiser, grid: SamplerSteps.discreteGrid(agent.behaviour.schedule), sampler: options.sampler, key: Rng.split(key, "steps"), ...(options.clip ? { clip: options.clip } : {}) }, xT)
  B.dispose(xT)
  return out
}

/** Actions [E, A] (host) for observations [E, S] (host): one guided sample per state, by default at the configured scale and temperature. */
export const act = <E>(
  device: Device<E>, agent: QgpoAgent, observations: Float64Array, key: RngKey, scale = agent.config.guidanceScale, temperature = agent.config.temperature
): Effect.Effect<Float64Array, E> =>
  Effect.suspend(() => {
    const B = device.ops
    const S = agent.observationDim
    const rows = observations.length / S
    const A = agent.actionDim
    const obs = B.upload(Float32Array.from(observations), rows, S)
    const z = B.scope(() => sample(B, agent, obs, scale, key, temperature))
    return Effect.map(device.read(z), (values) => {
      const actions = new Float64Array(rows * A)
      for (let r = 0; r < rows; r++) for (let d = 0; d < A; d++) actions[r * A + d] = values[r * (A + 1) + d]
      return actions
    }).pipe(Effect.ensuring(Effect.sync(() => [obs, z].forEach((t) => B.dispose(t)))))
  })
