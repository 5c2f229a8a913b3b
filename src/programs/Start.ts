/**
 * `npm start`: the project's main job in miniature, on data made on the spot (nothing to download), in about
 * two and a half minutes on a 2-core CPU.
 *
 * 1. Self-weighted guidance on a 2-D toy (SWG §5.1): one diffusion model on z = (x, w), w = exp(β·e(x)), trained
 *    with the toy program's `train`, then sampled unguided (ρ = 0: the data p(x)) and guided (ρ = 1, Thm 3.5: the
 *    exact target p(x)·exp(β·e(x))/Z). Both are compared with exact samples of the target by sliced W2 and energy
 *    distance, beside the model's floor (unguided samples against the data) and the metrics' sampling noise.
 * 2. Offline RL on Pendulum: a D4RL-layout dataset from a swing-up controller whose actions are replaced by bad
 *    ones part of the time, the IQL critic, the SWG agent (weights w = f(A) from the critic), and rollouts of the
 *    agent unguided and guided, both at temperature 0 so that only the guidance differs, beside the data's return.
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
import { Backend } from "../services/Backend.ts"
import { writeJsonAtomically } from "../services/Files.ts"
import { Plots } from "../services/Plots.ts"
import * as Offline from "./Offline.ts"
import * as Toy from "./Toy.ts"

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
  toySteps: Config.PositiveInt.pipe(Config.withDefault(2000)),
  toyBatch: Config.PositiveInt.pipe(Config.withDefault(256)),
  toyHidden: Config.PositiveInt.pipe(Config.withDefault(64)),
  toyLayers: Config.PositiveInt.pipe(Config.withDefault(3)),
  toyDiffusionSteps: Config.PositiveInt.pipe(Config.withDefault(30)),
  toyLr: Config.PositiveFinite.pipe(Config.withDefault(2e-3)),
  /** Samples per cloud (model and exact). */
  toySamples: Config.PositiveInt.pipe(Config.withDefault(1000)),
  projections: Config.PositiveInt.pipe(Config.withDefault(128)),
  // part 2: offline RL on Pendulum
  pendulum: PendulumData.PendulumDataConfig.pipe(Config.withDefault({ episodes: 40, replaceShare: 0.3, alternative: "opposite" })),
  criticSteps: Config.PositiveInt.pipe(Config.withDefault(400)),
  swgSteps: Config.PositiveInt.pipe(Config.withDefault(600)),
  /** Guidance scale ρ of the SWG agent. */
  guidanceScale: Schema.Finite.pipe(Config.withDefault(10)),
  /** Evaluation episodes per policy. */
  episodes: Config.PositiveInt.pipe(Config.withDefault(5)),
  /** Episodes of the score's references (uniform random policy and the controller alone). */
  referenceEpisodes: Config.PositiveInt.pipe(Config.withDefault(100))
}) {}

/** `--quick` (CI): the same two parts, smaller, in under 30 s on a 2-core CPU. */
export const quick = {
  toySteps: 600,
  toySamples: 500,
  projections: 64,
  pendulum: { episodes: 20, replaceShare: 0.3, alternative: "opposite" },
  criticSteps: 200,
  swgSteps: 200,
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
    steps: c.toySteps, batch: c.toyBatch, lr: c.toyLr, samples: c.toySamples, projections: c.projections,
    logEvery: Math.max(1, Math.floor(c.toySteps / 100)), guidanceScale: c.toyGuidanceScale, seed: c.seed, outDir: `${c.outDir}/toy`
  })
  const trained = yield* Toy.train(toyConfig, dataset)
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
    columnTitles: ["unguided (ρ = 0)", `SWG (ρ = ${c.toyGuidanceScale})`],
    rowLabels: ["model samples", "exact"],
    title: `${dataset}, β = ${c.beta}: top, the model's samples; bottom, exact p(x) and p(x)·exp(β·e(x))`
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
    `| ${r.dataset}, β = ${r.beta}: samples against the exact target | sliced W2 | energy distance |`,
    "| --- | --- | --- |",
    row("unguided (ρ = 0)", r.unguided),
    row(`self-weighted guidance (ρ = ${r.rho})`, r.guided),
    row("floor: unguided samples against the data p(x)", r.floor),
    row("sampling noise: exact against exact", r.sampleNoise)
  ].join("\n")
}

const PENDULUM_TASK = "pendulum-swingup-mixed"

