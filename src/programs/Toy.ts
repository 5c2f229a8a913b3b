/**
 * SWG on the CEP 2-D toys (paper §5.1, App. E): one model per dataset, conditioned on β, trained on
 * z = (x, w) with w = exp(β·e); sampled with self-weighted guidance and compared with exact samples
 * of p(x)·exp(β·e(x)) by sliced W2 and energy distance. Writes figures, checkpoints and metrics.
 *
 * Weights are stored as w̃ = exp(β·(e − e_max)) ∈ (0, 1]: a per-β constant factor, which the guidance
 * ∇ log ŵ₀ does not see (tested invariant), and which keeps the weight coordinate at unit scale.
 * ŵ₀ is clipped to the data's weight range [exp(β·(e_min − e_max)), 1] before the log (floored at
 * 1e-4 as SWG-JAX): the exact E[w₀ | z_t] is a convex combination of data weights, so this never
 * clips the true value above the floor and only discards impossible predictions (at β = 0 the range
 * is {1}: no guidance, as it should be). The iterate's weight coordinate is clipped to the same range.
 *
 * The guided clean prediction (z_t − σ·ε̃)/α is clipped to the data's range (the training points'
 * bounding box, the weight range above): with ρ = 1 it is exactly E_π[z₀ | z_t], a mean of data points,
 * so this changes nothing where the guidance is exact, and it stops the kicks a wrong ŵ₀ near 0 gives
 * at the noisiest steps, which sent up to 1 % of the samples at β = 10 to |x| ≈ 5–70 (issue #14).
 * Every metrics row reports the share of samples outside that range and beyond 1.5× the data's radius.
 *
 * QGPO beside it (Lu et al. 2023; `src/diffusion/Qgpo.ts`), on the same data: its behaviour model is SWG's own
 * model sampled unguided at β = 0 (ρ = 0), which is a diffusion model of x alone, the very samples of the
 * "floor" row, so both methods share one behaviour model and differ only in their guidance. Its intermediate
 * energy f_φ(x_t, β, t) is a separate network of the body's size (silu), conditioned on β like SWG's model and
 * trained with the same steps, batch, learning rate and EMA: each batch is split into `qgpoGroups` groups, each
 * with one t and one β > 0 from `betas` and energy labels β·e (the toy form of the CEP loss, eq. 11, within a
 * group). It samples with ε̃ = ε_θ − s·σ_t·∇f_φ (s = `qgpoScale`, 1 being exact), the same DDPM loop, the same
 * clean-prediction clip to the data's box, and the same metrics.
 *
 * Any 2-D density given as points with energies runs the same way (`toy --data FILE.csv`, `ToySource.fromFiles`):
 * the file's points are the training set, and each β is measured against the exact samples of a `--target` file
 * where it holds that β, else against the data resampled ∝ exp(β·e); every metrics row names its `reference`.
 */
