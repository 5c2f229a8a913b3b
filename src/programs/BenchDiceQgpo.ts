/**
 * The offline table's slowest training stages at the cpu preset's sizes (presets/offline-cpu.json, its `dice`
 * and `qgpo` sections) as bench workloads: one step of the DICE critic (twin Q, V with hidden LayerNorms and
 * the 10-member Q ensemble), of D-DICE's behaviour model (continuous VP-SDE, a distinct t per row, batch 512),
 * of QGPO's Q (the in-support softmax backup over K support actions of each next state) and of QGPO's energy
 * network (CEP over energyBatch states × K support actions), each on random data of a halfcheetah-sized task
 * (support actions drawn uniformly instead of from a behaviour model). Plain tensor programs, no Effect:
 * `npm run bench -- --profile` prints where their time goes, scripts/wasm-side-by-side.ts times engines
 * side by side with them.
 */
import { readFileSync } from "node:fs"
import { Schema } from "effect"
import * as Rng from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Qgpo from "../diffusion/Qgpo.ts"
import * as Training from "../diffusion/Training.ts"
import * as Critic from "../rl/Critic.ts"
import * as DiceAgent from "../rl/DiceAgent.ts"
import * as QgpoAgent from "../rl/QgpoAgent.ts"
import * as SwgAgent from "../rl/SwgAgent.ts"
import { ACTION_DIM, OBSERVATION_DIM } from "./BenchCpuPreset.ts"

const Preset = Schema.Struct({
  swg: Schema.Unknown,
  qgpo: Schema.Unknown,
  dice: Schema.Struct({ critic: Schema.Unknown, agent: Schema.Unknown })
})

export interface DiceQgpoSizes {
  readonly swg: SwgAgent.SwgAgentConfig
  readonly qgpo: QgpoAgent.QgpoAgentConfig
  readonly diceCritic: Critic.CriticConfig
  readonly diceAgent: DiceAgent.DiceAgentConfig
}

/** The sizes of presets/offline-cpu.json (read at call time, so the bench follows the preset). */
export const sizes = (path = new URL("../../presets/offline-cpu.json", import.meta.url).pathname): DiceQgpoSizes => {
  const p = Schema.decodeUnknownSync(Preset)(JSON.parse(readFileSync(path, "utf8")))
  return {
    swg: Schema.decodeUnknownSync(SwgAgent.SwgAgentConfig)(p.swg),
    qgpo: Schema.decodeUnknownSync(QgpoAgent.QgpoAgentConfig)(p.qgpo),
    diceCritic: Schema.decodeUnknownSync(Critic.CriticConfig)(p.dice.critic),
    diceAgent: Schema.decodeUnknownSync(DiceAgent.DiceAgentConfig)(p.dice.agent)
  }
}

/** Rows of the random dataset the DICE steps draw minibatches from. */
const ROWS = 4096

export interface DiceQgpoWorkloads {
  readonly sizes: DiceQgpoSizes
  /** One step each; the returned tensor ends it (read it to wait, then dispose it). */
  readonly diceCriticStep: (X?: TensorBackend) => Tensor
  readonly diceBehaviourStep: (X?: TensorBackend) => Tensor
  readonly qgpoQStep: (X?: TensorBackend) => Tensor
  readonly qgpoEnergyStep: (X?: TensorBackend) => Tensor
  readonly dispose: () => void
}

/** Random transitions of `rows` rows on the device, halfcheetah-wide, from `seed`. */
const transitions = (B: TensorBackend, rows: number, seed: number): Critic.DeviceTransitions => ({
  observations: B.normal(rows, OBSERVATION_DIM, Rng.named(seed, "observations")),
  actions: B.affine(B.uniform(rows, ACTION_DIM, Rng.named(seed, "actions")), 2, -1),
  rewards: B.normal(rows, 1, Rng.named(seed, "rewards")),
  masks: B.fill(rows, 1, 1),
  nextObservations: B.normal(rows, OBSERVATION_DIM, Rng.named(seed, "next"))
})

export const make = (B: TensorBackend, s: DiceQgpoSizes = sizes()): DiceQgpoWorkloads => {
  const S = OBSERVATION_DIM
  const A = ACTION_DIM
  const data = transitions(B, ROWS, 1)
  const diceCritic = Critic.create(B, s.diceCritic, S, A, Rng.named(2, "dice-critic"))
  const dice = DiceAgent.create(B, s.diceAgent, S, A, Rng.named(3, "dice"))
  // QGPO: the subset of `supportStates` rows and K uniform support actions for each state and next state.
  const c = s.qgpo
  const subset = transitions(B, c.supportStates ?? ROWS, 4)
  const support = (name: string) => B.affine(B.uniform(subset.observations.rows * c.support, A, Rng.named(5, name)), 2, -1)
  const behaviour = SwgAgent.create(B, s.swg, S, A, [0.3, 0.7], Rng.named(6, "swg"))
  const qgpo = QgpoAgent.create(B, c, behaviour, S, Rng.named(7, "qgpo"))
  const qgpoData: QgpoAgent.QgpoData = {
    transitions: subset, support: support("support"), nextSupport: support("next-support"), ramp: QgpoAgent.ramp(B, c.support),
    energyGroups: Qgpo.grouping(c.energyBatch, c.support), qGroups: Qgpo.grouping(c.qBatch, c.support)
  }
  // The energy stage's labels Q̄ of every support action, as the stage computes them once (not timed).
  const energyData = QgpoAgent.energyData(B, qgpo, qgpoData)
  const tables = Training.noiseTables(B, behaviour.schedule)
  let step = 0
  return {
    sizes: s,
    diceCriticStep: (X = B) => Critic.updateStep(X, diceCritic, data, Rng.named(10, "dice-critic-step"), step++),
    diceBehaviourStep: (X = B) => DiceAgent.behaviourStep(X, dice, data.actions, data.observations, Rng.named(11, "dice-behaviour"), step++),
    qgpoQStep: (X = B) => QgpoAgent.qStep(X, qgpo, qgpoData, Rng.named(12, "qgpo-q"), step++),
    qgpoEnergyStep: (X = B) => QgpoAgent.energyStep(X, qgpo, energyData, tables, Rng.named(13, "qgpo-energy"), step++),
    dispose: () => {
      for (const t of [...Object.values(data), ...Object.values(subset), qgpoData.support, qgpoData.nextSupport, qgpoData.ramp, energyData.supportQ]) B.dispose(t)
    }
  }
}
