/**
 * The Policy-Guided Diffusion illustration (Jackson et al. 2024, Figs. 2–3) on a 2-D point mass whose target
 * distribution p_off(τ)·q_target(τ)^λ can be sampled exactly (`datagen/PointMass.ts`): behaviour data steer to
 * one goal, a known Gaussian target policy to another. A trajectory model (temporal U-Net + EDM) is trained on
 * the behaviour windows and sampled with policy guidance at several coefficients λ. For each, the program
 * measures how far the samples moved towards the target: the mean log-likelihood of their actions under the
 * target and the behaviour policies, where they end, the dynamics error ‖s_{t+1} − s_t − a_t‖, and which exponent
 * λ* of the exact family p_off·π_target^{λ*} they resemble most (energy distance over whole state paths).
 *
 * The guidance is the reference's additive shift with its λ_k schedule, not a σ²-scaled score, so its
 * coefficient is not the exponent of the distribution it samples; λ* is that exponent, measured.
 *
 * Beside the trained model the same guided sampler runs on a near-exact behaviour denoiser: the Gaussian fitted
 * to the training windows (mean m, covariance C of the normalised [H·channels] vectors), whose denoiser is
 * D(x; σ) = m + C(C + σ²I)⁻¹(x − m). The point mass's trajectories are linear-Gaussian in (s, a) and ã = atanh(a)
 * is nearly linear at these action sizes, so this separates what the guidance does from the model's error.
 */
import { Console, Effect, Result, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Figure from "../domain/Figure.ts"
import * as Rng from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Edm from "../diffusion/Edm.ts"
import * as SampleMetrics from "../domain/SampleMetrics.ts"
import * as PointMass from "../datagen/PointMass.ts"
import * as Trajectories from "../data/Trajectories.ts"
import * as PolicyGuidance from "../diffusion/PolicyGuidance.ts"
import * as TrajectoryModel from "../diffusion/TrajectoryModel.ts"
import { Backend } from "../services/Backend.ts"
import { writeJsonAtomically, writeTextAtomically } from "../services/Files.ts"
import { Plots } from "../services/Plots.ts"

const Point = Schema.Tuple([Schema.Finite, Schema.Finite])

export class PgdToyConfig extends Schema.Class<PgdToyConfig>("PgdToyConfig")({
  // ---- task
  /** Steps per trajectory = H, the model's window (divisible by 2^(depth − 1)). */
  horizon: Config.PositiveInt.pipe(Config.withDefault(16)),
  /** Behaviour episodes (one window each). */
  episodes: Config.PositiveInt.pipe(Config.withDefault(1000)),
  /** k, both policies' gain towards their goal. */
  gain: Config.PositiveFinite.pipe(Config.withDefault(0.15)),
  behaviourGoal: Point.pipe(Config.withDefault([2, 0] as const)),
  targetGoal: Point.pipe(Config.withDefault([0, 2] as const)),
  behaviourStd: Config.PositiveFinite.pipe(Config.withDefault(0.1)),
  targetStd: Config.PositiveFinite.pipe(Config.withDefault(0.1)),
  startStd: Config.PositiveFinite.pipe(Config.withDefault(0.05)),
  // ---- model
  model: TrajectoryModel.TrajectoryModelConfig.pipe(Config.withDefault({
    width: 32, depth: 3, groups: 8, residual: true, steps: 3000, batch: 32, lr: 2e-3, emaDecay: 0.995, emaEvery: 10,
    edm: { steps: 64 }
  })),
  // ---- guidance and evaluation
  /** Guidance coefficients λ to sample with (0: unguided). */
  lambdas: Schema.Array(Schema.Finite).pipe(Config.withDefault([0, 0.01, 0.03, 0.1, 0.3, 1])),
  /** Also sample with the Gaussian fit of the behaviour windows as the denoiser (a near-exact behaviour model). */
  gaussianOracle: Schema.Boolean.pipe(Config.withDefault(true)),
  /** Normalise the guidance per trajectory (the reference's flag, off by default). */
  normalise: Schema.Boolean.pipe(Config.withDefault(false)),
  /** Exponents λ* of the exact family p_off·π_target^λ* the samples are compared with. */
  exponents: Schema.Array(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))).pipe(Config.withDefault([0, 0.25, 0.5, 1, 2, 4, 8, 16])),
  /** Trajectories per λ (and per exact exponent). */
  samples: Config.PositiveInt.pipe(Config.withDefault(400)),
  /** Log the training loss every this many steps. */
  logEvery: Config.PositiveInt.pipe(Config.withDefault(250)),
  seed: Config.NonNegativeInt.pipe(Config.withDefault(0)),
  outDir: Schema.String.pipe(Config.withDefault("out/pgd-toy"))
}) {}