import { Console, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Figure from "../domain/Figure.ts"
import { cosineDecay } from "../domain/LearningRate.ts"
import * as NoiseSchedule from "../domain/NoiseSchedule.ts"
import * as Rng from "../domain/Rng.ts"
import * as SampleMetrics from "../domain/SampleMetrics.ts"
import * as SamplerSteps from "../domain/SamplerSteps.ts"
import type { TensorBackend } from "../domain/TensorBackend.ts"
import * as ToyData from "../domain/ToyData.ts"
import * as EpsNetwork from "../diffusion/EpsNetwork.ts"
import * as Qgpo from "../diffusion/Qgpo.ts"
import * as Sampler from "../diffusion/Sampler.ts"
import * as Swg from "../diffusion/Swg.ts"
import * as SwgPolicy from "../diffusion/SwgPolicy.ts"
import * as Training from "../diffusion/Training.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import * as Parameters from "../nn/Parameters.ts"
import type { Var } from "../nn/Tape.ts"
import { Backend } from "../services/Backend.ts"
import { Checkpoints } from "../services/Checkpoints.ts"
import { writeJsonAtomically, writeTextAtomically } from "../services/Files.ts"
import { Plots } from "../services/Plots.ts"
import { Progress } from "../services/Progress.ts"
import * as ToySource from "./ToySource.ts"

const Beta = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

export class ToyConfig extends Schema.Class<ToyConfig>("ToyConfig")({
  // data
  /** Datasets to run. */
  datasets: Schema.Array(Schema.Literals(ToyData.ToyDatasets)).pipe(Config.withDefault([...ToyData.ToyDatasets])),
  /** Training points drawn from each generator. */
  dataSize: Config.PositiveInt.pipe(Config.withDefault(100_000)),
  /** Inverse temperatures β the model is conditioned on (w = exp(β·e)); 0 is the data itself. */
  betas: Schema.Array(Beta).pipe(Config.withDefault([0, 1, 3, 10])),
  // model
  /** Width of the MLP body. */
  hidden: Config.PositiveInt.pipe(Config.withDefault(128)),
  /** Dense layers of the body, output layer included (paper: 6). */
  layers: Config.PositiveInt.pipe(Config.withDefault(4)),
  /** Diffusion steps. */
  diffusionSteps: Config.PositiveInt.pipe(Config.withDefault(50)),
  /** Noise schedule: "vp" (SWG/IDQL's discrete VP, b_max 10) or "cosine" (the paper's toys, App. D.1). */
  schedule: Schema.Literals(["vp", "cosine"]).pipe(Config.withDefault("vp")),
  // optimisation
  steps: Config.PositiveInt.pipe(Config.withDefault(8000)),
  batch: Config.PositiveInt.pipe(Config.withDefault(512)),
  /** AdamW learning rate, cosine-decayed to 0 over `steps`. */
  lr: Config.PositiveFinite.pipe(Config.withDefault(1e-3)),
  /** EMA rate per step of the sampling weights. */
  emaRate: Config.Probability.pipe(Config.withDefault(0.005)),
  logEvery: Config.PositiveInt.pipe(Config.withDefault(100)),
  // guidance and evaluation
  /** Guidance scale used at every β (1: the exact weighted target). */
  guidanceScale: Schema.Finite.pipe(Config.withDefault(1)),
  /** The ρ sweep, run at `sweepBeta`. */
  sweepScales: Schema.Array(Schema.Finite).pipe(Config.withDefault([0, 0.5, 1, 2, 4])),
  sweepBeta: Beta.pipe(Config.withDefault(3)),
  /**
   * Floor of the ŵ₀ clip (SWG-JAX's min_weight_clip 1e-4): below it the guidance is off, which
   * keeps ∇ log ŵ₀ from exploding where the network's weight estimate is mostly error.
   */
  minWeightFloor: Config.PositiveFinite.pipe(Config.withDefault(1e-4)),
  /**
   * Clip the guided clean prediction to the data's range at every step (x: the training points' bounding box,
   * w: the data's weight range); false samples as before issue #14, for comparison.
   */
  clipCleanPrediction: Schema.Boolean.pipe(Config.withDefault(true)),
  /** Also train and evaluate QGPO (an intermediate energy network guiding the β = 0 behaviour model). */
  qgpo: Schema.Boolean.pipe(Config.withDefault(true)),
  /** QGPO's guidance scale s (1: exact with the optimal energy). */
  qgpoScale: Schema.Finite.pipe(Config.withDefault(1)),
  /** QGPO's scale sweep s, run at `sweepBeta` beside SWG's ρ sweep. */
  qgpoSweepScales: Schema.Array(Schema.Finite).pipe(Config.withDefault([0, 0.5, 2, 4])),
  /** Groups per CEP batch, each with its own t and β; `batch` / `qgpoGroups` points are contrasted in each. */
  qgpoGroups: Config.PositiveInt.pipe(Config.withDefault(4)),
  /** Share trimmed at each end of every projection's quantiles for the robust sliced W2. */
  sw2Trim: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 0.25 })).pipe(Config.withDefault(0.01)),
  /** Samples per evaluated (β, ρ). */
  samples: Config.PositiveInt.pipe(Config.withDefault(2000)),
  /** Random projections of the sliced W2. */
  projections: Config.PositiveInt.pipe(Config.withDefault(256)),
  seed: Config.NonNegativeInt.pipe(Config.withDefault(0)),
  outDir: Schema.String.pipe(Config.withDefault("out/toy"))
}) {}

