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
 * Equal sizes reduce to the mean of (a_(i) − b_(i))².
 */
export const wasserstein2Squared1d = (a: Float64Array, b: Float64Array): number => {
  const na = a.length
  const nb = b.length
  let i = 0
  let j = 0
  let position = 0
  let total = 0
  while (i < na && j < nb) {
    const endA = (i + 1) * nb
    const endB = (j + 1) * na
    const end = Math.min(endA, endB)
    total += (end - position) * (a[i] - b[j]) ** 2
    position = end
    if (endA === end) i++
    if (endB === end) j++
  }
  return total / (na * nb)
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
 * (sizes may differ), over the fixed `projectionDirections(dim, projections, key)`.
 */
export const slicedWasserstein2 = (a: Points, b: Points, dim: number, projections: number, key: Rng.RngKey): number => {
  const directions = projectionDirections(dim, projections, key)
  let total = 0
  for (let p = 0; p < projections; p++) {
    total += wasserstein2Squared1d(projectSorted(a, dim, directions, p), projectSorted(b, dim, directions, p))
  }
  return Math.sqrt(total / projections)
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