/** What one set of trajectories looks like to the target and behaviour policies. */
export interface TrajectoryStats {
  /** Mean over actions of log π_target(a_t | s_t) and log π_off(a_t | s_t). */
  readonly targetLogLikelihood: number
  readonly behaviourLogLikelihood: number
  /** Mean final position s_{H−1}. */
  readonly finalPosition: readonly [number, number]
  /** √ mean ‖s_{t+1} − s_t − a_t‖² over transitions (0 for exact rollouts). */
  readonly dynamicsRmse: number
}

export interface GuidedRow extends TrajectoryStats {
  /** The trained trajectory model, or the Gaussian fit of the behaviour windows. */
  readonly denoiser: "model" | "gaussian fit"
  readonly lambda: number
  /** The exact exponent whose samples are nearest in energy distance, and that distance. */
  readonly bestExponent: number
  readonly energyDistance: number
  /** Energy distance to the exact behaviour distribution (λ* = 0). */
  readonly energyDistanceToBehaviour: number
}

export interface ExactRow extends TrajectoryStats {
  readonly exponent: number
  /** Energy distance between two independent exact sample sets: the metric's noise. */
  readonly sampleNoise: number
}

export interface PgdToySummary {
  readonly guided: ReadonlyArray<GuidedRow>
  readonly exact: ReadonlyArray<ExactRow>
  readonly finalLoss: number
  readonly trainWindows: number
  readonly figure: string
}

/** Transitions (s, a, s') in f64 of `count` trajectories of `horizon` positions (positions [count, H, 2], actions [count, H − 1, 2]). */
interface Paths {
  readonly count: number
  readonly horizon: number
  readonly positions: Float64Array
  readonly actions: Float64Array
}

const statsOf = (task: PointMass.PointMassTask, p: Paths): TrajectoryStats => {
  const h = p.horizon
  let [target, behaviour, sq, n] = [0, 0, 0, 0]
  const final = [0, 0]
  for (let i = 0; i < p.count; i++) {
    for (let t = 0; t < h - 1; t++) {
      const s = p.positions.subarray((i * h + t) * 2, (i * h + t) * 2 + 2)
      const next = p.positions.subarray((i * h + t + 1) * 2, (i * h + t + 1) * 2 + 2)
      const a = p.actions.subarray((i * (h - 1) + t) * 2, (i * (h - 1) + t) * 2 + 2)
      target += PointMass.logLikelihood(task, task.targetGoal, task.targetStd, s, a)
      behaviour += PointMass.logLikelihood(task, task.behaviourGoal, task.behaviourStd, s, a)
      sq += (next[0] - s[0] - a[0]) ** 2 + (next[1] - s[1] - a[1]) ** 2
      n++
    }
    final[0] += p.positions[(i * h + h - 1) * 2] / p.count
    final[1] += p.positions[(i * h + h - 1) * 2 + 1] / p.count
  }
  return { targetLogLikelihood: target / n, behaviourLogLikelihood: behaviour / n, finalPosition: [final[0], final[1]], dynamicsRmse: Math.sqrt(sq / n) }
}

/** Exact rollouts of π_λ with H positions. */
const exactPaths = (task: PointMass.PointMassTask, lambda: number, count: number, key: Rng.RngKey): Paths => {
  const r = PointMass.rollouts({ ...task, horizon: task.horizon - 1 }, lambda, count, key)
  return { count, horizon: task.horizon, positions: r.positions, actions: r.actions }
}

