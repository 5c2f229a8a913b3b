/**
 * Does a diffusion behaviour model reproduce the data's policy? Measured at the action level, not
 * by returns, in two ways:
 *
 *  - `lossByStep`: the ε-prediction error E‖ε_θ(z_t, s, t) − ε‖² at every diffusion step t on
 *    transitions the model did not train on, with the action coordinates and the weight coordinate
 *    reported apart (the same quantity as the training loss, SWG eq. 17, but per noise level).
 *  - `actionFit`: at probe states, the model's sampled actions against the data's actions at the k
 *    nearest data states (Euclidean distance after standardising each state dimension): the sliced
 *    W2 between the two clouds and, per action dimension, the gap between their 10/50/90 % quantiles.
 *    Two reference rows make the numbers readable: the neighbours split into two random halves (how
 *    finely k actions resolve a distribution: a perfect model scores about this) and actions drawn
 *    from the whole dataset regardless of state (what a model that ignores the state scores).
 *
 * The neighbour actions stand in for π_β(· | s): they are actions at nearby, not identical, states,
 * so even a perfect model sits somewhat above the halves' floor.
 */
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import * as NoiseSchedule from "../domain/NoiseSchedule.ts"
import * as SampleMetrics from "../domain/SampleMetrics.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as EpsNetwork from "../diffusion/EpsNetwork.ts"
import * as Model from "../nn/Model.ts"

/** The ε-prediction error at one diffusion step, averaged over rows and over the coordinates named. */
export interface StepLoss {
  readonly step: number
  /** σ_t of the step (noise level of z_t = α_t·z₀ + σ_t·ε). */
  readonly sigma: number
  /** Mean over the action coordinates of (ε̂ − ε)². */
  readonly action: number
  /** (ε̂ − ε)² of the weight coordinate (the last one). */
  readonly weight: number
}

/**
 * ε-prediction error per diffusion step on z₀ [N, A+1] given conditions [N, S], with the sampling
 * parameters (EMA where the model has them) and no dropout. Noise is drawn from `key`, the same for
 * every step, so differences between steps are the noise level's alone.
 */
export const lossByStep = async (
  B: TensorBackend,
  model: Model.Model,
  network: EpsNetwork.EpsNetworkConfig,
  schedule: NoiseSchedule.Discrete,
  z0: Tensor,
  condition: Tensor,
  key: RngKey
): Promise<Array<StepLoss>> => {
  const { alpha, sigma } = NoiseSchedule.scales(schedule)
  const D = z0.cols
  const eps = B.normal(z0.rows, D, key)
  const out: Array<StepLoss> = []
  for (let t = 0; t < schedule.steps; t++) {
    const squared = B.scope(() => {
      const zt = B.binary("add", B.affine(z0, alpha[t], 0), B.affine(eps, sigma[t], 0))
      const p = Model.bind(B, model)
      const time = B.fill(z0.rows, 1, t)
      const prediction = EpsNetwork.apply(p, network, p.tape.leaf(zt), p.tape.leaf(condition), p.tape.leaf(time))
      const error = B.binary("sub", prediction.value, eps)
      // Over the rows: one mean per coordinate ([1, D]); "cols" would give one per row and keep the first D rows.
      return B.reduce("mean", "rows", B.binary("mul", error, error))
    })
    const perColumn = await B.read(squared)
    B.dispose(squared)
    let action = 0
    for (let d = 0; d < D - 1; d++) action += perColumn[d]
    out.push({ step: t, sigma: sigma[t], action: action / (D - 1), weight: perColumn[D - 1] })
  }
  B.dispose(eps)
  return out
}

/** Per-dimension scale of states [N, S]: the standard deviation, 1 where it is 0. */
export const stateScales = (states: Float32Array, dim: number): Float64Array => {
  const n = states.length / dim
  const mean = new Float64Array(dim)
  const square = new Float64Array(dim)
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      const v = states[i * dim + d]
      mean[d] += v
      square[d] += v * v
    }
  }
  return mean.map((m, d) => {
    const variance = square[d] / n - (m / n) ** 2
    return variance > 0 ? Math.sqrt(variance) : 1
  })
}