/** One evaluated (dataset, method, β, guidance scale). */
export interface ToyMetric {
  /** A built-in dataset's name, or the name of one given as a file (`ToySource`). */
  readonly dataset: string
  /** "swg": self-weighted guidance at scale ρ; "qgpo": the energy network's guidance at scale s (in `rho`). */
  readonly method: "swg" | "qgpo"
  readonly beta: number
  readonly rho: number
  /** What the samples are measured against: exact target samples, or the data resampled ∝ exp(β·e) (`ToySource`). */
  readonly reference: ToySource.ReferenceKind
  /** Sliced W2 between model samples and the reference samples (exact target samples for the built-in datasets). */
  readonly sw2: number
  /** The same, each projection's quantiles trimmed by `sw2Trim` at both ends: what a few far samples cannot move. */
  readonly sw2Trimmed: number
  readonly energyDistance: number
  /** Energy distance between two independent reference sets (exact sample sets for the built-in datasets): its sampling noise. */
  readonly energyDistanceSampleNoise: number
  /** Share of the samples outside the training points' bounding box (widened by 1e-6 of its extent for rounding). */
  readonly outsideShare: number
  /** Share of the samples farther than 1.5× the data's radius (largest distance from the data's mean) from its mean. */
  readonly farShare: number
  /** Largest distance of a sample from the data's mean, in data radii. */
  readonly maxRadius: number
  /** The model's own error floor: unguided samples at β = 0 against the β = 0 reference (exact data samples for the built-ins). */
  readonly sw2Floor: number
  /** The reweighted-data oracle (training points resampled ∝ w) against the target. */
  readonly sw2Oracle: number
  /** Two independent reference sets (exact sample sets of the same size for the built-ins): the metric's sampling noise. */
  readonly sw2SampleNoise: number
}

const networkConfig = (c: ToyConfig) =>
  new EpsNetwork.EpsNetworkConfig({
    dataDim: 3,
    conditionDim: 1,
    timeFeatures: 32,
    timeHidden: 64,
    body: new EpsNetwork.MlpBody({ hidden: c.hidden, layers: c.layers, activation: "gelu" })
  })

/** β enters the network as β/10. */
const BETA_SCALE = 0.1

const firstColumns = (z: Float32Array, rows: number, cols: number, keep: number): Float64Array => {
  const out = new Float64Array(rows * keep)
  for (let r = 0; r < rows; r++) for (let c = 0; c < keep; c++) out[r * keep + c] = z[r * cols + c]
  return out
}

/** Trains one β-conditioned model on a toy dataset's points (`source.data`); returns the model and the data's e_max. */
/**
 * Trains `model` for `c.steps` AdamW steps on `lossOf` (cosine-decayed learning rate, EMA), with progress
 * lines; `dropoutName` keys the dropout stream.
 */
const fit = (
  c: ToyConfig,
  label: string,
  model: Model.Model,
  dropoutName: string,
  lossOf: (ops: TensorBackend, p: Parameters.Bound, step: number) => Var
) =>
  Effect.gen(function*() {
    const backend = yield* Backend
    const progress = yield* Progress
    const tracker = yield* progress.start(label, c.steps)
    for (let step = 0; step < c.steps; step++) {
      const loss = yield* backend.run((ops) =>
        Model.trainStep(ops, model, {
          lr: cosineDecay(c.lr, c.steps, step),
          adamw: Optimizer.adamwDefaults,
          emaRate: c.emaRate,
          rng: Rng.at(Rng.named(c.seed, dropoutName), step)
        }, (p) => lossOf(ops, p, step))
      )
      if ((step + 1) % c.logEvery === 0 || step === 0 || step === c.steps - 1) {
        const value = (yield* backend.read(loss))[0]
        yield* tracker.update(step + 1, { loss: value })
      }
      backend.ops.dispose(loss)
    }
  })

export const train = Effect.fn("Toy.train")(function*(c: ToyConfig, source: ToySource.ToySource) {
  const backend = yield* Backend
  const { data, name: dataset } = source
  const size = data.energy.length
  const eMax = data.energy.reduce((m, e) => Math.max(m, e), -Infinity)
  const network = networkConfig(c)
  const schedule = c.schedule === "vp" ? NoiseSchedule.swg(c.diffusionSteps) : NoiseSchedule.cosine(c.diffusionSteps)
  const setup = yield* backend.run((ops) => ({
    points: ops.upload(Float32Array.from(data.points), size, 2),
    energy: ops.upload(Float32Array.from(data.energy), size, 1),
    betas: ops.upload(Float32Array.from(c.betas), c.betas.length, 1),
    tables: Training.noiseTables(ops, schedule),
    model: Model.create(ops, EpsNetwork.specs(network), Rng.split(Rng.named(c.seed, "toy-init"), dataset), { ema: true })
  }))
  const batchKey = Rng.split(Rng.named(c.seed, "toy-batch"), dataset)
  const lossOf = (ops: TensorBackend, p: Parameters.Bound, step: number) => {
    const key = Rng.at(batchKey, step)
    const index = ops.randint(c.batch, 1, Rng.at(Rng.split(key, "index"), step), size)
    const beta = ops.gatherRows(setup.betas, ops.randint(c.batch, 1, Rng.at(Rng.split(key, "beta"), step), c.betas.length))
    // w̃ = exp(β·(e − e_max))
    const w = ops.unary("exp", ops.binary("mul", beta, ops.affine(ops.gatherRows(setup.energy, index), 1, -eMax)))
    const z0 = ops.concatCols([ops.gatherRows(setup.points, index), w])
    return Training.epsLossOn(p, network, setup.tables, z0, ops.affine(beta, BETA_SCALE, 0), key)
  }
  yield* fit(c, `train ${dataset}`, setup.model, "toy-dropout", lossOf)
  const eMin = data.energy.reduce((m, e) => Math.min(m, e), Infinity)
  return { model: setup.model, network, schedule, eMax, eMin, data, box: SampleMetrics.boundsOf(data.points, 2) }
})

