/**
 * Noise schedules as values plus pure functions (DDPM's discrete VP, Nichol & Dhariwal's cosine, the VP-SDE).
 *
 * Notation: a discrete schedule has T steps indexed t = 0..T−1 (array entry t is paper step t+1);
 * β_t per-step noise, ᾱ_t = ∏_{i≤t}(1 − β_i), x_t = √ᾱ_t·x₀ + σ_t·ε with σ_t = √(1 − ᾱ_t).
 * The continuous VP-SDE (CEP, D-DICE) has t ∈ (0, 1], mean coefficient α(t) (= √ᾱ) and
 * σ(t) = √(1 − α(t)²); λ = log α − log σ is the half log-SNR.
 */
import { Schema } from "effect"

/** SWG/IDQL's discrete VP schedule: ᾱ_t = exp(−b_min·τ − ½(b_max − b_min)·τ²), τ = (t+1)/T. */
export class VpDiscrete extends Schema.TaggedClass<VpDiscrete>()("VpDiscrete", {
  steps: Schema.Int.check(Schema.isGreaterThan(0)),
  betaMin: Schema.Finite,
  betaMax: Schema.Finite
}) {}

/** Nichol & Dhariwal's cosine schedule, β clipped to [0, 0.999] (SWG's toys). */
export class Cosine extends Schema.TaggedClass<Cosine>()("Cosine", {
  steps: Schema.Int.check(Schema.isGreaterThan(0)),
  offset: Schema.Finite
}) {}

/** β = linspace(βstart, βend, T), the JAX (IDQL/SWG-JAX) form with no rescaling by T. */
export class Linear extends Schema.TaggedClass<Linear>()("Linear", {
  steps: Schema.Int.check(Schema.isGreaterThan(0)),
  betaStart: Schema.Finite,
  betaEnd: Schema.Finite
}) {}

/** The continuous linear VP-SDE β(t) = β₀ + t(β₁ − β₀) of CEP/SfBC/D-DICE. */
export class VpContinuous extends Schema.TaggedClass<VpContinuous>()("VpContinuous", {
  beta0: Schema.Finite,
  beta1: Schema.Finite
}) {}

export const Discrete = Schema.Union([VpDiscrete, Cosine, Linear])
export type Discrete = typeof Discrete.Type
export const NoiseSchedule = Schema.Union([VpDiscrete, Cosine, Linear, VpContinuous])
export type NoiseSchedule = typeof NoiseSchedule.Type

/** SWG's D4RL schedule: T = 15, b_min 0.1, b_max 10 (not 20). */
export const swg = (steps = 15): VpDiscrete => new VpDiscrete({ steps, betaMin: 0.1, betaMax: 10 })
export const cosine = (steps: number): Cosine => new Cosine({ steps, offset: 0.008 })
export const linear = (steps: number): Linear => new Linear({ steps, betaStart: 1e-4, betaEnd: 2e-2 })
export const vpContinuous = (): VpContinuous => new VpContinuous({ beta0: 0.1, beta1: 20 })

// ---- discrete ------------------------------------------------------------------------------------

/** Per-step β_t, t = 0..T−1. */
export const betas = (s: Discrete): Float64Array => {
  const T = s.steps
  const out = new Float64Array(T)
  switch (s._tag) {
    case "VpDiscrete":
      for (let k = 1; k <= T; k++) {
        // α_k = exp(−b_min/T − ½(b_max − b_min)(2k − 1)/T²)
        out[k - 1] = -Math.expm1(-s.betaMin / T - (0.5 * (s.betaMax - s.betaMin) * (2 * k - 1)) / (T * T))
      }
      return out
    case "Cosine": {
      const f = (k: number) => Math.cos((((k / T) + s.offset) / (1 + s.offset)) * (Math.PI / 2)) ** 2
      for (let k = 1; k <= T; k++) out[k - 1] = Math.min(Math.max(1 - f(k) / f(k - 1), 0), 0.999)
      return out
    }
    case "Linear":
      for (let k = 0; k < T; k++) out[k] = T === 1 ? s.betaStart : s.betaStart + ((s.betaEnd - s.betaStart) * k) / (T - 1)
      return out
  }
}

/** ᾱ_t = ∏_{i≤t}(1 − β_i). */
export const alphaBars = (s: Discrete): Float64Array => {
  const b = betas(s)
  const out = new Float64Array(b.length)
  let acc = 1
  for (let t = 0; t < b.length; t++) {
    acc *= 1 - b[t]
    out[t] = acc
  }
  return out
}

/** Signal and noise scales (√ᾱ_t, σ_t) of every step. */
export const scales = (s: Discrete): { readonly alpha: Float64Array; readonly sigma: Float64Array } => {
  const ab = alphaBars(s)
  return { alpha: ab.map(Math.sqrt), sigma: ab.map((a) => Math.sqrt(1 - a)) }
}

/** Half log-SNR λ_t = log √ᾱ_t − log σ_t of every step (strictly decreasing in t). */
export const logSnrs = (s: Discrete): Float64Array => alphaBars(s).map((a) => 0.5 * (Math.log(a) - Math.log1p(-a)))

/** The (fractional) step whose λ is `lambda`, by linear interpolation between steps. */
export const stepFromLogSnr = (s: Discrete, lambda: number): number => {
  const l = logSnrs(s)
  if (lambda >= l[0]) return 0
  for (let t = 1; t < l.length; t++) {
    if (lambda >= l[t]) return t - 1 + (l[t - 1] - lambda) / (l[t - 1] - l[t])
  }
  return l.length - 1
}

// ---- continuous VP-SDE -----------------------------------------------------------------------------

/** log α(t) = −¼t²(β₁ − β₀) − ½tβ₀. */
export const logAlpha = (s: VpContinuous, t: number): number => -0.25 * t * t * (s.beta1 - s.beta0) - 0.5 * t * s.beta0
export const alpha = (s: VpContinuous, t: number): number => Math.exp(logAlpha(s, t))
export const sigma = (s: VpContinuous, t: number): number => Math.sqrt(-Math.expm1(2 * logAlpha(s, t)))
/** λ(t) = log α(t) − log σ(t). */
export const lambda = (s: VpContinuous, t: number): number => logAlpha(s, t) - 0.5 * Math.log(-Math.expm1(2 * logAlpha(s, t)))

/** t(λ) for the linear VP-SDE (DPM-Solver's closed form): tmp = 2(β₁ − β₀)·log(1 + e^{−2λ}). */
export const timeFromLambda = (s: VpContinuous, l: number): number => {
  const x = -2 * l
  const logAddExp = x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))
  const tmp = 2 * (s.beta1 - s.beta0) * logAddExp
  return tmp / (Math.sqrt(s.beta0 * s.beta0 + tmp) + s.beta0) / (s.beta1 - s.beta0)
}