/**
 * Indices of the k rows of `states` [N, S] nearest `probe` [S] in the scaled Euclidean distance
 * (exhaustive search; ties by index), nearest first.
 */
export const nearestRows = (probe: ArrayLike<number>, states: Float32Array, dim: number, scales: Float64Array, k: number): Array<number> => {
  const n = states.length / dim
  if (k > n) throw new RangeError(`nearestRows: k = ${k} exceeds the ${n} rows`)
  // A max-heap of the k best so far would do; k ≪ N and a sorted insert keeps it short.
  const bestIndex: Array<number> = []
  const bestDistance: Array<number> = []
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let d = 0; d < dim; d++) s += ((states[i * dim + d] - probe[d]) / scales[d]) ** 2
    if (bestIndex.length === k && s >= bestDistance[k - 1]) continue
    let at = bestIndex.length === k ? k - 1 : bestIndex.length
    if (bestIndex.length === k) {
      bestIndex.pop()
      bestDistance.pop()
    }
    while (at > 0 && bestDistance[at - 1] > s) at--
    bestIndex.splice(at, 0, i)
    bestDistance.splice(at, 0, s)
  }
  return bestIndex
}

/** Linear-interpolation quantile q ∈ [0, 1] of column `d` of points [n, dim]. */
export const columnQuantile = (points: ArrayLike<number>, dim: number, d: number, q: number): number => {
  const n = points.length / dim
  const column = Float64Array.from({ length: n }, (_, i) => points[i * dim + d]).sort()
  const at = q * (n - 1)
  const lo = Math.floor(at)
  const hi = Math.min(lo + 1, n - 1)
  return column[lo] + (at - lo) * (column[hi] - column[lo])
}

export const Quantiles = [0.1, 0.5, 0.9] as const

/** How far one cloud of actions is from another. */
export interface CloudGap {
  /** Sliced W2 between the clouds. */
  readonly slicedW2: number
  /** Mean over action dimensions of |quantile_q(a) − quantile_q(b)|, for q in `Quantiles`. */
  readonly quantileGap: readonly [number, number, number]
  /**
   * The 10–90 % ranges of a, summed over action dimensions, over those of b: below 1 the first
   * cloud is narrower than the second, above 1 wider (the sign the quantile gaps do not show).
   */
  readonly spreadRatio: number
}

export const cloudGap = (a: ArrayLike<number>, b: ArrayLike<number>, dim: number, projections: number, key: RngKey): CloudGap => {
  const gaps = Quantiles.map((q) => {
    let s = 0
    for (let d = 0; d < dim; d++) s += Math.abs(columnQuantile(a, dim, d, q) - columnQuantile(b, dim, d, q))
    return s / dim
  })
  const range = (x: ArrayLike<number>, d: number) => columnQuantile(x, dim, d, 0.9) - columnQuantile(x, dim, d, 0.1)
  // A ratio of sums: a dimension whose actions sit at the clip bound has range 0 in both clouds.
  let spreadA = 0
  let spreadB = 0
  for (let d = 0; d < dim; d++) {
    spreadA += range(a, d)
    spreadB += range(b, d)
  }
  return {
    slicedW2: SampleMetrics.slicedWasserstein2(Float64Array.from(a), Float64Array.from(b), dim, projections, key),
    quantileGap: [gaps[0], gaps[1], gaps[2]],
    spreadRatio: spreadB > 0 ? spreadA / spreadB : spreadA > 0 ? Infinity : 1
  }
}

