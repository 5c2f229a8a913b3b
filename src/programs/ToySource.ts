/**
 * What the toy program trains on and measures against: a named set of labelled 2-D points (x, e(x)), and for each
 * β the reference samples of p(x)·exp(β·e(x))/Z that the model's samples are compared with. Three kinds of
 * reference, named in every metrics row:
 * - "exact": a built-in dataset's exact target sampler (`ToyData.sampleTarget`), two independent draws of n;
 * - "target-file": the rows of a `--target` file for that β (all of them), its noise pair two halves of them split
 *   at random (each half has n_β/2 rows, so that noise is larger than the noise of the full set);
 * - "data-resampled": without exact samples, the data's own points resampled ∝ exp(β·e) (the toy table's "oracle"),
 *   two independent draws of n. This measures the model against the empirical tilted distribution of the very
 *   points it was trained on, so the oracle column then equals that reference's own resampling noise.
 */
import { basename, extname } from "node:path"
import { Effect, Schema } from "effect"
import * as PointsCsv from "../data/PointsCsv.ts"
import * as Rng from "../domain/Rng.ts"
import * as ToyData from "../domain/ToyData.ts"

/** Which reference a metrics row is measured against (see the module comment). */
export const ReferenceKind = Schema.Literals(["exact", "target-file", "data-resampled"])
export type ReferenceKind = typeof ReferenceKind.Type

/** How figures and logs name each kind of reference. */
export const referenceLabel: Readonly<Record<ReferenceKind, string>> = {
  exact: "exact target",
  "target-file": "exact target (file)",
  "data-resampled": "data resampled ∝ exp(β·e)"
}

/** The reference at one β: `target` [m, 2], and a pair of independent reference sets whose distance is the metric's noise. */
export interface Reference {
  readonly kind: ReferenceKind
  readonly target: Float64Array
  readonly noise: readonly [Float64Array, Float64Array]
}

/** A dataset the toy program runs on. */
export interface ToySource {
  /** The dataset's name: its output directory, its rows' `dataset`, and the name its random streams are split by. */
  readonly name: string
  /** Where the points come from, for the log. */
  readonly origin: string
  /** The training points [n, 2] and their energies [n]. */
  readonly data: ToyData.ToySample
  /** The reference at β, `n` samples where it is drawn (`key`: the dataset's evaluation key). */
  readonly reference: (beta: number, n: number, key: Rng.RngKey) => Reference
}

/** A dataset name usable as a directory: letters, digits, `.`, `_`, `-`. */
export const ToyName = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9._-]+$/, {
  message: "a toy dataset name (--name, or the data file's base name) may hold only letters, digits, '.', '_' and '-'"
}))

/** One of the six built-in datasets: `dataSize` points from its generator, its exact target sampler. */
export const builtIn = (c: { readonly seed: number; readonly dataSize: number }, dataset: ToyData.ToyDataset): ToySource => ({
  name: dataset,
  origin: "built-in generator",
  data: ToyData.generate(dataset, c.dataSize, Rng.split(Rng.named(c.seed, "toy-data"), dataset)),
  reference: (beta, n, key) => {
    const target = ToyData.sampleTarget(dataset, beta, n, Rng.split(key, `target-${beta}`)).points
    const other = ToyData.sampleTarget(dataset, beta, n, Rng.split(key, `target2-${beta}`)).points
    return { kind: "exact", target, noise: [other, target] }
  }
})

/** Rows of `points` [m, 2] split into two halves (⌊m/2⌋ and the rest) by a random permutation from `key`. */
export const randomHalves = (points: Float64Array, key: Rng.RngKey): readonly [Float64Array, Float64Array] => {
  const m = points.length / 2
  const u = new Float64Array(m)
  Rng.fillUniform(key, u)
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => u[a] - u[b] || a - b)
  const half = Math.floor(m / 2)
  const take = (rows: Array<number>) => {
    const out = new Float64Array(2 * rows.length)
    rows.forEach((r, i) => {
      out[2 * i] = points[2 * r]
      out[2 * i + 1] = points[2 * r + 1]
    })
    return out
  }
  return [take(order.slice(0, half)), take(order.slice(half))]
}

/**
 * A dataset given as points: exact references for the β values `targets` holds ("target-file"), the data
 * resampled ∝ exp(β·e) for every other β ("data-resampled").
 */
export const fromSample = (
  name: string,
  origin: string,
  data: ToyData.ToySample,
  targets: ReadonlyMap<number, PointsCsv.TargetSamples> = new Map()
): ToySource => ({
  name,
  origin,
  data,
  reference: (beta, n, key) => {
    const exact = targets.get(beta)
    if (exact !== undefined) return { kind: "target-file", target: exact.points, noise: randomHalves(exact.points, Rng.split(key, `target-halves-${beta}`)) }
    const target = ToyData.reweightedSample(data.points, data.energy, beta, n, Rng.split(key, `target-${beta}`)).points
    const other = ToyData.reweightedSample(data.points, data.energy, beta, n, Rng.split(key, `target2-${beta}`)).points
    return { kind: "data-resampled", target, noise: [other, target] }
  }
})

/** A dataset name from a file name: its base name without the extension (`data/my-density.csv` → `my-density`). */
export const nameOf = (path: string): string => basename(path, extname(path))

/**
 * `toy --data FILE [--target FILE] [--name NAME]`: the data file's points (`PointsCsv.readPoints`) and the target
 * file's exact samples for the β values of `betas` it holds (`PointsCsv.readTargets`), named `name` or after the file.
 */
export const fromFiles = Effect.fn("ToySource.fromFiles")(function*(options: {
  readonly data: string
  readonly target?: string | undefined
  readonly name?: string | undefined
  readonly betas: ReadonlyArray<number>
}) {
  const name = yield* Schema.decodeUnknownEffect(ToyName)(options.name ?? nameOf(options.data))
  const data = yield* PointsCsv.readPoints(options.data)
  const targets = options.target === undefined ? new Map<number, PointsCsv.TargetSamples>() : yield* PointsCsv.readTargets(options.target, options.betas)
  const origin = `${options.data} (${data.energy.length} points)` + (options.target === undefined ? "" : `, exact targets from ${options.target}`)
  return fromSample(name, origin, data, targets)
})
