/**
 * EDM (Karras, Aittala, Aila, Laine 2022, "Elucidating the Design Space of Diffusion-Based Generative
 * Models"), the diffusion formulation Policy-Guided Diffusion trains its trajectory model with
 * (reference `EmptyJackson/policy-guided-diffusion`, `diffusion/edm.py`).
 *
 *   x = y + σ·n,   D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x, c_noise(σ))            (EDM eq. 7)
 *   c_skip = σ_d²/(σ² + σ_d²),  c_out = σ·σ_d/√(σ² + σ_d²),  c_in = 1/√(σ² + σ_d²),  c_noise = ¼·ln σ  (Table 1)
 *   ln σ ~ N(P_mean, P_std²),   loss = λ(σ)·‖D(x; σ) − y‖²,  λ = (σ² + σ_d²)/(σ·σ_d)²
 *
 * λ·c_out² = 1, so the loss equals ‖F − (y − c_skip·x)/c_out‖² (EDM eq. 8, the network's effective target);
 * `lossGiven` computes it that way, which avoids forming D − y for small σ.
 *
 * Sampling (EDM Algorithm 2): σ_i = (σ_max^{1/ρ} + i/(N−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for i < N, σ_N = 0;
 * x₀ = σ₀·n. Step i: γ_i = min(S_churn/N, √2 − 1) when σ_i ∈ [S_tmin, S_tmax] (else 0), σ̂ = σ_i(1 + γ_i),
 * x̂ = x + √(σ̂² − σ_i²)·S_noise·n; d = (x̂ − D(x̂; σ̂))/σ̂; x' = x̂ + (σ_{i+1} − σ̂)·d; and where σ_{i+1} ≠ 0 the
 * Heun correction x' = x̂ + ½(σ_{i+1} − σ̂)(d + d'), d' = (x' − D(x'; σ_{i+1}))/σ_{i+1}.
 * (The reference code starts the Euler predictor from x instead of x̂; we follow Algorithm 2.)
 */
import { Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import type { Tape, Var } from "../nn/Tape.ts"

export class EdmConfig extends Schema.Class<EdmConfig>("EdmConfig")({
  /** σ_d, the data's standard deviation (1: the trajectories are normalised per channel). */
  sigmaData: Config.PositiveFinite.pipe(Config.withDefault(1)),
  /** Mean and std of ln σ during training (EDM: −1.2, 1.2). */
  pMean: Schema.Finite.pipe(Config.withDefault(-1.2)),
  pStd: Config.PositiveFinite.pipe(Config.withDefault(1.2)),
  /** Sampling schedule: σ_min, σ_max and the warping ρ (EDM: 0.002, 80, 7). */
  sigmaMin: Config.PositiveFinite.pipe(Config.withDefault(0.002)),
  sigmaMax: Config.PositiveFinite.pipe(Config.withDefault(80)),
  rho: Config.PositiveFinite.pipe(Config.withDefault(7)),
  /** N, sampling steps (the reference samples with 256). */
  steps: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** Stochastic churn: S_churn, its σ window [S_tmin, S_tmax] and the noise inflation S_noise (reference: 80, 0.05, 50, 1.003). */
  sChurn: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).pipe(Config.withDefault(80)),
  sTmin: Schema.Finite.pipe(Config.withDefault(0.05)),
  sTmax: Schema.Finite.pipe(Config.withDefault(50)),
  sNoise: Config.PositiveFinite.pipe(Config.withDefault(1.003)),
  /** Second-order (Heun) correction; false gives Euler steps. */
  heun: Schema.Boolean.pipe(Config.withDefault(true))
}) {}

/** A config with the given fields and the defaults for the rest. */
export const edmConfig = (fields: Partial<typeof EdmConfig.Encoded> = {}): EdmConfig =>
  Schema.decodeUnknownSync(EdmConfig)(fields)

// ---- preconditioning (EDM Table 1) ---------------------------------------------------------------

