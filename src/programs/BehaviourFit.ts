/**
 * `behaviour-fit`: how closely a run directory's SWG model, sampled unguided (diffusion BC),
 * reproduces the data's policy (BehaviourFit.ts): the ε-error per diffusion step on training and
 * held-out transitions, and the sampled actions against the data's actions at nearby states.
 */
import { Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import * as OfflineDataset from "../data/OfflineDataset.ts"
import { DatasetStore } from "../data/DatasetStore.ts"
import * as BehaviourFit from "../rl/BehaviourFit.ts"
import * as OfflineData from "../rl/OfflineData.ts"
import * as SwgAgent from "../rl/SwgAgent.ts"
import { Backend } from "../services/Backend.ts"
import * as Offline from "./Offline.ts"

export class BehaviourFitOptions extends Schema.Class<BehaviourFitOptions>("BehaviourFitOptions")({
  /** Held-out states at which actions are compared. */
  probes: Config.PositiveInt.pipe(Config.withDefault(64)),
  /** Data states nearest each probe whose actions stand for π_β(· | probe) (split in two halves). */
  neighbours: Config.PositiveInt.pipe(Config.withDefault(128)),
  /** Transitions (of each of the training and the held-out split) for the ε-error per step. */
  lossRows: Config.PositiveInt.pipe(Config.withDefault(4096)),
  /** Sampling temperature of diffusion BC (the evaluation's default is 1). */
  temperature: Schema.Finite.pipe(Config.withDefault(1)),
  /** Sample with the EMA parameters (as evaluation does) or the live ones. */
  parameters: Schema.Literals(["ema", "live"]).pipe(Config.withDefault("ema"))
}) {}

export interface BehaviourFitReport {
  readonly task: string
  readonly seed: number
  readonly train: ReadonlyArray<BehaviourFit.StepLoss>
  readonly holdout: ReadonlyArray<BehaviourFit.StepLoss>
  readonly fit: BehaviourFit.ActionFit
}

/** n rows of a split drawn at random (in data order): observations and actions. */
const randomRows = (ds: OfflineDataset.OfflineDataset, n: number, key: Rng.RngKey) => {
  const rows = OfflineDataset.permutation(ds.size, key).slice(0, n).sort((a, b) => a - b)
  return {
    observations: OfflineDataset.gatherRows(ds.observations, ds.observationDim, rows),
    actions: OfflineDataset.gatherRows(ds.actions, ds.actionDim, rows)
  }
}

export const behaviourFit = Effect.fn("BehaviourFit.behaviourFit")(function*(c: Offline.OfflineConfig, o: BehaviourFitOptions) {
  const store = yield* DatasetStore
  const backend = yield* Backend
  const B = backend.ops
  const raw = yield* store.read(c.dataset)
  const { train, holdout } = OfflineData.prepare(raw, OfflineData.rewardConvention(c.task), c.seed)
  const S = train.observationDim
  const A = train.actionDim
  const loaded = yield* Offline.loadSwg(c, train)
  const agent = o.parameters === "live" ? { ...loaded, model: { ...loaded.model, ema: undefined } } : loaded
  const critic = yield* Offline.loadCritic(c, train)
  const key = Rng.named(c.seed, "behaviour-fit")

  // ε-error per step: z₀ = [a, w(A(s, a))] with the run's weight function, as in training.
  const lossesOn = (split: OfflineDataset.OfflineDataset, name: string) =>
    Effect.gen(function*() {
      const n = Math.min(o.lossRows, split.size)
      const rows = randomRows(split, n, Rng.split(key, `${name}-rows`))
      const [observations, actions] = yield* backend.run((ops) => [ops.upload(rows.observations, n, S), ops.upload(rows.actions, n, A)] as const)
      const advantages = yield* Offline.readAdvantages(critic, observations, actions)
      const { z } = SwgAgent.augmentedData(c.swg.weightFunction, rows.actions, A, advantages)
      const z0 = B.upload(z, n, A + 1)
      const losses = yield* Effect.promise(() => BehaviourFit.lossByStep(B, agent.model, agent.network, agent.schedule, z0, observations, Rng.split(key, name)))
      for (const t of [z0, observations, actions]) B.dispose(t)
      return losses
    })
  const trainLosses = yield* lossesOn(train, "train")
  const holdoutLosses = yield* lossesOn(holdout, "holdout")

  // Actions at probe states: `probes` held-out states drawn at random, k nearest training states each.
  const P = Math.min(o.probes, holdout.size)
  const probes = randomRows(holdout, P, Rng.split(key, "probe-rows")).observations
  const scales = BehaviourFit.stateScales(train.observations, S)
  const neighbourActions = Array.from({ length: P }, (_, p) => {
    const rows = BehaviourFit.nearestRows(probes.subarray(p * S, (p + 1) * S), train.observations, S, scales, o.neighbours)
    return Float64Array.from(OfflineDataset.gatherRows(train.actions, A, rows))
  })
  const half = Math.floor(o.neighbours / 2)
  const repeated = new Float64Array(P * half * S)
  for (let p = 0; p < P; p++) for (let j = 0; j < half; j++) for (let d = 0; d < S; d++) repeated[(p * half + j) * S + d] = probes[p * S + d]
  const actions = yield* SwgAgent.act(backend, agent, { _tag: "DiffusionBc", temperature: o.temperature }, repeated, Rng.split(key, "sample"))
  const sampled = Array.from({ length: P }, (_, p) => actions.subarray(p * half * A, (p + 1) * half * A))
  const fit = BehaviourFit.actionFit(sampled, neighbourActions, train.actions, A, Rng.split(key, "fit"))
  const report: BehaviourFitReport = { task: c.task, seed: c.seed, train: trainLosses, holdout: holdoutLosses, fit }
  return report
})

const f3 = (x: number) => x.toFixed(3)

/** The report as two markdown tables. */
export const markdown = (r: BehaviourFitReport): string => {
  const lines = [
    `### ${r.task}, seed ${r.seed}: ε-error per diffusion step (actions: mean over dimensions; weight: its coordinate)`,
    "",
    "| step | σ_t | train, actions | held-out, actions | train, weight | held-out, weight |",
    "| --- | --- | --- | --- | --- | --- |",
    ...r.train.map((s, i) => `| ${s.step} | ${f3(s.sigma)} | ${f3(s.action)} | ${f3(r.holdout[i].action)} | ${f3(s.weight)} | ${f3(r.holdout[i].weight)} |`),
    "",
    `### Sampled actions against the data's at ${r.fit.probes} held-out states (${r.fit.neighbours} nearest data states each, clouds of ${r.fit.cloudSize})`,
    "",
    "| cloud vs half the neighbours | sliced W2 | mean |Δ q10| | mean |Δ q50| | mean |Δ q90| | 10–90 % range ratio |",
    "| --- | --- | --- | --- | --- | --- |",
    ...([["diffusion BC", r.fit.model], ["other half (a perfect model)", r.fit.halves], ["dataset actions, any state", r.fit.stateBlind]] as const).map(
      ([name, g]) => `| ${name} | ${f3(g.slicedW2)} | ${f3(g.quantileGap[0])} | ${f3(g.quantileGap[1])} | ${f3(g.quantileGap[2])} | ${f3(g.spreadRatio)} |`
    )
  ]
  return lines.join("\n")
}
