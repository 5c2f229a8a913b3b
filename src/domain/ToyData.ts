/**
 * The CEP 2-D toy datasets of SWG §5.1 / App. E (`CEP Offline_RL_2D/dataset/dataset.py::inf_train_gen`), their
 * energy-tilted targets p(x)·exp(β e(x))/Z (CEP `softmax(energy·alpha)`), and the reweighted-data oracle.
 */
import * as Rng from "./Rng.ts"

/** The six CEP toy datasets used by SWG. */
export const ToyDatasets = ["8gaussians", "swissroll", "rings", "moons", "checkerboard", "2spirals"] as const

/** One of `ToyDatasets`. */
export type ToyDataset = (typeof ToyDatasets)[number]

/** n labelled points: `points` [n, 2] row-major, `energy` [n] (the CEP label e(x), high is better). */
export interface ToySample {
  readonly points: Float64Array
  readonly energy: Float64Array
}

/**
 * Bounds [lower, upper] of e over each dataset's support. Swissroll's e = ‖x‖²/9 has no upper bound: its
 * N(0, 0.2²) noise is unbounded, so `sampleTarget` samples that target analytically instead of by rejection.
 */
export const energyBounds: Readonly<Record<ToyDataset, readonly [number, number]>> = {
  "8gaussians": [0, 1],
  swissroll: [0, Infinity],
  rings: [0, 1],
  moons: [0, 1],
  checkerboard: [0, 1],
  "2spirals": [1 - 0.3 * Math.PI, 1]
}

const words = new Uint32Array(4)

const normals = (key: Rng.RngKey, n: number): Float64Array => {
  const out = new Float64Array(n)
  Rng.fillNormal(key, out)
  return out
}

const uniforms = (key: Rng.RngKey, n: number): Float64Array => {
  const out = new Float64Array(n)
  Rng.fillUniform(key, out)
  return out
}

/** Uniforms in (0, 1) with 53-bit resolution (words 0 and 1 of element i's block), for tiny acceptance odds. */
const uniforms53 = (key: Rng.RngKey, n: number): Float64Array => {
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    Rng.philox(i, key.offset, key.seed, key.stream, words)
    out[i] = ((words[0] >>> 5) * 67108864 + (words[1] >>> 6) + 0.5) * 2 ** -53
  }
  return out
}

/** Fisher–Yates over rows; step i draws j ∈ [0, i] from word 0 of counter i. */
const shuffleRows = (key: Rng.RngKey, points: Float64Array, energy: Float64Array): void => {
  for (let i = energy.length - 1; i > 0; i--) {
    Rng.philox(i, key.offset, key.seed, key.stream, words)
    const j = Rng.wordToInt(words[0], i + 1)
    const e = energy[i]
    energy[i] = energy[j]
    energy[j] = e
    for (let d = 0; d < 2; d++) {
      const p = points[2 * i + d]
      points[2 * i + d] = points[2 * j + d]
      points[2 * j + d] = p
    }
  }
}

const addNoise = (key: Rng.RngKey, points: Float64Array, scale: number): void => {
  const noise = normals(key, points.length)
  for (let i = 0; i < points.length; i++) points[i] += scale * noise[i]
}

const gaussianCentres: ReadonlyArray<readonly [number, number]> = [
  [0, 1],
  [-Math.SQRT1_2, Math.SQRT1_2],
  [-1, 0],
  [-Math.SQRT1_2, -Math.SQRT1_2],
  [0, -1],
  [Math.SQRT1_2, -Math.SQRT1_2],
  [1, 0],
  [Math.SQRT1_2, Math.SQRT1_2]
]

const eightGaussians = (n: number, key: Rng.RngKey): ToySample => {
  const index = new Float64Array(n)
  Rng.fillInt(Rng.split(key, "centre"), 8, index)
  const noise = normals(Rng.split(key, "noise"), 2 * n)
  const points = new Float64Array(2 * n)
  const energy = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const [cx, cy] = gaussianCentres[index[i]]
    points[2 * i] = (4 * cx + 0.5 * noise[2 * i]) / 1.414
    points[2 * i + 1] = (4 * cy + 0.5 * noise[2 * i + 1]) / 1.414
    // e = centre index / 7 in the listed order: 0 at the top, 1 at the upper right.
    energy[i] = index[i] / 7
  }
  return { points, energy }
}