/** Per-step clip of the iterate's weight coordinate to the data's range (SWG-JAX's clip_denoised); x is free. */
const weightClip = (B: TensorBackend, minWeight: number) => ({
  lo: B.upload(Float32Array.from([-Number.MAX_VALUE, -Number.MAX_VALUE, minWeight]), 1, 3),
  hi: B.upload(Float32Array.from([Number.MAX_VALUE, Number.MAX_VALUE, 1]), 1, 3)
})

/**
 * The guidance at (β, ρ): ŵ₀ clipped to the data's weight range floored at `minWeightFloor`, and (with
 * `clipCleanPrediction`) the guided clean prediction clipped to `box` (the training points' bounds, `train`'s
 * `box`) and that weight range.
 */
export const guidanceAt = (
  c: ToyConfig, box: SampleMetrics.Bounds, energyRange: number, beta: number, rho: number
): Swg.SwgGuidance => {
  const minWeight = Math.exp(-beta * energyRange)
  return new Swg.SwgGuidance({
    scale: rho,
    minWeight: Math.max(minWeight, c.minWeightFloor),
    maxWeight: 1,
    ...(c.clipCleanPrediction
      ? { cleanRange: { lower: [box.lower[0], box.lower[1], minWeight], upper: [box.upper[0], box.upper[1], 1] } }
      : {})
  })
}

/** Guided samples x [n, 2] of the model at (β, ρ); `box` is `train`'s (the training points' bounds). */
export const sampleAt = Effect.fn("Toy.sample")(function*(
  c: ToyConfig, network: EpsNetwork.EpsNetworkConfig, model: Model.Model, schedule: NoiseSchedule.Discrete,
  energyRange: number, beta: number, rho: number, key: Rng.RngKey, box: SampleMetrics.Bounds
) {
  const backend = yield* Backend
  const minWeight = Math.exp(-beta * energyRange)
  const z = yield* backend.run((ops) => {
    const condition = ops.fill(c.samples, 1, beta * BETA_SCALE)
    const out = SwgPolicy.sample({
      backend: ops, network, layout: model.layout, params: model.ema ?? model.params, condition, rows: c.samples,
      grid: SamplerSteps.discreteGrid(schedule), sampler: new Sampler.Ddpm({ temperature: 1 }),
      guidance: guidanceAt(c, box, energyRange, beta, rho),
      initialScale: 1, clip: weightClip(ops, minWeight), key
    })
    ops.dispose(condition)
    return out
  })
  const values = yield* backend.read(z)
  backend.ops.dispose(z)
  return firstColumns(values, c.samples, 3, 2)
})

/** A toy config QGPO cannot train with (set `qgpo: false` to run SWG alone). */
export class QgpoConfigError extends Schema.TaggedError<QgpoConfigError>()("QgpoConfigError", { detail: Schema.String }) {
  override get message(): string {
    return this.detail
  }
}

const energyConfig = (c: ToyConfig) =>
  // the body's size: `layers` counts the output layer, so layers − 1 hidden
  new Qgpo.EnergyNetworkConfig({
    dataDim: 2, conditionDim: 1, timeFeatures: 32, timeHidden: 64, hidden: c.hidden, hiddenLayers: c.layers - 1, activation: "silu"
  })