/** Decoded model samples as paths: the states of all H rows and the actions of the first H − 1. */
const decodedPaths = (t: Trajectories.Transitions, count: number, horizon: number): Paths => {
  const positions = new Float64Array(count * horizon * 2)
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < horizon - 1; k++) positions.set(t.observations.subarray((i * (horizon - 1) + k) * 2, (i * (horizon - 1) + k) * 2 + 2), (i * horizon + k) * 2)
    const last = (i * (horizon - 1) + horizon - 2) * 2
    positions.set(t.nextObservations.subarray(last, last + 2), (i * horizon + horizon - 1) * 2)
  }
  return { count, horizon, positions, actions: Float64Array.from(t.actions) }
}

const fmt = (x: number, digits = 3) => x.toFixed(digits)

/** Mean [d] and covariance [d, d] (population) of `count` vectors of `d` values, in f64. */
const gaussianFit = (data: ArrayLike<number>, count: number, d: number) => {
  const mean = new Float64Array(d)
  for (let i = 0; i < count; i++) for (let j = 0; j < d; j++) mean[j] += data[i * d + j] / count
  const cov = new Float64Array(d * d)
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < d; j++) {
      const u = data[i * d + j] - mean[j]
      for (let k = 0; k < d; k++) cov[j * d + k] += (u * (data[i * d + k] - mean[k])) / count
    }
  }
  return { mean, cov }
}

/** C(C + σ²I)⁻¹ by Gauss–Jordan elimination with partial pivoting, in f64 (C symmetric positive semi-definite). */
const shrinkage = (cov: Float64Array, d: number, sigma: number): Float64Array => {
  // Solve (C + σ²I)·Y = C; then C(C + σ²I)⁻¹ = Yᵀ by symmetry.
  const a = Float64Array.from(cov, (v, i) => v + (i % (d + 1) === 0 ? sigma * sigma : 0))
  const y = Float64Array.from(cov)
  for (let col = 0; col < d; col++) {
    let pivot = col
    for (let r = col + 1; r < d; r++) if (Math.abs(a[r * d + col]) > Math.abs(a[pivot * d + col])) pivot = r
    for (const m of [a, y]) {
      for (let k = 0; k < d; k++) {
        const t = m[col * d + k]
        m[col * d + k] = m[pivot * d + k]
        m[pivot * d + k] = t
      }
    }
    const inv = 1 / a[col * d + col]
    for (let k = 0; k < d; k++) {
      a[col * d + k] *= inv
      y[col * d + k] *= inv
    }
    for (let r = 0; r < d; r++) {
      if (r === col) continue
      const f = a[r * d + col]
      if (f === 0) continue
      for (let k = 0; k < d; k++) {
        a[r * d + k] -= f * a[col * d + k]
        y[r * d + k] -= f * y[col * d + k]
      }
    }
  }
  return Float64Array.from({ length: d * d }, (_, i) => y[(i % d) * d + Math.floor(i / d)])
}

/** The exact denoiser of N(m, C) over vectors of `length` rows: D(x; σ) = m + (x − m)·(C(C + σ²I)⁻¹)ᵀ. */
const gaussianDenoiser = (B: TensorBackend, fit: { readonly mean: Float64Array; readonly cov: Float64Array }, length: number): Edm.Denoiser => {
  const d = fit.mean.length
  const mean = B.upload(Float32Array.from(fit.mean), 1, d)
  return (x: Tensor, sigma: number) => {
    const flat = B.view(x, 0, x.rows / length, d)
    const a = B.upload(Float32Array.from(shrinkage(fit.cov, d, sigma)), d, d)
    const out = B.binary("add", B.matmul(B.binary("sub", flat, mean), a, { transB: true }).out, mean)
    return B.view(out, 0, x.rows, x.cols)
  }
}