const swissrollNoise = 1

/** sklearn `make_swiss_roll(noise=1)` columns [0, 2] over 5; its height column (21·U) is dropped, so not drawn. */
const swissroll = (n: number, key: Rng.RngKey): ToySample => {
  const u = uniforms(Rng.split(key, "t"), n)
  const noise = normals(Rng.split(key, "noise"), 2 * n)
  const points = new Float64Array(2 * n)
  const energy = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const t = 1.5 * Math.PI * (1 + 2 * u[i])
    const x = (t * Math.cos(t) + swissrollNoise * noise[2 * i]) / 5
    const y = (t * Math.sin(t) + swissrollNoise * noise[2 * i + 1]) / 5
    points[2 * i] = x
    points[2 * i + 1] = y
    // e = ‖x‖²/9, unclipped as in CEP: ≤ (0.9π)²/9 ≈ 0.888 before noise, above 1 for ≈ 1.2 % of points after it.
    energy[i] = (x * x + y * y) / 9
  }
  return { points, energy }
}

// e by r² = ‖x‖² before noise: 0.667 at radius 3, 0.333 at 2.25, 1 at 1.5, 0 at 0.75.
const ringEnergy = (r2: number): number => (r2 >= 8.5 ? 0.667 : r2 >= 5 ? 0.333 : r2 >= 2 ? 1 : 0)

const ringRadii = [3, 2.25, 1.5, 0.75]

/** Errata 14: deterministic angles linspace(0, 2π, m, endpoint=False); radii 3, 2.25, 1.5 get n//4 points each. */
const rings = (n: number, key: Rng.RngKey): ToySample => {
  const quarter = Math.floor(n / 4)
  const points = new Float64Array(2 * n)
  const energy = new Float64Array(n)
  let row = 0
  for (let ring = 0; ring < 4; ring++) {
    const m = ring < 3 ? quarter : n - 3 * quarter
    for (let k = 0; k < m; k++, row++) {
      const angle = (2 * Math.PI * k) / m
      const x = ringRadii[ring] * Math.cos(angle)
      const y = ringRadii[ring] * Math.sin(angle)
      points[2 * row] = x
      points[2 * row + 1] = y
      energy[row] = ringEnergy(x * x + y * y)
    }
  }
  shuffleRows(Rng.split(key, "shuffle"), points, energy)
  addNoise(Rng.split(key, "noise"), points, 0.08)
  return { points, energy }
}

/** sklearn `make_moons(noise=0.1)` (outer half first, θ = linspace(0, π, ·) with endpoint), then ·2 + (−1, −0.2). */
const moons = (n: number, key: Rng.RngKey): ToySample => {
  const outer = Math.floor(n / 2)
  const points = new Float64Array(2 * n)
  const energy = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const inner = i >= outer
    const k = inner ? i - outer : i
    const m = inner ? n - outer : outer
    const angle = m > 1 ? (Math.PI * k) / (m - 1) : 0
    points[2 * i] = inner ? 1 - Math.cos(angle) : Math.cos(angle)
    points[2 * i + 1] = inner ? 1 - Math.sin(angle) - 0.5 : Math.sin(angle)
    // e = class label: 0 on the outer (upper) moon, 1 on the inner (lower) one.
    energy[i] = inner ? 1 : 0
  }
  shuffleRows(Rng.split(key, "shuffle"), points, energy)
  addNoise(Rng.split(key, "noise"), points, 0.1)
  for (let i = 0; i < n; i++) {
    points[2 * i] = 2 * points[2 * i] - 1
    points[2 * i + 1] = 2 * points[2 * i + 1] - 0.2
  }
  return { points, energy }
}

