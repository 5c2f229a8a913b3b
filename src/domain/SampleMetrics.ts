/**
 * Sample-quality metrics between point clouds (row-major [n, dim]): the sliced 2-Wasserstein distance
 * (Rabin et al. 2011, Bonneel et al. 2015) and the energy distance (Székely & Rizzo 2013).
 */
import * as Rng from "./Rng.ts"

/** A point cloud [n, dim], row-major. */
export type Points = Float32Array | Float64Array

/** `projections` unit directions in R^dim, [projections, dim] row-major: normal draws from `key`, normalised. */
export const projectionDirections = (dim: number, projections: number, key: Rng.RngKey): Float64Array => {
  const directions = new Float64Array(projections * dim)
  Rng.fillNormal(key, directions)
  for (let p = 0; p < projections; p++) {
    let norm = 0
    for (let d = 0; d < dim; d++) norm += directions[p * dim + d] ** 2
    norm = Math.sqrt(norm)
    for (let d = 0; d < dim; d++) directions[p * dim + d] /= norm
  }
  return directions
}

/**
 * W2² between the empirical measures of two ascending 1-D samples, exact for any sizes:
 * ∫₀¹ (F_a⁻¹(u) − F_b⁻¹(u))² du over the merged breakpoints i/|a| and j/|b| of the step quantile functions.
 * Equal sizes reduce to the mean of (a_(i) − b_(i))². With `trim` = τ ∈ [0, 0.5) the integral runs over
 * [τ, 1 − τ] only and is divided by 1 − 2τ (the trimmed Wasserstein distance of Munk & Czado 1998): a share
 * below τ of far outliers in either sample then moves it only by the mass it displaces inside the band.
 */
export const wasserstein2Squared1d = (a: Float64Array, b: Float64Array, trim = 0): number => {
  if (!(trim >= 0 && trim < 0.5)) throw new RangeError(`wasserstein2Squared1d: trim ${trim} is not in [0, 0.5)`)
  const na = a.length
  const nb = b.length
  // positions count in units of 1/(na·nb) of the quantile axis
  const lower = trim * na * nb
  const upper = (1 - trim) * na * nb
  let i = 0
  let j = 0
  let position = 0
  let total = 0
  while (i < na && j < nb) {
    const endA = (i + 1) * nb
    const endB = (j + 1) * na
    const end = Math.min(endA, endB)
    const length = Math.min(end, upper) - Math.max(position, lower)
    if (length > 0) total += length * (a[i] - b[j]) ** 2
    position = end
    if (endA === end) i++
    if (endB === end) j++
  }
  return total / (na * nb * (1 - 2 * trim))
}

const projectSorted = (x: Points, dim: number, directions: Float64Array, p: number): Float64Array => {
  const n = x.length / dim
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let d = 0; d < dim; d++) s += x[i * dim + d] * directions[p * dim + d]
    out[i] = s
  }
  return out.sort()
}

/**
 * Sliced 2-Wasserstein distance sqrt(mean_θ W2²(⟨a, θ⟩, ⟨b, θ⟩)) between clouds a [na, dim] and b [nb, dim]
 * (sizes may differ), over the fixed `projectionDirections(dim, projections, key)`. `trim` > 0 trims each
 * projection's quantile axis to [trim, 1 − trim] (see `wasserstein2Squared1d`): a robust variant that a few
 * far-away samples cannot dominate.
 */
export const slicedWasserstein2 = (a: Points, b: Points, dim: number, projections: number, key: Rng.RngKey, trim = 0): number => {
  const directions = projectionDirections(dim, projections, key)
  let total = 0
  for (let p = 0; p < projections; p++) {
    total += wasserstein2Squared1d(projectSorted(a, dim, directions, p), projectSorted(b, dim, directions, p), trim)
  }
  return Math.sqrt(total / projections)
}

/** Per-coordinate bounds of a cloud [n, dim]: `lower[d]` = min, `upper[d]` = max over rows (non-finite values skipped). */
export interface Bounds {
  readonly lower: Float64Array
  readonly upper: Float64Array
}

export const boundsOf = (x: Points, dim: number): Bounds => {
  const lower = new Float64Array(dim).fill(Infinity)
  const upper = new Float64Array(dim).fill(-Infinity)
  for (let i = 0; i < x.length; i++) {
    const v = x[i]
    if (!Number.isFinite(v)) continue
    const d = i % dim
    lower[d] = Math.min(lower[d], v)
    upper[d] = Math.max(upper[d], v)
  }
  return { lower, upper }
}

/**
 * Share of the rows of x [n, dim] with some coordinate outside `bounds` widened by `margin` × its extent at each
 * end, or not finite. A small margin (1e-6) keeps samples that a sampler clipped onto a bound in f32 inside.
 */
export const shareOutside = (x: Points, dim: number, bounds: Bounds, margin = 0): number => {
  const n = x.length / dim
  const lower = bounds.lower.map((l, d) => l - margin * (bounds.upper[d] - l))
  const upper = bounds.upper.map((u, d) => u + margin * (u - bounds.lower[d]))
  let count = 0
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      const v = x[i * dim + d]
      if (!(v >= lower[d] && v <= upper[d])) {
        count++
        break
      }
    }
  }
  return count / n
}

/** Centre (the mean) and radius (the largest distance from it) of a cloud [n, dim] of finite points. */
export const radiusOf = (x: Points, dim: number): { readonly centre: Float64Array; readonly radius: number } => {
  const n = x.length / dim
  const centre = new Float64Array(dim)
  for (let i = 0; i < x.length; i++) centre[i % dim] += x[i] / n
  let radius = 0
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let d = 0; d < dim; d++) s += (x[i * dim + d] - centre[d]) ** 2
    radius = Math.max(radius, Math.sqrt(s))
  }
  return { centre, radius }
}

/** Share of the rows of x [n, dim] farther than `radius` from `centre` (non-finite rows count as farther). */
export const shareBeyond = (x: Points, dim: number, centre: ArrayLike<number>, radius: number): number => {
  const n = x.length / dim
  let count = 0
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let d = 0; d < dim; d++) s += (x[i * dim + d] - centre[d]) ** 2
    if (!(Math.sqrt(s) <= radius)) count++
  }
  return count / n
}

const distance = (x: Points, i: number, y: Points, j: number, dim: number): number => {
  let s = 0
  for (let d = 0; d < dim; d++) s += (x[i * dim + d] - y[j * dim + d]) ** 2
  return Math.sqrt(s)
}

/** U-statistic mean of ‖x_i − x_j‖ over pairs i ≠ j (NaN below two points). */
const meanWithin = (x: Points, dim: number): number => {
  const n = x.length / dim
  let s = 0
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += distance(x, i, x, j, dim)
  return (2 * s) / (n * (n - 1))
}

/**
 * Squared energy distance D² = 2E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ between clouds a [na, dim] and b [nb, dim]:
 * the cross term averages all na·nb pairs, the within terms are U-statistics over i ≠ j, so the estimate is
 * unbiased for D² ≥ 0 but may be slightly negative (e.g. −(2/n)·mean pairwise distance for a = b).
 * O((na + nb)²·dim); needs at least two points per cloud (else NaN).
 */
export const energyDistance = (a: Points, b: Points, dim: number): number => {
  const na = a.length / dim
  const nb = b.length / dim
  let cross = 0
  for (let i = 0; i < na; i++) for (let j = 0; j < nb; j++) cross += distance(a, i, b, j, dim)
  return (2 * cross) / (na * nb) - meanWithin(a, dim) - meanWithin(b, dim)
}