/** QGPO's intermediate energy f_φ(x_t, β, t) on a toy's training points, by the CEP loss over groups sharing t and β. */
export const trainEnergy = Effect.fn("Toy.trainEnergy")(function*(
  c: ToyConfig, dataset: string, data: ToyData.ToySample, schedule: NoiseSchedule.Discrete
) {
  const backend = yield* Backend
  const betas = c.betas.filter((b) => b > 0)
  const groups = c.qgpoGroups
  const size = Math.floor(c.batch / groups)
  if (betas.length === 0 || size < 2) {
    return yield* new QgpoConfigError({
      detail: `QGPO needs a β > 0 in betas (got ${c.betas.join(", ")}) and batch / qgpoGroups ≥ 2 (got ${c.batch} / ${groups})`
    })
  }
  const network = energyConfig(c)
  const setup = yield* backend.run((ops) => ({
    points: ops.upload(Float32Array.from(data.points), data.energy.length, 2),
    energy: ops.upload(Float32Array.from(data.energy), data.energy.length, 1),
    betas: ops.upload(Float32Array.from(betas), betas.length, 1),
    tables: Training.noiseTables(ops, schedule),
    grouping: Qgpo.grouping(groups, size),
    model: Model.create(ops, Qgpo.specs(network), Rng.split(Rng.named(c.seed, "toy-energy-init"), dataset), { ema: true })
  }))
  const batchKey = Rng.split(Rng.named(c.seed, "toy-energy-batch"), dataset)
  const rows = groups * size
  const lossOf = (ops: TensorBackend, p: Parameters.Bound, step: number) => {
    const key = Rng.at(batchKey, step)
    const index = ops.randint(rows, 1, Rng.at(Rng.split(key, "index"), step), data.energy.length)
    const perGroup = ops.gatherRows(setup.betas, ops.randint(groups, 1, Rng.at(Rng.split(key, "beta"), step), betas.length))
    const beta = ops.view(ops.broadcastTo(perGroup, groups, size), 0, rows, 1)
    const labels = ops.binary("mul", beta, ops.gatherRows(setup.energy, index))
    return Qgpo.cepLossOn(
      p, network, setup.tables, ops.gatherRows(setup.points, index), labels, ops.affine(beta, BETA_SCALE, 0), setup.grouping, key
    )
  }
  yield* fit(c, `energy ${dataset}`, setup.model, "toy-energy-dropout", lossOf)
  return { model: setup.model, network }
})

/**
 * QGPO samples x [n, 2] at (β, s): SWG's model at β = 0 without its own guidance (the behaviour model of x; its
 * weight coordinate is 1 throughout) plus s·∇f_φ(x_t, β, t), the guided clean prediction clipped to `box` as SWG's.
 */
export const sampleQgpo = Effect.fn("Toy.sampleQgpo")(function*(
  c: ToyConfig, behaviour: { readonly network: EpsNetwork.EpsNetworkConfig; readonly model: Model.Model },
  energy: { readonly network: Qgpo.EnergyNetworkConfig; readonly model: Model.Model },
  schedule: NoiseSchedule.Discrete, beta: number, scale: number, key: Rng.RngKey, box: SampleMetrics.Bounds
) {
  const backend = yield* Backend
  const guidance = new Qgpo.QgpoGuidance({
    scale,
    ...(c.clipCleanPrediction ? { cleanRange: { lower: [box.lower[0], box.lower[1], 1], upper: [box.upper[0], box.upper[1], 1] } } : {})
  })
  const z = yield* backend.run((ops) => {
    const unguided = ops.fill(c.samples, 1, 0)
    const condition = ops.fill(c.samples, 1, beta * BETA_SCALE)
    const plain = new Swg.SwgGuidance({ scale: 0, minWeight: 1, maxWeight: 1 })
    const options = {
      backend: ops, network: behaviour.network, layout: behaviour.model.layout, params: behaviour.model.ema ?? behaviour.model.params,
      condition: unguided, rows: c.samples, grid: SamplerSteps.discreteGrid(schedule), sampler: new Sampler.Ddpm({ temperature: 1 }),
      guidance: plain, initialScale: 1, clip: weightClip(ops, 1), key
    }
    const eps = SwgPolicy.denoiser(options)
    const denoiser: Sampler.Denoiser = (x, point) => {
      const time = ops.fill(x.rows, 1, point.time)
      const f: Qgpo.EnergyFunction = (tape, zt) =>
        Qgpo.apply(
          new Parameters.Bound(tape, energy.model.layout, energy.model.ema ?? energy.model.params),
          energy.network, tape.sliceCols(zt, 0, 2), tape.leaf(condition), tape.leaf(time)
        )
      return Qgpo.guidedEps(ops, eps(x, point), f, x, point, guidance)
    }
    const xT = ops.normal(c.samples, 3, Rng.split(key, "initial"))
    const out = Sampler.sample({ backend: ops, denoiser, grid: options.grid, sampler: options.sampler, key: Rng.split(key, "steps"), clip: options.clip }, xT)
    for (const t of [xT, unguided, condition]) ops.dispose(t)
    return out
  })
  const values = yield* backend.read(z)
  backend.ops.dispose(z)
  return firstColumns(values, c.samples, 3, 2)
})

/**
 * The toy program on `sources` (default: the built-in datasets of `c.datasets`): per dataset a model, its checkpoints,
 * a figure, and metrics rows against each β's reference (`ToySource`); all rows in `metrics.json` and `metrics.md`.
 */
