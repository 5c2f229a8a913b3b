/**
 * The offline table's cpu preset (presets/offline-cpu.json) as bench workloads: one SWG training
 * step (LN-ResNet 3×64, time MLP 256, weight head 256, batch 256), one IQL critic step (twin Q and
 * V, hidden 128), one IQL actor step (AWR, hidden 128), and the guided sampling calls evaluation
 * makes (10 episodes in lockstep: SWG at batch 10, SWG-R with 16 candidates at batch 160), each
 * on random data of a halfcheetah-sized task. Plain tensor programs, no Effect: `npm run bench`
 * times them, and a script can time two engines side by side with them.
 */
import { readFileSync } from "node:fs"
import { Schema } from "effect"
import * as Rng from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as SwgPolicy from "../diffusion/SwgPolicy.ts"
import * as Training from "../diffusion/Training.ts"
import * as Critic from "../rl/Critic.ts"
import * as IqlActor from "../rl/IqlActor.ts"
import * as SwgAgent from "../rl/SwgAgent.ts"

const Preset = Schema.Struct({
  swg: Schema.Unknown,
  critic: Schema.Unknown,
  iql: Schema.Unknown,
  evaluation: Schema.Struct({ episodes: Schema.Number, candidates: Schema.Number, guidanceScale: Schema.Number, temperature: Schema.Number })
})

export interface CpuPresetSizes {
  readonly swg: SwgAgent.SwgAgentConfig
  readonly critic: Critic.CriticConfig
  readonly iql: IqlActor.IqlActorConfig
  readonly episodes: number
  readonly candidates: number
  readonly guidanceScale: number
  readonly temperature: number
}

/** The sizes of presets/offline-cpu.json (read at call time, so the bench follows the preset). */
export const sizes = (path = new URL("../../presets/offline-cpu.json", import.meta.url).pathname): CpuPresetSizes => {
  const p = Schema.decodeUnknownSync(Preset)(JSON.parse(readFileSync(path, "utf8")))
  return {
    swg: Schema.decodeUnknownSync(SwgAgent.SwgAgentConfig)(p.swg),
    critic: Schema.decodeUnknownSync(Critic.CriticConfig)(p.critic),
    iql: Schema.decodeUnknownSync(IqlActor.IqlActorConfig)(p.iql),
    ...p.evaluation
  }
}

/** halfcheetah-medium-v2's widths. */
export const OBSERVATION_DIM = 17
export const ACTION_DIM = 6
/** Rows of the random dataset the steps draw minibatches from. */
const ROWS = 4096

export interface CpuPresetWorkloads {
  readonly sizes: CpuPresetSizes
  /** Parameters of the SWG model, the critic (Q and V) and the actor. */
  readonly parameters: { readonly swg: number; readonly critic: number; readonly actor: number }
  /** One step each; the returned tensor ends it (read it to wait, then dispose it). */
  readonly swgStep: (X?: TensorBackend) => Tensor
  readonly criticStep: (X?: TensorBackend) => Tensor
  readonly actorStep: (X?: TensorBackend) => Tensor
  /** One guided-sampling call (15 DDPM steps) of `rows` rows, as SWG-R evaluates (ρ and temperature of the preset). */
  readonly sample: (rows: number, X?: TensorBackend) => Tensor
  readonly dispose: () => void
}

export const make = (B: TensorBackend, s: CpuPresetSizes = sizes()): CpuPresetWorkloads => {
  const S = OBSERVATION_DIM
  const A = ACTION_DIM
  const data: Critic.DeviceTransitions = {
    observations: B.normal(ROWS, S, Rng.named(1, "observations")),
    actions: B.affine(B.uniform(ROWS, A, Rng.named(2, "actions")), 2, -1),
    rewards: B.normal(ROWS, 1, Rng.named(3, "rewards")),
    masks: B.fill(ROWS, 1, 1),
    nextObservations: B.normal(ROWS, S, Rng.named(4, "next"))
  }
  const weights = B.uniform(ROWS, 1, Rng.named(5, "weights"))
  const diffusion: Training.DiffusionData = { z0: B.concatCols([data.actions, weights]), condition: data.observations }
  const agent = SwgAgent.create(B, s.swg, S, A, [0.3, 0.7], Rng.named(6, "swg"))
  const tables = Training.noiseTables(B, agent.schedule)
  const critic = Critic.create(B, s.critic, S, A, Rng.named(7, "critic"))
  const actor = IqlActor.create(B, s.iql, S, A, Rng.named(8, "actor"))
  const conditions = new Map<number, Tensor>()
  let step = 0
  return {
    sizes: s,
    parameters: { swg: agent.model.layout.count, critic: critic.q.layout.count + critic.v.layout.count, actor: actor.model.layout.count },
    swgStep: (X = B) => SwgAgent.trainStep(X, agent, diffusion, tables, Rng.named(9, "swg-step"), step++),
    criticStep: (X = B) => Critic.updateStep(X, critic, data, Rng.named(10, "critic-step"), step++),
    actorStep: (X = B) => IqlActor.updateStep(X, actor, critic, data, Rng.named(11, "actor-step"), step++),
    sample: (rows, X = B) => {
      let condition = conditions.get(rows)
      if (condition === undefined) {
        condition = B.normal(rows, S, Rng.named(12, "condition"))
        conditions.set(rows, condition)
      }
      const c = condition
      return X.scope(() =>
        SwgPolicy.sample(SwgAgent.samplingOptions(X, agent, c, s.guidanceScale, s.temperature, Rng.named(13, "sample"))))
    },
    dispose: () => {
      for (const t of [...Object.values(data), weights, diffusion.z0, ...conditions.values()]) B.dispose(t)
    }
  }
}