const checkerboard = (n: number, key: Rng.RngKey): ToySample => {
  const u1 = uniforms(Rng.split(key, "x1"), n)
  const u2 = uniforms(Rng.split(key, "x2"), n)
  const band = new Float64Array(n)
  Rng.fillInt(Rng.split(key, "band"), 2, band)
  const points = new Float64Array(2 * n)
  const energy = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const x1 = 4 * u1[i] - 2
    const column = Math.floor(x1)
    const x2 = u2[i] - 2 * band[i] + (((column % 2) + 2) % 2)
    const x = 2 * x1
    points[2 * i] = x
    points[2 * i + 1] = 2 * x2
    // e = 1 on the columns 0 < x ≤ 2 and x ≤ −2 (by the x coordinate alone), else 0.
    energy[i] = (x > 0 && x <= 2) || x <= -2 ? 1 : 0
  }
  return { points, energy }
}

/** Errata 16: arm 1 from ⌈n/2⌉ draws, arm 2 its mirror image (CEP stacks the arms; rows here are shuffled). */
const twoSpirals = (n: number, key: Rng.RngKey): ToySample => {
  const half = Math.ceil(n / 2)
  const u = uniforms(Rng.split(key, "angle"), half)
  const ox = uniforms(Rng.split(key, "offset-x"), half)
  const oy = uniforms(Rng.split(key, "offset-y"), half)
  const points = new Float64Array(2 * n)
  const energy = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const base = i < half ? i : i - half
    const sign = i < half ? 1 : -1
    const angle = Math.sqrt(u[base]) * 3 * Math.PI
    points[2 * i] = (sign * (-Math.cos(angle) * angle + 0.5 * ox[base])) / 3
    points[2 * i + 1] = (sign * (Math.sin(angle) * angle + 0.5 * oy[base])) / 3
    // e = clip(1 − angle/10, 0, 1) ∈ [1 − 0.3π, 1), shared by both arms: high near the centre.
    energy[i] = Math.min(1, Math.max(0, 1 - angle / 10))
  }
  shuffleRows(Rng.split(key, "shuffle"), points, energy)
  addNoise(Rng.split(key, "noise"), points, 0.1)
  return { points, energy }
}

const generators: Readonly<Record<ToyDataset, (n: number, key: Rng.RngKey) => ToySample>> = {
  "8gaussians": eightGaussians,
  swissroll,
  rings,
  moons,
  checkerboard,
  "2spirals": twoSpirals
}

/**
 * n points of a CEP toy dataset with their energies, a pure function of (name, n, key). Rows of `rings`, `moons`
 * and `2spirals` are exchangeable but not independent (deterministic angles, mirrored arms), as in CEP.
 */
export const generate = (name: ToyDataset, n: number, key: Rng.RngKey): ToySample => generators[name](n, key)

/** The SWG toy weight w = exp(β·e), elementwise over `energy` [n]. */
export const weights = (energy: Float64Array, beta: number): Float64Array => energy.map((e) => Math.exp(beta * e))

const proposalBatch = 4096

const copyRow = (from: ToySample, i: number, to: ToySample, j: number): void => {
  to.points[2 * j] = from.points[2 * i]
  to.points[2 * j + 1] = from.points[2 * i + 1]
  to.energy[j] = from.energy[i]
}

/** Rejection from the generator: accept with exp(β e − max(β e_lo, β e_hi)) ≤ 1, exact for bounded e. */
const rejectionTarget = (name: ToyDataset, beta: number, n: number, key: Rng.RngKey): ToySample => {
  const [lower, upper] = energyBounds[name]
  const logBound = Math.max(beta * lower, beta * upper)
  const batch = Math.max(proposalBatch, n)
  const base = Rng.split(key, "target")
  const out: ToySample = { points: new Float64Array(2 * n), energy: new Float64Array(n) }
  let filled = 0
  for (let round = 0; filled < n; round++) {
    const roundKey = Rng.at(base, round)
    const proposal = generate(name, batch, Rng.split(roundKey, "proposal"))
    const u = uniforms53(Rng.split(roundKey, "accept"), batch)
    for (let i = 0; i < batch && filled < n; i++) {
      if (u[i] < Math.exp(beta * proposal.energy[i] - logBound)) copyRow(proposal, i, out, filled++)
    }
  }
  return out
}

