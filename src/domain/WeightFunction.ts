/**
 * Weight functions w(s, a) of the advantage A = min(Q₁, Q₂)_target(s, a) − V(s) (SWG §4 and
 * eqs. 21–22, IDQL's implicit-policy weights |f'(u)|/|u|). Pure, per element.
 */
import { Schema } from "effect"

/** IDQL/SWG expectile: τ if A > 0 else 1 − τ. */
export class Expectile extends Schema.TaggedClass<Expectile>()("Expectile", {
  tau: Schema.Finite
}) {}

/** SWG eq. 21: (1 − τ) + (2τ − 1)·sigmoid(κA), κ = 3 in SWG-JAX. */
export class SmoothExpectile extends Schema.TaggedClass<SmoothExpectile>()("SmoothExpectile", {
  tau: Schema.Finite,
  kappa: Schema.Finite
}) {}

/** "Exponential expectile": clip(exp(κA), lo, hi), κ = 3 and [0.001, 80] in SWG-JAX. */
export class ExpAdvantage extends Schema.TaggedClass<ExpAdvantage>()("ExpAdvantage", {
  kappa: Schema.Finite,
  min: Schema.Finite,
  max: Schema.Finite
}) {}

/** IDQL's linex (eq. 22): β·|exp(βA) − 1|/|A| (→ β² as A → 0). */
export class Linex extends Schema.TaggedClass<Linex>()("Linex", {
  beta: Schema.Finite
}) {}

/** IDQL's quantile: |τ − 1(A < 0)|/|A| (the |A| form of the IDQL paper; SWG-JAX divides by signed A). */
export class Quantile extends Schema.TaggedClass<Quantile>()("Quantile", {
  tau: Schema.Finite,
  /** Floor of |A|, so the weight stays finite at A = 0. */
  epsilon: Schema.Finite
}) {}

export const WeightFunction = Schema.Union([Expectile, SmoothExpectile, ExpAdvantage, Linex, Quantile])
export type WeightFunction = typeof WeightFunction.Type

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)))

/** w(A) for one advantage. */
export const weight = (f: WeightFunction, a: number): number => {
  switch (f._tag) {
    case "Expectile":
      return a > 0 ? f.tau : 1 - f.tau
    case "SmoothExpectile":
      return 1 - f.tau + (2 * f.tau - 1) * sigmoid(f.kappa * a)
    case "ExpAdvantage":
      return Math.min(Math.max(Math.exp(f.kappa * a), f.min), f.max)
    case "Linex":
      return Math.abs(a) < 1e-8 ? f.beta * f.beta : (f.beta * Math.abs(Math.expm1(f.beta * a))) / Math.abs(a)
    case "Quantile":
      return (a < 0 ? 1 - f.tau : f.tau) / Math.max(Math.abs(a), f.epsilon)
  }
}

/** Weights of every advantage; non-finite results become the smallest finite weight (SWG-JAX: NaN → min). */
export const weights = (f: WeightFunction, advantages: ArrayLike<number>): Float64Array => {
  const out = Float64Array.from(advantages, (a) => weight(f, a))
  let min = Infinity
  for (const w of out) if (Number.isFinite(w)) min = Math.min(min, w)
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i])) out[i] = Number.isFinite(min) ? min : 0
  return out
}

/** The range [min, max] a weight function can take (the SWG agent's clips of ŵ₀ use it). */
export const range = (f: WeightFunction): readonly [number, number] => {
  switch (f._tag) {
    case "Expectile":
    case "SmoothExpectile":
      return [Math.min(f.tau, 1 - f.tau), Math.max(f.tau, 1 - f.tau)]
    case "ExpAdvantage":
      return [f.min, f.max]
    case "Linex":
    case "Quantile":
      return [0, Infinity]
  }
}

/** How far a data set's weights spread (`spread`). */
export interface Spread {
  /** Standard deviation of the weights (population form). */
  readonly std: number
  /**
   * Share of the weights within `tolerance` of the midpoint of the function's range: rows whose weight barely differs
   * from an unweighted one. Undefined where the range is unbounded (linex, quantile).
   */
  readonly nearMidpoint: number | undefined
  /** 5 % of the range's width: 0.02 for expectile weights with τ = 0.7, whose midpoint is 1/2. */
  readonly tolerance: number
}

/**
 * The spread of the weights `w` of f over a data set. The smooth expectile's depends on the advantages' scale (κ
 * multiplies A), the hard one's does not: at κ = 3 a third of maze2d-umaze's rows sat near 1/2, and there the
 * smooth weight guided far worse than the hard one (docs/methods.md §2.3).
 */
export const spread = (f: WeightFunction, w: ArrayLike<number>): Spread => {
  const n = w.length
  let mean = 0
  for (let i = 0; i < n; i++) mean += w[i] / n
  let variance = 0
  for (let i = 0; i < n; i++) variance += (w[i] - mean) ** 2 / n
  const [lo, hi] = range(f)
  if (!Number.isFinite(hi)) return { std: Math.sqrt(variance), nearMidpoint: undefined, tolerance: Number.NaN }
  const midpoint = (lo + hi) / 2
  const tolerance = 0.05 * (hi - lo)
  let near = 0
  for (let i = 0; i < n; i++) if (Math.abs(w[i] - midpoint) < tolerance) near++
  return { std: Math.sqrt(variance), nearMidpoint: n === 0 ? 0 : near / n, tolerance }
}

export const expectile = (tau = 0.7) => new Expectile({ tau })
export const smoothExpectile = (tau = 0.7, kappa = 3) => new SmoothExpectile({ tau, kappa })
export const expAdvantage = (kappa = 3, min = 0.001, max = 80) => new ExpAdvantage({ kappa, min, max })