export const cSkip = (sigma: number, sigmaData: number): number => sigmaData ** 2 / (sigma ** 2 + sigmaData ** 2)
export const cOut = (sigma: number, sigmaData: number): number => (sigma * sigmaData) / Math.sqrt(sigma ** 2 + sigmaData ** 2)
export const cIn = (sigma: number, sigmaData: number): number => 1 / Math.sqrt(sigma ** 2 + sigmaData ** 2)
export const cNoise = (sigma: number): number => 0.25 * Math.log(sigma)
/** λ(σ) = (σ² + σ_d²)/(σ·σ_d)², the loss weight that makes λ·c_out² = 1. */
export const lossWeight = (sigma: number, sigmaData: number): number => (sigma ** 2 + sigmaData ** 2) / (sigma * sigmaData) ** 2

/**
 * The raw network F(c_in·x, c_noise): x [batch·length, channels] already scaled by c_in, c_noise [batch, 1]
 * (one noise level per sequence). Returns [batch·length, channels].
 */
export type EdmNetwork = (tape: Tape, x: Var, noise: Var) => Var

/** D(x; σ) at one σ for all rows, on a tape (guidance can differentiate through it). */
export const denoise = (tape: Tape, network: EdmNetwork, x: Var, sigma: number, batch: number, sigmaData: number): Var => {
  const B = tape.backend
  const f = network(tape, tape.affine(x, cIn(sigma, sigmaData)), tape.leaf(B.fill(batch, 1, cNoise(sigma))))
  return tape.add(tape.affine(x, cSkip(sigma, sigmaData)), tape.affine(f, cOut(sigma, sigmaData)))
}

// ---- training ------------------------------------------------------------------------------------

/** One σ per sequence [batch, 1] (ln σ ~ N(P_mean, P_std²)) and the noise n [batch·length, channels]. */
export interface NoiseDraw {
  readonly sigma: Tensor
  readonly noise: Tensor
}

export const drawNoise = (B: TensorBackend, c: EdmConfig, batch: number, rows: number, channels: number, key: RngKey): NoiseDraw => ({
  sigma: B.unary("exp", B.affine(B.normal(batch, 1, Rng.at(Rng.split(key, "sigma"), key.offset)), c.pStd, c.pMean)),
  noise: B.normal(rows, channels, Rng.at(Rng.split(key, "noise"), key.offset))
})

/**
 * The EDM loss of clean sequences y [batch·length, channels] for a given draw: the mean over all elements of
 * λ(σ)·(D − y)², computed as (F − (y − c_skip·x)/c_out)². `rowSequence` [batch·length, 1] maps each row to
 * its sequence (TemporalUnet.sequenceOfRows).
 */
export const lossGiven = (tape: Tape, network: EdmNetwork, c: EdmConfig, y: Tensor, draw: NoiseDraw, rowSequence: Tensor): Var => {
  const B = tape.backend
  const sd2 = c.sigmaData ** 2
  const sigma = B.gatherRows(draw.sigma, rowSequence)
  const x = B.binary("add", y, B.binary("mul", draw.noise, sigma))
  const norm = B.unary("sqrt", B.affine(B.unary("square", sigma), 1, sd2)) // √(σ² + σ_d²), per row
  const one = B.fill(1, 1, 1)
  const inScale = B.binary("div", one, norm)
  const skip = B.affine(B.binary("mul", inScale, inScale), sd2, 0)
  const out = B.affine(B.binary("mul", sigma, inScale), c.sigmaData, 0)
  const target = B.binary("div", B.binary("sub", y, B.binary("mul", skip, x)), out)
  const noiseLevel = B.affine(B.unary("log", draw.sigma), 0.25, 0)
  const f = network(tape, tape.leaf(B.binary("mul", x, inScale)), tape.leaf(noiseLevel))
  return tape.mseLoss(f, target, B.fill(y.rows, 1, 1 / y.cols))
}

/** The EDM loss of y with σ and n drawn from `key`. */
export const loss = (tape: Tape, network: EdmNetwork, c: EdmConfig, y: Tensor, rowSequence: Tensor, batch: number, key: RngKey): Var =>
  lossGiven(tape, network, c, y, drawNoise(tape.backend, c, batch, y.rows, y.cols, key), rowSequence)