/** The mean gap over probes of the model, and of the two references. */
export interface ActionFit {
  readonly probes: number
  /** Neighbours per probe, split in two halves A and B; every cloud is compared with half B. */
  readonly neighbours: number
  /** Points in each compared cloud (half the neighbours). */
  readonly cloudSize: number
  /** Model samples against half B. */
  readonly model: CloudGap
  /** Half A against half B: what a perfect model of the neighbours' actions would score. */
  readonly halves: CloudGap
  /** Actions drawn from the whole dataset against half B: a policy that ignores the state. */
  readonly stateBlind: CloudGap
}

const meanGap = (gaps: ReadonlyArray<CloudGap>): CloudGap => {
  const m = (f: (g: CloudGap) => number) => gaps.reduce((s, g) => s + f(g), 0) / gaps.length
  return {
    slicedW2: m((g) => g.slicedW2),
    quantileGap: [m((g) => g.quantileGap[0]), m((g) => g.quantileGap[1]), m((g) => g.quantileGap[2])],
    spreadRatio: m((g) => g.spreadRatio)
  }
}

/**
 * The action-level fit at `sampled.length` probe states: `sampled[p]` holds the model's actions at
 * probe p ([n, A] flat, n ≥ k/2), `neighbourActions[p]` the data's actions at its k nearest states
 * ([k, A]), `allActions` every data action ([N, A]) for the state-blind reference. The neighbours are
 * split at random into halves A and B of k/2; the model's first k/2 samples, half A and k/2 random
 * dataset actions are each compared with half B, so all three gaps carry the same sample-size bias.
 */
export const actionFit = (
  sampled: ReadonlyArray<Float64Array>,
  neighbourActions: ReadonlyArray<Float64Array>,
  allActions: Float32Array,
  actionDim: number,
  key: RngKey,
  projections = 64
): ActionFit => {
  if (sampled.length !== neighbourActions.length) throw new RangeError(`actionFit: ${sampled.length} sample sets for ${neighbourActions.length} probes`)
  const P = sampled.length
  const k = neighbourActions[0].length / actionDim
  const half = Math.floor(k / 2)
  if (half < 2) throw new RangeError(`actionFit: ${k} neighbours leave fewer than 2 per half`)
  const N = allActions.length / actionDim
  const directions = Rng.split(key, "projections")
  const model: Array<CloudGap> = []
  const halves: Array<CloudGap> = []
  const stateBlind: Array<CloudGap> = []
  for (let p = 0; p < P; p++) {
    if (sampled[p].length < half * actionDim) throw new RangeError(`actionFit: probe ${p} has ${sampled[p].length / actionDim} samples, needs ${half}`)
    const neighbours = neighbourActions[p]
    const u = new Float64Array(k)
    Rng.fillUniform(Rng.at(Rng.split(key, "halves"), p), u)
    const order = Array.from({ length: k }, (_, i) => i).sort((i, j) => u[i] - u[j])
    const rowsOf = (source: ArrayLike<number>, rows: ReadonlyArray<number>) =>
      Float64Array.from({ length: rows.length * actionDim }, (_, j) => source[rows[Math.floor(j / actionDim)] * actionDim + (j % actionDim)])
    const halfA = rowsOf(neighbours, order.slice(0, half))
    const halfB = rowsOf(neighbours, order.slice(half, 2 * half))
    const r = new Float64Array(half)
    Rng.fillUniform(Rng.at(Rng.split(key, "state-blind"), p), r)
    const blind = rowsOf(allActions, Array.from(r, (x) => Math.min(N - 1, Math.floor(x * N))))
    model.push(cloudGap(sampled[p].subarray(0, half * actionDim), halfB, actionDim, projections, directions))
    halves.push(cloudGap(halfA, halfB, actionDim, projections, directions))
    stateBlind.push(cloudGap(blind, halfB, actionDim, projections, directions))
  }
  return { probes: P, neighbours: k, cloudSize: half, model: meanGap(model), halves: meanGap(halves), stateBlind: meanGap(stateBlind) }
}