const tMin = 1.5 * Math.PI
const tMax = 4.5 * Math.PI

/**
 * Swissroll target, exact. With x | t ~ N(m_t, s²I), m_t = (t cos t, t sin t)/5, s² = 1/25 and a = β/9,
 * exp(a‖x‖²)·N(x; m_t, s²I) ∝ exp(a t²/λ)·N(x; 5(t cos t, t sin t)/λ, I/λ) with λ = 25 − 2a, so t is drawn by
 * rejection on [1.5π, 4.5π] with weight exp(a t²/λ) and x from that Gaussian; λ > 0 ⟺ β < 112.5.
 */
const swissrollTarget = (beta: number, n: number, key: Rng.RngKey): ToySample => {
  const a = beta / 9
  const lambda = 25 - 2 * a
  if (!(lambda > 0)) throw new RangeError(`swissroll: exp(β‖x‖²/9) is not integrable for β = ${beta} ≥ 112.5`)
  const c = a / lambda
  const logBound = c * (c >= 0 ? tMax * tMax : tMin * tMin)
  const std = 1 / Math.sqrt(lambda)
  const batch = Math.max(proposalBatch, n)
  const base = Rng.split(key, "target")
  const out: ToySample = { points: new Float64Array(2 * n), energy: new Float64Array(n) }
  let filled = 0
  for (let round = 0; filled < n; round++) {
    const roundKey = Rng.at(base, round)
    const ut = uniforms(Rng.split(roundKey, "t"), batch)
    const u = uniforms53(Rng.split(roundKey, "accept"), batch)
    const noise = normals(Rng.split(roundKey, "noise"), 2 * batch)
    for (let i = 0; i < batch && filled < n; i++) {
      const t = 1.5 * Math.PI * (1 + 2 * ut[i])
      if (!(u[i] < Math.exp(c * t * t - logBound))) continue
      const x = (5 * t * Math.cos(t)) / lambda + std * noise[2 * i]
      const y = (5 * t * Math.sin(t)) / lambda + std * noise[2 * i + 1]
      out.points[2 * filled] = x
      out.points[2 * filled + 1] = y
      out.energy[filled] = (x * x + y * y) / 9
      filled++
    }
  }
  return out
}

/**
 * n exact draws from the SWG toy target p(x)·exp(β e(x))/Z (§5.1), with their energies, deterministic in `key`.
 * Bounded energies: rejection from `generate` batches. Swissroll (e unbounded): the conjugate sampler above;
 * throws RangeError for β ≥ 112.5, where that target has no normaliser.
 */
export const sampleTarget = (name: ToyDataset, beta: number, n: number, key: Rng.RngKey): ToySample =>
  name === "swissroll" ? swissrollTarget(beta, n, key) : rejectionTarget(name, beta, n, key)

/**
 * The reweighted-data oracle: n rows drawn with replacement from a finite dataset (`points` [m, 2],
 * `energy` [m]) with probabilities ∝ exp(β e), by inverse-CDF search over cumulative weights.
 */
export const reweightedSample = (
  points: Float64Array,
  energy: Float64Array,
  beta: number,
  n: number,
  key: Rng.RngKey
): ToySample => {
  const m = energy.length
  let shift = -Infinity
  for (let i = 0; i < m; i++) shift = Math.max(shift, beta * energy[i])
  const cumulative = new Float64Array(m)
  let total = 0
  for (let i = 0; i < m; i++) {
    total += Math.exp(beta * energy[i] - shift)
    cumulative[i] = total
  }
  const u = uniforms53(key, n)
  const out: ToySample = { points: new Float64Array(2 * n), energy: new Float64Array(n) }
  for (let j = 0; j < n; j++) {
    const target = u[j] * total
    let lo = 0
    let hi = m - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cumulative[mid] > target) hi = mid
      else lo = mid + 1
    }
    copyRow({ points, energy }, lo, out, j)
  }
  return out
}