export const table = (s: Pick<PgdToySummary, "guided" | "exact">): string => [
  "| denoiser | guidance λ | target log-lik | behaviour log-lik | final position | dynamics RMSE | nearest exact λ* | energy distance to λ* | to behaviour (λ* = 0) |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ...s.guided.map((r) =>
    `| ${r.denoiser} | ${r.lambda} | ${fmt(r.targetLogLikelihood, 2)} | ${fmt(r.behaviourLogLikelihood, 2)} | (${fmt(r.finalPosition[0], 2)}, ${fmt(r.finalPosition[1], 2)}) | ${fmt(r.dynamicsRmse, 4)} | ${r.bestExponent} | ${fmt(r.energyDistance, 4)} | ${fmt(r.energyDistanceToBehaviour, 4)} |`),
  "",
  "| exact p_off·π_target^λ*, λ* | target log-lik | behaviour log-lik | final position | energy distance, exact vs exact |",
  "| --- | --- | --- | --- | --- |",
  ...s.exact.map((r) =>
    `| ${r.exponent} | ${fmt(r.targetLogLikelihood, 2)} | ${fmt(r.behaviourLogLikelihood, 2)} | (${fmt(r.finalPosition[0], 2)}, ${fmt(r.finalPosition[1], 2)}) | ${fmt(r.sampleNoise, 4)} |`)
].join("\n") + "\n"

