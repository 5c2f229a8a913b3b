/**
 * `npm start`: the project's main job in miniature, on data made on the spot (nothing to download), in under three
 * minutes on a 2-core CPU.
 *
 * 1. Self-weighted guidance on a 2-D toy (SWG §5.1): one diffusion model on z = (x, w), w = exp(β·(e(x) − e_max)),
 *    trained with the toy program's `train`, then sampled unguided (ρ = 0: the data p(x)) and guided (ρ = 1, which
 *    Thm 3.5 makes the exact target p(x)·exp(β·e(x))/Z). Both are compared with exact samples of the target by
 *    sliced W2 and energy distance, beside the model's floor (unguided samples against the data) and the metrics'
 *    sampling noise; a figure shows the four clouds.
 * 2. Offline RL on Pendulum: a D4RL-layout dataset from a swing-up controller whose action is replaced by a random
 *    one part of the time (PendulumData), the IQL critic and the SWG agent trained by the offline stages, and
 *    rollouts of the agent unguided and guided (both at temperature 0, so only the guidance differs) beside the
 *    data's own return. A check says how often the critic prefers the controller's action to its opposite at the
 *    same state: what the guidance has to work with.
 */
import { Clock, Console, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Figure from "../domain/Figure.ts"
import * as Rng from "../domain/Rng.ts"
import * as SampleMetrics from "../domain/SampleMetrics.ts"
import * as ToyData from "../domain/ToyData.ts"
import * as OfflineDataset from "../data/OfflineDataset.ts"
import { DatasetStore } from "../data/DatasetStore.ts"
import * as PendulumData from "../datagen/PendulumData.ts"
import * as Summary from "../datagen/Summary.ts"
import * as OfflineData from "../rl/OfflineData.ts"
import { Backend } from "../services/Backend.ts"
import { writeJsonAtomically } from "../services/Files.ts"
import { Plots } from "../services/Plots.ts"
import * as Offline from "./Offline.ts"
import * as Toy from "./Toy.ts"
import * as ToySource from "./ToySource.ts"

export class StartConfig extends Schema.Class<StartConfig>("StartConfig")({
  /** Where the figure, the dataset, checkpoints and `summary.json` go. */
  outDir: Schema.String.pipe(Config.withDefault("out/start")),
  seed: Config.NonNegativeInt.pipe(Config.withDefault(0)),
  // part 1: the toy
  toyDataset: Schema.Literals(ToyData.ToyDatasets).pipe(Config.withDefault("8gaussians")),
  /** Inverse temperature of the target p(x)·exp(β·e(x)). */
  beta: Schema.Finite.check(Schema.isGreaterThan(0)).pipe(Config.withDefault(3)),
  /** Guidance scale of the guided samples (1: the exact target, Thm 3.5). */
  toyGuidanceScale: Schema.Finite.pipe(Config.withDefault(1)),
  // the toy model and training of `toy --preset cpu` (README's toy table), for one dataset and one β
  toySteps: Config.PositiveInt.pipe(Config.withDefault(8000)),
  toyBatch: Config.PositiveInt.pipe(Config.withDefault(512)),
  toyHidden: Config.PositiveInt.pipe(Config.withDefault(128)),
  toyLayers: Config.PositiveInt.pipe(Config.withDefault(4)),
  toyDiffusionSteps: Config.PositiveInt.pipe(Config.withDefault(50)),
  toyLr: Config.PositiveFinite.pipe(Config.withDefault(1e-3)),
  /** EMA rate of the sampling weights: high enough that the initial weights are forgotten within the run. */
  toyEmaRate: Config.Probability.pipe(Config.withDefault(0.005)),
  /** Samples per cloud (model and exact). */
  toySamples: Config.PositiveInt.pipe(Config.withDefault(2000)),
  /** Random projections of the sliced W2. */
  projections: Config.PositiveInt.pipe(Config.withDefault(256)),
  // part 2: offline RL on Pendulum
  pendulum: PendulumData.PendulumDataConfig.pipe(Config.withDefault({ episodes: 40, replaceShare: 0.3 })),
  criticSteps: Config.PositiveInt.pipe(Config.withDefault(1000)),
  swgSteps: Config.PositiveInt.pipe(Config.withDefault(600)),
  /** Minibatch of the SWG model: large, because per step it learns the behaviour fastest. */
  swgBatch: Config.PositiveInt.pipe(Config.withDefault(1024)),
  /** Guidance scale ρ of the SWG agent (1, as on the toy; the results table uses 10, which a critic this short spoils). */
  guidanceScale: Schema.Finite.pipe(Config.withDefault(1)),
  /** Evaluation episodes per policy. */
  episodes: Config.PositiveInt.pipe(Config.withDefault(5)),
  /** Episodes of the score's references (uniform random policy and the controller alone). */
  referenceEpisodes: Config.PositiveInt.pipe(Config.withDefault(100))
}) {}

/** `--quick` (CI): the same two parts, smaller, in under 30 s on a 2-core CPU. */
export const quick = {
  toySteps: 600,
  toyBatch: 256,
  toyHidden: 64,
  toyLayers: 3,
  toyDiffusionSteps: 30,
  toyLr: 2e-3,
  toyEmaRate: 0.02,
  toySamples: 500,
  projections: 64,
  pendulum: { episodes: 20, replaceShare: 0.3 },
  criticSteps: 300,
  swgSteps: 300,
  swgBatch: 256,
  episodes: 2,
  referenceEpisodes: 20
} as const

/** Part 1's numbers: sliced W2 and energy distance of each cloud to the exact target (floor: to the data). */
export interface ToyReport {
  readonly dataset: ToyData.ToyDataset
  readonly beta: number
  readonly rho: number
  readonly unguided: { readonly sw2: number; readonly energyDistance: number }
  readonly guided: { readonly sw2: number; readonly energyDistance: number }
  /** Unguided samples against exact samples of the data p(x): the model's own error. */
  readonly floor: { readonly sw2: number; readonly energyDistance: number }
  /** Two independent exact target sample sets: what the metrics read for a perfect sampler. */
  readonly sampleNoise: { readonly sw2: number; readonly energyDistance: number }
  /** Share of the guided samples outside the training points' bounding box. */
  readonly guidedOutsideShare: number
  readonly figure: string
}

/** One policy's mean return and normalised score (100·(R − R_random)/(R_controller − R_random)). */
export interface PolicyScore {
  readonly policy: string
  readonly episodes: number
  readonly returnMean: number
  readonly normalizedScore: number
}

export interface PendulumReport {
  readonly dataset: string
  readonly references: PendulumData.References
  /** Where the controller's action is far from 0: share of data states with A(s, a*) > A(s, −a*), and how many. */
  readonly criticPrefersController: number
  readonly criticStates: number
  /** The behaviour data (its own episodes), SWG unguided (ρ = 0) and SWG guided (ρ = guidanceScale). */
  readonly behaviour: PolicyScore
  readonly unguided: PolicyScore
  readonly guided: PolicyScore
}

export interface StartSummary {
  readonly backend: string
  readonly toy: ToyReport
  readonly pendulum: PendulumReport
  readonly seconds: number
}

const distances = (a: Float64Array, b: Float64Array, projections: number, key: Rng.RngKey) => ({
  sw2: SampleMetrics.slicedWasserstein2(a, b, 2, projections, key),
  energyDistance: SampleMetrics.energyDistance(a, b, 2)
})

/** Part 1: train on the toy, sample unguided and guided, compare with the exact target; writes the figure. */
export const toyPart = Effect.fn("Start.toyPart")(function*(c: StartConfig) {
  const plots = yield* Plots
  const dataset = c.toyDataset
  const toyConfig = yield* Schema.decodeUnknownEffect(Toy.ToyConfig)({
    datasets: [dataset], betas: [c.beta], hidden: c.toyHidden, layers: c.toyLayers, diffusionSteps: c.toyDiffusionSteps,
    steps: c.toySteps, batch: c.toyBatch, lr: c.toyLr, emaRate: c.toyEmaRate, samples: c.toySamples, projections: c.projections,
    logEvery: Math.max(1, Math.floor(c.toySteps / 100)), guidanceScale: c.toyGuidanceScale, seed: c.seed, outDir: `${c.outDir}/toy`
  })
  const trained = yield* Toy.train(toyConfig, ToySource.builtIn(toyConfig, dataset))
  const range = trained.eMax - trained.eMin
  const key = Rng.split(Rng.named(c.seed, "start-toy"), dataset)
  const sample = (rho: number, name: string) =>
    Toy.sampleAt(toyConfig, trained.network, trained.model, trained.schedule, range, c.beta, rho, Rng.split(key, name), trained.box)
  const unguided = yield* sample(0, "unguided")
  const guided = yield* sample(c.toyGuidanceScale, "guided")
  const exact = (beta: number, name: string) => ToyData.sampleTarget(dataset, beta, c.toySamples, Rng.split(key, name)).points
  const data = exact(0, "data")
  const target = exact(c.beta, "target")
  const projections = Rng.named(c.seed, "start-sw2-projections")
  const files = yield* plots.write(`${c.outDir}/toy`, Figure.scatterGrid({
    panels: [[unguided, guided], [data, target]],
    columnTitles: ["ρ = 0: p(x)", `ρ = ${c.toyGuidanceScale}: p(x)·exp(βe)`],
    rowLabels: ["model", "exact"],
    title: `${dataset}, β = ${c.beta}: SWG samples vs exact`
  }))
  const report: ToyReport = {
    dataset, beta: c.beta, rho: c.toyGuidanceScale,
    unguided: distances(unguided, target, c.projections, projections),
    guided: distances(guided, target, c.projections, projections),
    floor: distances(unguided, data, c.projections, projections),
    sampleNoise: distances(exact(c.beta, "target-2"), target, c.projections, projections),
    guidedOutsideShare: SampleMetrics.shareOutside(guided, 2, trained.box, 1e-6),
    figure: files.png
  }
  return report
})

/** Part 1's table (markdown). */
export const toyTable = (r: ToyReport): string => {
  const row = (name: string, d: { readonly sw2: number; readonly energyDistance: number }) =>
    `| ${name} | ${d.sw2.toFixed(3)} | ${d.energyDistance.toFixed(4)} |`
  return [
    `| ${r.dataset}, β = ${r.beta}: samples against the exact target | sliced W2 | energy distance (D²) |`,
    "| --- | --- | --- |",
    row("unguided (ρ = 0)", r.unguided),
    row(`self-weighted guidance (ρ = ${r.rho})`, r.guided),
    row("floor: unguided samples against the data p(x)", r.floor),
    row("sampling noise: exact against exact", r.sampleNoise)
  ].join("\n")
}

const PENDULUM_TASK = "pendulum-swingup-mixed"

/**
 * The critic and SWG model of part 2: small networks, and a learning rate, target rate, EMA rate and discount
 * (γ = 0.95: a horizon of about twenty steps) that let a few hundred steps do something; T = 5 diffusion steps
 * (IDQL's) for the SWG model.
 */
const CRITIC = { hidden: 64, batch: 256, lr: 3e-3, polyak: 0.05, discount: 0.95 }
const SWG = { hidden: 64, blocks: 2, lr: 3e-3, diffusionSteps: 5, emaRate: 0.02 }

/**
 * Share of the data's states (where the controller's action a* is at least 0.5 from 0) at which the critic's
 * advantage prefers a* to −a*: 0.5 is a critic that cannot tell them apart, 1 one that always can.
 */
const criticCheck = Effect.fn("Start.criticCheck")(function*(offline: Offline.OfflineConfig, ds: OfflineDataset.OfflineDataset) {
  const backend = yield* Backend
  const critic = yield* Offline.loadCritic(offline, ds)
  const good = PendulumData.controller(Float64Array.from(ds.observations))
  const rows = Array.from(good.keys()).filter((i) => Math.abs(good[i]) >= 0.5)
  const observations = OfflineDataset.gatherRows(ds.observations, ds.observationDim, rows)
  const [obs, actions, opposite] = yield* backend.run((B) => [
    B.upload(observations, rows.length, ds.observationDim),
    B.upload(Float32Array.from(rows, (i) => good[i]), rows.length, 1),
    B.upload(Float32Array.from(rows, (i) => -good[i]), rows.length, 1)
  ] as const)
  const forGood = yield* Offline.readAdvantages(critic, obs, actions)
  const forOpposite = yield* Offline.readAdvantages(critic, obs, opposite)
  for (const t of [obs, actions, opposite]) backend.ops.dispose(t)
  const prefers = forGood.reduce((n, a, k) => n + (a > forOpposite[k] ? 1 : 0), 0)
  return { share: prefers / rows.length, states: rows.length }
})

/**
 * Part 2: the Pendulum dataset, then the critic and the SWG agent, then rollouts on the CPU backend (fast for a
 * handful of states at a time, and the same on every machine).
 */
export const pendulumPart = Effect.fn("Start.pendulumPart")(function*(c: StartConfig) {
  const store = yield* DatasetStore
  const dir = `${c.outDir}/pendulum`
  const path = `${dir}/${PENDULUM_TASK}.hdf5`
  const data = PendulumData.generate(c.pendulum)
  const references = PendulumData.references(c.referenceEpisodes, c.seed)
  const score = (policy: string, episodes: number, returnMean: number): PolicyScore => ({
    policy, episodes, returnMean, normalizedScore: PendulumData.normalizedScore(references, returnMean)
  })
  const dataEpisodes = OfflineDataset.episodes(data)
  const behaviour = score("behaviour data", dataEpisodes.length, dataEpisodes.reduce((s, e) => s + e.return, 0) / dataEpisodes.length)
  yield* store.write(path, {
    ...data,
    metadata: {
      ...data.metadata,
      ...Summary.behaviourMetadata({ return: behaviour.returnMean, normalizedScore: behaviour.normalizedScore, source: "the dataset's own episodes" })
    }
  })
  yield* Console.log(`dataset: ${path}, ${dataEpisodes.length} episodes, ${data.size} steps`)
  const offline = yield* Schema.decodeUnknownEffect(Offline.OfflineConfig)({
    task: PENDULUM_TASK, dataset: path, runDir: `${dir}/run`, resultsDir: `${dir}/results`, seed: c.seed, resume: false,
    critic: CRITIC, criticSteps: c.criticSteps,
    swg: { ...SWG, steps: c.swgSteps, batch: c.swgBatch, lrDecaySteps: 2 * c.swgSteps },
    evaluation: { episodes: c.episodes, methods: ["swg"], guidanceScale: c.guidanceScale },
    checkpointEvery: Math.max(c.criticSteps, c.swgSteps), logEvery: 10
  })
  yield* Offline.trainCritic(offline)
  const check = yield* criticCheck(offline, OfflineData.prepare(data, "none", c.seed).train)
  yield* Offline.trainSwg(offline)
  yield* Console.log("rollouts on the CPU backend")
  const results = yield* Offline.evaluate(offline, [0, c.guidanceScale]).pipe(Effect.provide(Backend.layerCpu))
  const at = (rho: number) => results.find((r) => r.method === "swg" && r.guidanceScale === rho)
  const unguided = at(0)
  const guided = at(c.guidanceScale)
  if (unguided === undefined || guided === undefined) return yield* Effect.die(new Error("evaluate returned no SWG result"))
  const report: PendulumReport = {
    dataset: path, references, criticPrefersController: check.share, criticStates: check.states, behaviour,
    unguided: score("SWG unguided (ρ = 0)", unguided.episodes, unguided.returnMean),
    guided: score(`SWG (ρ = ${c.guidanceScale})`, guided.episodes, guided.returnMean)
  }
  return report
})

/** Part 2's table (markdown). */
export const pendulumTable = (r: PendulumReport): string => {
  const row = (s: PolicyScore) => `| ${s.policy} | ${s.episodes} | ${s.returnMean.toFixed(1)} | ${s.normalizedScore.toFixed(1)} |`
  return [
    "| Pendulum swing-up | episodes | return | normalised score |",
    "| --- | --- | --- | --- |",
    row(r.behaviour),
    row(r.unguided),
    row(r.guided),
    `| references: uniform random / the controller alone | ${r.references.episodes} | ${r.references.random.toFixed(1)} / ${r.references.controller.toFixed(1)} | 0 / 100 |`
  ].join("\n")
}

/** Both parts, with what each shows; writes `<outDir>/summary.json`. */
export const start = Effect.fn("start")(function*(c: StartConfig) {
  const backend = yield* Backend
  const started = yield* Clock.currentTimeMillis
  yield* Console.log(`backend: ${backend.ops.description} (--backend picks another)`)
  yield* Console.log(
    `\n1/2  Self-weighted guidance on the 2-D toy "${c.toyDataset}". One diffusion model learns points x together with ` +
      `their weight w = exp(β·e(x)), β = ${c.beta}. Sampled as it is (ρ = 0), it gives back the data p(x); guided by ` +
      `its own estimate of the weight (ρ = ${c.toyGuidanceScale}), it should give p(x)·exp(β·e(x)), of which we also ` +
      "draw exact samples."
  )
  const toy = yield* toyPart(c)
  yield* Console.log(`\n${toyTable(toy)}\n`)
  yield* Console.log(
    `Guidance took the samples from ${toy.unguided.sw2.toFixed(3)} to ${toy.guided.sw2.toFixed(3)} in sliced W2 from the ` +
      `target (${(toy.unguided.sw2 / toy.guided.sw2).toFixed(1)}× closer); the floor, ${toy.floor.sw2.toFixed(3)}, is the ` +
      "model's own error on the data, and exact samples differ by the sampling noise. Energy distance is unbiased, so " +
      "it can dip below 0 by noise."
  )
  yield* Console.log(`figure: ${toy.figure} (and .svg): top row the model, bottom row exact samples`)
  const toySeconds = (yield* Clock.currentTimeMillis) - started
  yield* Console.log(
    "\n2/2  Offline RL on Pendulum (swing up, then balance). The data: a swing-up controller whose action is replaced " +
      `by a random one ${Math.round(100 * c.pendulum.replaceShare)} % of the time. The IQL critic scores actions; the ` +
      "SWG agent learns the data's actions with their weights. It is rolled out at temperature 0 (deterministic " +
      "sampling, which lands on the data's common action and so drops most random ones), unguided and guided by " +
      `its weights (ρ = ${c.guidanceScale}).`
  )
  const pendulum = yield* pendulumPart(c)
  yield* Console.log(`\n${pendulumTable(pendulum)}\n`)
  yield* Console.log(
    "Normalised score: 0 = uniform random actions, 100 = the controller alone (D4RL's convention; references " +
      `measured over ${pendulum.references.episodes} episodes). After ${c.criticSteps} steps the critic prefers the ` +
      `controller's action to its opposite at ${(100 * pendulum.criticPrefersController).toFixed(0)} % of the data's ` +
      "states (50 % = no preference): guidance can only be as good as that ranking. The results table " +
      "(npm run cli -- table) trains for thousands of steps."
  )
  const summary: StartSummary = { backend: backend.ops.description, toy, pendulum, seconds: ((yield* Clock.currentTimeMillis) - started) / 1000 }
  yield* writeJsonAtomically(`${c.outDir}/summary.json`, summary)
  yield* Console.log(
    `\ndone in ${summary.seconds.toFixed(0)} s (toy ${(toySeconds / 1000).toFixed(0)} s, Pendulum ${(summary.seconds - toySeconds / 1000).toFixed(0)} s); ` +
      `numbers in ${c.outDir}/summary.json. Every program: npm run cli -- --help`
  )
  return summary
})