/**
 * Part 2: the Pendulum dataset, the critic and the SWG agent (trained on the service's backend), then rollouts on the
 * CPU backend (faster than a GPU for a handful of states at a time).
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
  yield* Console.log(
    `${path}: ${dataEpisodes.length} episodes, ${data.size} steps; behaviour return ${behaviour.returnMean.toFixed(1)} ` +
      `(uniform random ${references.random.toFixed(1)}, the controller alone ${references.controller.toFixed(1)})`
  )
  const offline = yield* Schema.decodeUnknownEffect(Offline.OfflineConfig)({
    task: PENDULUM_TASK, dataset: path, runDir: `${dir}/run`, resultsDir: `${dir}/results`, seed: c.seed, resume: false,
    critic: CRITIC, criticSteps: c.criticSteps,
    swg: { ...SWG, steps: c.swgSteps, lrDecaySteps: 2 * c.swgSteps },
    evaluation: { episodes: c.episodes, methods: ["swg"], guidanceScale: c.guidanceScale },
    checkpointEvery: Math.max(c.criticSteps, c.swgSteps), logEvery: 10
  })
  yield* Offline.trainCritic(offline)
  yield* Offline.trainSwg(offline)
  const results = yield* Offline.evaluate(offline, [0, c.guidanceScale]).pipe(Effect.provide(Backend.layerCpu))
  const at = (rho: number) => results.find((r) => r.guidanceScale === rho)
  const unguided = at(0)
  const guided = at(c.guidanceScale)
  if (unguided === undefined || guided === undefined) return yield* Effect.die(new Error("evaluate returned no SWG result"))
  const report: PendulumReport = {
    dataset: path, references, behaviour,
    unguided: score("SWG unguided (ρ = 0)", unguided.episodes, unguided.returnMean),
    guided: score(`SWG (ρ = ${c.guidanceScale})`, guided.episodes, guided.returnMean)
  }
  return report
})

/**
 * The critic and SWG model of part 2: small networks, a learning rate and target rate high enough, and a discount
 * short enough (γ = 0.9: a horizon of about ten steps), for a few hundred steps to give weights that rank the data.
 */
const CRITIC = { hidden: 64, batch: 256, lr: 3e-3, polyak: 0.05, discount: 0.9 }
const SWG = { hidden: 64, blocks: 2, batch: 256, lr: 3e-3, diffusionSteps: 10 }

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

const seconds = (from: number) => Effect.map(Clock.currentTimeMillis, (now) => (now - from) / 1000)

/** Both parts, with what each shows; writes `<outDir>/summary.json`. */
export const start = Effect.fn("start")(function*(c: StartConfig) {
  const backend = yield* Backend
  const started = yield* Clock.currentTimeMillis
  yield* Console.log(`backend: ${backend.ops.description} (--backend cpu|gpu picks one)`)
  yield* Console.log(
    `\n1/2  Self-weighted guidance on the 2-D toy "${c.toyDataset}". One diffusion model learns the data x together with ` +
      `its weight w = exp(β·e(x)), β = ${c.beta}; sampled as is (unguided), it gives back the data p(x); guided by its ` +
      `own weight estimate (ρ = ${c.toyGuidanceScale}), it should give the reweighted target p(x)·exp(β·e(x)), whose ` +
      "exact samples we draw for comparison."
  )
  const toy = yield* toyPart(c)
  yield* Console.log(`\n${toyTable(toy)}\n`)
  yield* Console.log(
    `Guidance brought the samples ${(toy.unguided.sw2 / toy.guided.sw2).toFixed(1)}× closer to the target in sliced W2 ` +
      `(${toy.guided.sw2.toFixed(3)} against ${toy.unguided.sw2.toFixed(3)}); the floor ${toy.floor.sw2.toFixed(3)} is the ` +
      "model's own error on the data."
  )
  yield* Console.log(`figure: ${toy.figure} (and .svg): top, model samples; bottom, exact samples`)
  const toySeconds = yield* seconds(started)
  yield* Console.log(
    "\n2/2  Offline RL on Pendulum (swing up and balance). A dataset made on the spot: a swing-up controller whose action " +
      `is replaced by ${c.pendulum.alternative === "opposite" ? "its opposite" : "a random one"} ${Math.round(100 * c.pendulum.replaceShare)} % of the time. The IQL critic scores ` +
      "the actions, the SWG agent learns actions and their weights from the data, and is rolled out unguided (it " +
      `imitates the data) and guided by its weights (ρ = ${c.guidanceScale}).`
  )
  const pendulum = yield* pendulumPart(c)
  yield* Console.log(`\n${pendulumTable(pendulum)}\n`)
  yield* Console.log(
    "Normalised score: 0 = uniform random actions, 100 = the controller alone (D4RL's convention, references measured " +
      `over ${pendulum.references.episodes} episodes).`
  )
  const summary: StartSummary = { backend: backend.ops.description, toy, pendulum, seconds: yield* seconds(started) }
  yield* writeJsonAtomically(`${c.outDir}/summary.json`, summary)
  yield* Console.log(
    `\ndone in ${summary.seconds.toFixed(0)} s (toy ${toySeconds.toFixed(0)} s, Pendulum ${(summary.seconds - toySeconds).toFixed(0)} s); ` +
      `numbers in ${c.outDir}/summary.json. Next: npm run cli -- --help`
  )
  return summary
})