export const pgdToy = Effect.fn("pgdToy")(function*(c: PgdToyConfig) {
  const backend = yield* Backend
  const plots = yield* Plots
  const B = backend.ops
  const task: PointMass.PointMassTask = {
    gain: c.gain, behaviourGoal: c.behaviourGoal, targetGoal: c.targetGoal,
    behaviourStd: c.behaviourStd, targetStd: c.targetStd, startStd: c.startStd, horizon: c.horizon
  }
  const dataset = PointMass.behaviourDataset(task, c.episodes, Rng.named(c.seed, "pgd-toy/data"))
  const built = Trajectories.build(dataset, { length: c.horizon, stride: 8, holdoutShare: 0.05 }, Rng.named(c.seed, "pgd-toy/split"))
  if (Result.isFailure(built)) return yield* built.failure
  const data = built.success
  const channels = Trajectories.channelCount(data.channels)
  yield* Console.log(`point mass: ${c.episodes} behaviour episodes, ${data.train.count} training windows of ${c.horizon} steps, ${channels} channels`)

  // ---- train
  const windows = yield* backend.run((ops) => ops.upload(data.train.data, data.train.count * c.horizon, channels))
  const model = yield* backend.run((ops) => TrajectoryModel.create(ops, c.model, channels, Rng.named(c.seed, "pgd-toy/init")))
  yield* Console.log(`trajectory model: U-Net width ${c.model.width}, depth ${c.model.depth}, ${model.layout.count} parameters, ${c.model.steps} steps (${B.description})`)
  const trainKey = Rng.named(c.seed, "pgd-toy/train")
  let finalLoss = Number.NaN
  for (let step = 0; step < c.model.steps; step++) {
    const loss = yield* backend.run((ops) => TrajectoryModel.trainStep(ops, model, c.model, windows, c.horizon, step, trainKey))
    if ((step + 1) % c.logEvery === 0 || step === c.model.steps - 1) {
      finalLoss = (yield* backend.read(loss))[0]
      yield* Console.log(`step ${step + 1}/${c.model.steps}  loss ${finalLoss.toFixed(4)}`)
    }
    B.dispose(loss)
  }

  // ---- exact family
  const exact = new Map<number, Paths>()
  const exactRows: Array<ExactRow> = []
  for (const [i, exponent] of c.exponents.entries()) {
    const paths = exactPaths(task, exponent, c.samples, Rng.named(c.seed, `pgd-toy/exact/${i}`))
    const twin = exactPaths(task, exponent, c.samples, Rng.named(c.seed, `pgd-toy/exact-twin/${i}`))
    exact.set(exponent, paths)
    exactRows.push({ exponent, ...statsOf(task, paths), sampleNoise: SampleMetrics.energyDistance(paths.positions, twin.positions, 2 * c.horizon) })
  }

  // ---- guided sampling
  const target = PolicyGuidance.gaussianAroundActor(
    (tape, states) => tape.affine(tape.sub(tape.leaf(B.upload(Float32Array.from(c.targetGoal), 1, 2)), states), c.gain),
    c.targetStd
  )
  const frame: PolicyGuidance.TrajectoryFrame = { channels: data.channels, normalisation: data.normalisation, length: c.horizon }
  const guided: Array<GuidedRow> = []
  const panels: Array<Figure.Points> = []
  const nearestPanels: Array<Figure.Points> = []
  const oraclePanels: Array<Figure.Points> = []
  const fit = gaussianFit(data.train.data, data.train.count, c.horizon * channels)
  const settings = Edm.samplerSettings(c.model.edm)
  const runs = [
    ...c.lambdas.map((lambda, i) => ({ denoiser: "model" as const, lambda, i })),
    ...(c.gaussianOracle ? c.lambdas.map((lambda, i) => ({ denoiser: "gaussian fit" as const, lambda, i })) : [])
  ]
  for (const { denoiser, lambda, i } of runs) {
    const guidance = PolicyGuidance.policyGuidanceConfig({ coefficient: lambda, normalise: c.normalise })
    const key = Rng.named(c.seed, `pgd-toy/sample/${i}`)
    const out = yield* backend.run((ops) => {
      const guide = lambda === 0 ? {} : { guide: PolicyGuidance.guide(ops, target, frame, guidance) }
      if (denoiser === "model") {
        return TrajectoryModel.sample(ops, model, c.model, { count: c.samples, length: c.horizon, channels, key, ...guide })
      }
      const x0 = Edm.initialNoise(ops, c.samples * c.horizon, channels, settings.sigmas[0], Rng.split(key, "x0"))
      return Edm.sample({ backend: ops, denoiser: gaussianDenoiser(ops, fit, c.horizon), ...settings, key: Rng.split(key, "churn"), ...guide }, x0)
    })
    const values = yield* backend.read(out)
    B.dispose(out)
    const paths = decodedPaths(Trajectories.decode(values, c.samples, c.horizon, data.channels, data.normalisation), c.samples, c.horizon)
    const distances = c.exponents.map((e) => SampleMetrics.energyDistance(paths.positions, exact.get(e)!.positions, 2 * c.horizon))
    const best = distances.indexOf(Math.min(...distances))
    const behaviour = exact.get(0)
    const row: GuidedRow = {
      denoiser,
      lambda,
      ...statsOf(task, paths),
      bestExponent: c.exponents[best],
      energyDistance: distances[best],
      energyDistanceToBehaviour: behaviour === undefined
        ? SampleMetrics.energyDistance(paths.positions, exactPaths(task, 0, c.samples, Rng.named(c.seed, "pgd-toy/behaviour")).positions, 2 * c.horizon)
        : SampleMetrics.energyDistance(paths.positions, behaviour.positions, 2 * c.horizon)
    }
    guided.push(row)
    if (denoiser === "model") {
      panels.push(paths.positions)
      nearestPanels.push(exact.get(row.bestExponent)!.positions)
    } else {
      oraclePanels.push(paths.positions)
    }
    yield* Console.log(`${denoiser}, λ = ${lambda}: target log-lik ${fmt(row.targetLogLikelihood, 2)}, final position (${fmt(row.finalPosition[0], 2)}, ${fmt(row.finalPosition[1], 2)}), nearest exact λ* = ${row.bestExponent}`)
  }

  // ---- outputs
  const svg = Figure.scatterGrid({
    panels: [panels, nearestPanels, ...(c.gaussianOracle ? [oraclePanels] : [])],
    columnTitles: c.lambdas.map((l, i) => `λ = ${l} (λ* = ${guided[i].bestExponent})`),
    rowLabels: ["PGD, trained model", "exact, nearest λ*", ...(c.gaussianOracle ? ["PGD, Gaussian fit"] : [])],
    title: `Policy-guided diffusion on a point mass: behaviour goal (${c.behaviourGoal.join(", ")}), target goal (${c.targetGoal.join(", ")})`,
    pointOpacity: 0.15,
    pointRadius: 0.9
  })
  const files = yield* plots.write(`${c.outDir}/pgd-toy`, svg)
  const summary: PgdToySummary = { guided, exact: exactRows, finalLoss, trainWindows: data.train.count, figure: files.png }
  const markdown = table(summary)
  yield* writeJsonAtomically(`${c.outDir}/metrics.json`, { config: Schema.encodeSync(PgdToyConfig)(c), ...summary })
  yield* writeTextAtomically(`${c.outDir}/metrics.md`, markdown)
  yield* Console.log(markdown)
  yield* Console.log(`figure: ${files.png}; metrics: ${c.outDir}/metrics.json`)
  return summary
})
