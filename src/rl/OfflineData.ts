/**
 * From a D4RL-layout dataset to what the IQL-family agents train on (as IQL's and SWG's reference code do):
 * `qlearning_dataset` transitions, actions clipped to ±(1 − 1e-5), mask = 1 − terminal, locomotion
 * rewards scaled by 1000/(max return − min return), a random 5 % held out; then on the device. Also the per-task
 * choice of the IQL critic's V LayerNorm (`criticConfig`).
 */
import * as OfflineDataset from "../data/OfflineDataset.ts"
import * as Rng from "../domain/Rng.ts"
import type { TensorBackend } from "../domain/TensorBackend.ts"
import * as Critic from "./Critic.ts"
import type { DeviceTransitions } from "./Critic.ts"

/** How rewards are transformed before learning. */
export type RewardConvention = "locomotion" | "none"

export interface Prepared {
  readonly train: OfflineDataset.OfflineDataset
  readonly holdout: OfflineDataset.OfflineDataset
}

/** The reward convention of a D4RL task name: locomotion tasks are rescaled, maze2d rewards are kept. */
export const rewardConvention = (task: string): RewardConvention =>
  /^(halfcheetah|hopper|walker2d|ant)-/.test(task) ? "locomotion" : "none"

/**
 * Where the IQL critic's V puts its LayerNorm on a task whose config leaves it out: "input" (SWG-JAX's) on the
 * locomotion tasks the reference ran it on; "none" (IQL's own value network) everywhere else. A LayerNorm over the
 * input leaves V only the state's shape, V(c·s + d) = V(s): on maze2d's (x, y, ẋ, ẏ) the goal cell (1, 1) at rest and
 * (3, 3) at rest get one value (docs/methods.md §6.2), and Pendulum's (cos θ, sin θ, θ̇) keeps one degree of freedom
 * of three. On 11–17 locomotion features it removes two.
 */
export const valueLayerNormOf = (task: string): "input" | "none" => (rewardConvention(task) === "locomotion" ? "input" : "none")

/** The IQL critic's config on `task`: `c`, with V's LayerNorm set by `valueLayerNormOf` where `c` leaves it out. */
export const criticConfig = (c: Critic.CriticConfig, task: string): Critic.CriticConfig =>
  c.valueLayerNorm !== undefined || valueLayerNormOf(task) === "input" ? c : new Critic.CriticConfig({ ...c, valueLayerNorm: valueLayerNormOf(task) })

export const prepare = (ds: OfflineDataset.OfflineDataset, convention: RewardConvention, seed: number, holdout = 0.05): Prepared => {
  const transitions = OfflineDataset.clipActions(OfflineDataset.qlearningTransitions(ds))
  const scaled = convention === "locomotion" ? OfflineDataset.iqlRewardScaling(transitions) : transitions
  const { train, holdout: held } = OfflineDataset.split(scaled, 1 - holdout, Rng.named(seed, "holdout"))
  return { train, holdout: held }
}

/**
 * The factor `prepare` multiplies rewards by under `convention`: 1000/(max return − min return) of the dataset's
 * `qlearning_dataset` transitions for locomotion (1 when the returns are all equal), else 1. Synthetic transitions
 * decoded in raw reward units are scaled by it to match the real ones.
 */
export const rewardScale = (ds: OfflineDataset.OfflineDataset, convention: RewardConvention): number => {
  if (convention !== "locomotion") return 1
  const { min, max } = OfflineDataset.returnRange(OfflineDataset.qlearningTransitions(ds))
  return max > min ? 1000 / (max - min) : 1
}

/** Uploads transitions (rows aligned) to the backend. */
export const upload = (B: TensorBackend, ds: OfflineDataset.OfflineDataset): DeviceTransitions => {
  const n = ds.size
  const next = ds.nextObservations
  if (next === undefined) throw new Error("transitions need next observations (run qlearningTransitions first)")
  return {
    observations: B.upload(ds.observations, n, ds.observationDim),
    actions: B.upload(ds.actions, n, ds.actionDim),
    rewards: B.upload(ds.rewards, n, 1),
    masks: B.upload(Float32Array.from(ds.terminals, (t) => 1 - t), n, 1),
    nextObservations: B.upload(next, n, ds.observationDim)
  }
}