export const toy = Effect.fn("toy")(function*(
  c: ToyConfig, sources: ReadonlyArray<ToySource.ToySource> = c.datasets.map((d) => ToySource.builtIn(c, d))
) {
  const backend = yield* Backend
  const checkpoints = yield* Checkpoints
  const plots = yield* Plots
  yield* Console.log(`toy: ${sources.map((s) => s.name).join(", ")} on ${backend.ops.description}`)
  const metrics: Array<ToyMetric> = []
  for (const source of sources) {
    const dataset = source.name
    if (source.origin !== "built-in generator") yield* Console.log(`${dataset}: ${source.origin}`)
    const trained = yield* train(c, source)
    const { model, network, schedule, data, box } = trained
    const { centre, radius } = SampleMetrics.radiusOf(data.points, 2)
    const range = trained.eMax - trained.eMin
    const params = yield* backend.read(model.params)
    const ema = yield* backend.read(model.ema ?? model.params)
    yield* checkpoints.save(`${c.outDir}/${dataset}/model.safetensors`, {
      header: {
        format: "dgrl-checkpoint/1",
        architecture: { kind: "toy-eps-network", network: Schema.encodeSync(EpsNetwork.EpsNetworkConfig)(network), diffusionSteps: c.diffusionSteps, eMax: trained.eMax },
        config: Schema.encodeSync(ToyConfig)(c),
        step: c.steps,
        rng: { seed: c.seed, counter: c.steps },
        createdBy: "dgrl toy"
      },
      tensors: [
        { name: "params", shape: [params.length], data: params },
        { name: "ema", shape: [ema.length], data: ema }
      ]
    })

    const energy = c.qgpo ? yield* trainEnergy(c, dataset, data, schedule) : undefined
    if (energy !== undefined) {
      const flat = yield* backend.read(energy.model.ema ?? energy.model.params)
      yield* checkpoints.save(`${c.outDir}/${dataset}/energy.safetensors`, {
        header: {
          format: "dgrl-checkpoint/1",
          architecture: { kind: "toy-energy-network", network: Schema.encodeSync(Qgpo.EnergyNetworkConfig)(energy.network), diffusionSteps: c.diffusionSteps },
          config: Schema.encodeSync(ToyConfig)(c),
          step: c.steps,
          rng: { seed: c.seed, counter: c.steps },
          createdBy: "dgrl toy (QGPO energy, EMA)"
        },
        tensors: [{ name: "ema", shape: [flat.length], data: flat }]
      })
    }

    const key = Rng.split(Rng.named(c.seed, "toy-eval"), dataset)
    const projections = Rng.named(c.seed, "sw2-projections")
    const sw2 = (a: Float64Array, b: Float64Array, trim = 0) => SampleMetrics.slicedWasserstein2(a, b, 2, c.projections, projections, trim)
    const dataSamples = source.reference(0, c.samples, key).target
    const unguided = yield* sampleAt(c, network, model, schedule, range, 0, 0, Rng.split(key, "floor"), box)
    const sw2Floor = sw2(unguided, dataSamples)
    const evaluate = (method: ToyMetric["method"], beta: number, rho: number) =>
      Effect.gen(function*() {
        const reference = source.reference(beta, c.samples, key)
        const { target, noise: [other, noiseTarget] } = reference
        const oracle = ToyData.reweightedSample(data.points, data.energy, beta, c.samples, Rng.split(key, `oracle-${beta}`)).points
        const samples = method === "swg" || energy === undefined
          ? yield* sampleAt(c, network, model, schedule, range, beta, rho, Rng.split(key, `swg-${beta}-${rho}`), box)
          : yield* sampleQgpo(c, { network, model }, energy, schedule, beta, beta === 0 ? 0 : rho, Rng.split(key, `qgpo-${beta}-${rho}`), box)
        let maxDistance = 0
        for (let i = 0; i < c.samples; i++) {
          maxDistance = Math.max(maxDistance, Math.hypot(samples[2 * i] - centre[0], samples[2 * i + 1] - centre[1]))
        }
        const metric: ToyMetric = {
          dataset, method, beta, rho,
          reference: reference.kind,
          sw2: sw2(samples, target),
          sw2Trimmed: sw2(samples, target, c.sw2Trim),
          energyDistance: SampleMetrics.energyDistance(samples, target, 2),
          energyDistanceSampleNoise: SampleMetrics.energyDistance(other, noiseTarget, 2),
          // a sample the sampler clipped onto the box may exceed it by f32 rounding: not counted
          outsideShare: SampleMetrics.shareOutside(samples, 2, box, 1e-6),
          farShare: SampleMetrics.shareBeyond(samples, 2, centre, 1.5 * radius),
          maxRadius: maxDistance / radius,
          sw2Floor,
          sw2Oracle: sw2(oracle, target),
          sw2SampleNoise: sw2(other, noiseTarget)
        }
        metrics.push(metric)
        yield* Console.log(
          `${dataset} ${method} β=${beta} ${method === "swg" ? "ρ" : "s"}=${rho}` +
            `${reference.kind === "exact" ? "" : ` [against the ${ToySource.referenceLabel[reference.kind]}]`}: sw2 ${metric.sw2.toFixed(4)} (floor ${sw2Floor.toFixed(4)}, oracle ${metric.sw2Oracle.toFixed(4)}, ` +
            `noise ${metric.sw2SampleNoise.toFixed(4)}), trimmed ${metric.sw2Trimmed.toFixed(4)}, energy distance ${metric.energyDistance.toFixed(4)}, ` +
            `outside ${percent(metric.outsideShare)}, beyond 1.5 radii ${percent(metric.farShare)}, farthest ${metric.maxRadius.toFixed(2)} radii`
        )
        return { samples, target, kind: reference.kind }
      })
    const panels: Array<{ samples: Float64Array; target: Float64Array; kind: ToySource.ReferenceKind }> = []
    for (const beta of c.betas) panels.push(yield* evaluate("swg", beta, c.guidanceScale))
    const qgpoPanels: Array<Float64Array> = []
    if (energy !== undefined) {
      for (const beta of c.betas) qgpoPanels.push((yield* evaluate("qgpo", beta, c.qgpoScale)).samples)
    }
    for (const rho of c.sweepScales) {
      if (rho !== c.guidanceScale) yield* evaluate("swg", c.sweepBeta, rho)
    }
    if (energy !== undefined) {
      for (const scale of c.qgpoSweepScales) {
        if (scale !== c.qgpoScale) yield* evaluate("qgpo", c.sweepBeta, scale)
      }
    }
    // The bottom row is the reference: one label when every β has the same kind, else each column names its own.
    const kinds = new Set(panels.map((p) => p.kind))
    const [onlyKind] = kinds
    yield* plots.write(`${c.outDir}/${dataset}/samples`, Figure.scatterGrid({
      panels: [panels.map((p) => p.samples), ...(energy === undefined ? [] : [qgpoPanels]), panels.map((p) => p.target)],
      columnTitles: c.betas.map((b, i) => kinds.size === 1 ? `β = ${b}` : `β = ${b} (${ToySource.referenceLabel[panels[i].kind]})`),
      rowLabels: [
        `SWG (ρ = ${c.guidanceScale})`, ...(energy === undefined ? [] : [`QGPO (s = ${c.qgpoScale})`]),
        kinds.size === 1 ? ToySource.referenceLabel[onlyKind] : "reference"
      ],
      limits: limitsOf(panels.map((p) => p.target)),
      title: `${dataset}: ${energy === undefined ? "SWG" : "SWG and QGPO"} samples vs ` +
        (kinds.size === 1 && onlyKind === "data-resampled" ? "its data resampled ∝ exp(β·e(x))" : "exact p(x)·exp(β·e(x))")
    }))
    yield* writeJsonAtomically(`${c.outDir}/metrics.json`, metrics)
  }
  yield* writeTextAtomically(`${c.outDir}/metrics.md`, metricsTable(metrics) + (c.qgpo ? "\n" + comparisonTable(c, metrics) + "\n" + sweepTable(c, metrics) : ""))
  yield* Console.log(metricsTable(metrics))
  if (c.qgpo) yield* Console.log(comparisonTable(c, metrics) + "\n" + sweepTable(c, metrics))
  return metrics
})