// ---- sampling (EDM Algorithm 2) ------------------------------------------------------------------

/** σ₀ > … > σ_{N−1} = σ_min, then σ_N = 0: N + 1 levels for N steps. */
export const sigmas = (c: Pick<EdmConfig, "sigmaMin" | "sigmaMax" | "rho" | "steps">): Float64Array => {
  const n = c.steps
  const [hi, lo] = [c.sigmaMax ** (1 / c.rho), c.sigmaMin ** (1 / c.rho)]
  const out = new Float64Array(n + 1)
  for (let i = 0; i < n; i++) out[i] = (hi + (n === 1 ? 0 : i / (n - 1)) * (lo - hi)) ** c.rho
  out[n] = 0
  return out
}

/** Churn settings of the sampler; `sChurn` = 0 makes it deterministic. */
export interface Churn {
  readonly sChurn: number
  readonly sTmin: number
  readonly sTmax: number
  readonly sNoise: number
}

/** γ_i of a level σ_i among `steps` steps. */
export const churnGamma = (churn: Churn, sigma: number, steps: number): number =>
  sigma >= churn.sTmin && sigma <= churn.sTmax ? Math.min(churn.sChurn / steps, Math.SQRT2 - 1) : 0

/** D(x; σ) on a backend (the trained model, an exact denoiser in tests). */
export type Denoiser = (x: Tensor, sigma: number) => Tensor

export interface SampleOptions {
  readonly backend: TensorBackend
  readonly denoiser: Denoiser
  /** Noise levels from σ₀ down to the last (0 for clean samples); each consecutive pair is one step. */
  readonly sigmas: ArrayLike<number>
  readonly churn: Churn
  readonly heun: boolean
  /** Stream of the churn noise (step i uses offset i). */
  readonly key: RngKey
  /** A shift of the iterate before step i's churn (policy guidance); returns the new iterate. */
  readonly guide?: (x: Tensor, step: number, steps: number) => Tensor
}

/** x₀ = σ₀·n, n ~ N(0, I) [rows, cols]. */
export const initialNoise = (B: TensorBackend, rows: number, cols: number, sigma0: number, key: RngKey): Tensor =>
  B.affine(B.normal(rows, cols, key), sigma0, 0)

/** Runs the sampler from x₀ (not consumed) down the levels; returns the last iterate. */
export const sample = (o: SampleOptions, x0: Tensor): Tensor => {
  const B = o.backend
  const steps = o.sigmas.length - 1
  let x = x0
  for (let i = 0; i < steps; i++) {
    const [sigma, next] = [o.sigmas[i], o.sigmas[i + 1]]
    const nextX = B.scope(() => {
      const guided = o.guide === undefined ? x : o.guide(x, i, steps)
      const gamma = churnGamma(o.churn, sigma, steps)
      const sigmaHat = sigma * (1 + gamma)
      const xHat = gamma > 0
        ? B.binary("add", guided, B.affine(B.normal(x.rows, x.cols, Rng.at(o.key, i)), Math.sqrt(sigmaHat ** 2 - sigma ** 2) * o.churn.sNoise, 0))
        : guided
      const slope = (at: Tensor, level: number) => B.affine(B.binary("sub", at, o.denoiser(at, level)), 1 / level, 0)
      const d = slope(xHat, sigmaHat)
      const euler = B.binary("add", xHat, B.affine(d, next - sigmaHat, 0))
      if (!o.heun || next === 0) return euler
      const dNext = slope(euler, next)
      return B.binary("add", xHat, B.affine(B.binary("add", d, dNext), 0.5 * (next - sigmaHat), 0))
    })
    if (x !== x0) B.dispose(x)
    x = nextX
  }
  return x
}

/** The sampler options of a config: its levels, churn and order. */
export const samplerSettings = (c: EdmConfig) => ({
  sigmas: sigmas(c),
  churn: { sChurn: c.sChurn, sTmin: c.sTmin, sTmax: c.sTmax, sNoise: c.sNoise },
  heun: c.heun
})