const percent = (share: number): string => `${(100 * share).toFixed(2)} %`

/** Axis limits spanning the exact targets (model samples beyond them are not drawn; each panel counts them). */
const limitsOf = (clouds: ReadonlyArray<Float64Array>) => {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity]
  for (const c of clouds) {
    for (let i = 0; i < c.length; i += 2) {
      x0 = Math.min(x0, c[i])
      x1 = Math.max(x1, c[i])
      y0 = Math.min(y0, c[i + 1])
      y1 = Math.max(y1, c[i + 1])
    }
  }
  const mx = 0.1 * (x1 - x0)
  const my = 0.1 * (y1 - y0)
  return { x: { min: x0 - mx, max: x1 + mx }, y: { min: y0 - my, max: y1 + my } }
}

/** The datasets of `metrics`, in order of first appearance. */
const datasetsOf = (metrics: ReadonlyArray<ToyMetric>): Array<string> => [...new Set(metrics.map((m) => m.dataset))]

/**
 * Markdown table: one row per (dataset, method, β, scale). A "reference" column is added when some row is measured
 * against something other than exact target samples (a dataset from a file), so the built-ins' table is unchanged.
 */
export const metricsTable = (metrics: ReadonlyArray<ToyMetric>): string => {
  const labelled = metrics.some((m) => m.reference !== "exact")
  const referenceHeader = labelled ? " reference |" : ""
  return [
    `| dataset | method | β |${referenceHeader} ρ or s | SW2(samples, target) | floor (β=0, unguided) | ratio to floor | oracle | sample noise | trimmed SW2 | energy distance | energy sample noise | outside data range | beyond 1.5 radii | farthest (radii) |`,
    `| --- | --- | --- |${labelled ? " --- |" : ""} --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`,
    ...metrics.map((m) =>
      `| ${m.dataset} | ${m.method} | ${m.beta} |${labelled ? ` ${ToySource.referenceLabel[m.reference]} |` : ""} ${m.rho} | ${m.sw2.toFixed(4)} | ${m.sw2Floor.toFixed(4)} | ${(m.sw2 / m.sw2Floor).toFixed(2)} | ${m.sw2Oracle.toFixed(4)} | ${m.sw2SampleNoise.toFixed(4)} | ` +
      `${m.sw2Trimmed.toFixed(4)} | ${m.energyDistance.toFixed(4)} | ${m.energyDistanceSampleNoise.toFixed(4)} | ${percent(m.outsideShare)} | ${percent(m.farShare)} | ${m.maxRadius.toFixed(2)} |`
    )
  ].join("\n") + "\n"
}

/** SWG (ρ = `guidanceScale`) and QGPO (s = `qgpoScale`) side by side: one row per (dataset, β). */
export const comparisonTable = (c: ToyConfig, metrics: ReadonlyArray<ToyMetric>): string => {
  const find = (method: ToyMetric["method"], dataset: string, beta: number, scale: number) =>
    metrics.find((m) => m.method === method && m.dataset === dataset && m.beta === beta && m.rho === scale)
  const rows: Array<string> = []
  for (const dataset of datasetsOf(metrics)) {
    for (const beta of c.betas) {
      const swg = find("swg", dataset, beta, c.guidanceScale)
      const qgpo = find("qgpo", dataset, beta, c.qgpoScale)
      if (swg === undefined || qgpo === undefined) continue
      rows.push(
        `| ${dataset} | ${beta} | ${swg.sw2Floor.toFixed(3)} | ${swg.sw2.toFixed(3)} | ${qgpo.sw2.toFixed(3)} | ` +
          `${swg.energyDistance.toFixed(4)} / ${qgpo.energyDistance.toFixed(4)} | ${swg.sw2Oracle.toFixed(3)} | ${swg.sw2SampleNoise.toFixed(3)} | ` +
          `${percent(swg.outsideShare)} / ${percent(qgpo.outsideShare)} | ${percent(swg.farShare)} / ${percent(qgpo.farShare)} |`
      )
    }
  }
  return [
    `| dataset | β | floor (β=0, unguided) | SW2 SWG (ρ=${c.guidanceScale}) | SW2 QGPO (s=${c.qgpoScale}) | energy distance SWG / QGPO | oracle | sample noise | outside data range SWG / QGPO | beyond 1.5 radii SWG / QGPO |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows
  ].join("\n") + "\n"
}

/** SW2 at `sweepBeta` over each method's guidance scales (SWG's ρ, QGPO's s): one row per (dataset, method). */
export const sweepTable = (c: ToyConfig, metrics: ReadonlyArray<ToyMetric>): string => {
  const scales = [...new Set([...c.sweepScales, c.guidanceScale, ...c.qgpoSweepScales, c.qgpoScale])].sort((a, b) => a - b)
  const rows = datasetsOf(metrics).flatMap((dataset) =>
    (["swg", "qgpo"] as const).map((method) =>
      `| ${dataset} | ${method} | ` +
      scales.map((scale) => {
        const m = metrics.find((x) => x.method === method && x.dataset === dataset && x.beta === c.sweepBeta && x.rho === scale)
        return m === undefined ? "—" : m.sw2.toFixed(3)
      }).join(" | ") + " |"
    )
  )
  return [
    `| β = ${c.sweepBeta}: SW2 at scale | method | ${scales.map((s) => `${s}`).join(" | ")} |`,
    `| --- | --- | ${scales.map(() => "---").join(" | ")} |`,
    ...rows
  ].join("\n") + "\n"
}
