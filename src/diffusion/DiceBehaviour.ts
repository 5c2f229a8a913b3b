/**
 * Diffusion-DICE's behaviour model π^D(a | s) on the continuous VP-SDE (Mao et al. 2024, §4; the
 * model and loss are QGPO's/CEP's): an ε-network over the actions alone, conditioned on the state
 * (the engine's EpsNetwork with no weight coordinate), trained by denoising score matching
 *   t ~ U(1e-3, 1), z ~ N(0, I), a_t = α(t)·a₀ + σ(t)·z,   L = mean_batch Σ_dims (ε_θ(a_t, s, t) − z)²,
 * which is the reference's score loss ‖σ(t)·s_θ + z‖² with s_θ = −ε_θ/σ(t). The schedule is the linear
 * VP-SDE, log α(t) = −¼t²(β₁ − β₀) − ½tβ₀ with β₀ = 0.1, β₁ = 20.
 *
 * Sampling: DPM-Solver++ (data prediction), singlestep order 2, 15 steps on the time-uniform grid from
 * t = 1 to 1e-3 (15 model evaluations, the last interval first order), x_T ~ N(0, I), actions not
 * clipped inside the solver. A guidance term, when given, is evaluated at every model evaluation,
 * intermediate points included: ε̃ = ε_θ − s·σ(t)·∇_{a_t} g(a_t, s, t) (Theorem 1 of the paper: the
 * score of π*_t is the behaviour score plus ∇ log E[w* | a_t]).
 *
 * Time input (our choice): the network is fed 150·t. The ε-network's learnable Fourier features start
 * from W ~ N(0, 0.2²), so 2π·W·(150·t) starts with the frequencies of the reference's Gaussian
 * Fourier projection of t (W ~ N(0, 30²)); here they are learnable, as everywhere in the engine.
 */
import * as NoiseSchedule from "../domain/NoiseSchedule.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import * as SamplerSteps from "../domain/SamplerSteps.ts"
import type { GridPoint } from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import type { Layout } from "../nn/Parameters.ts"
import * as Parameters from "../nn/Parameters.ts"
import { Tape, type Var } from "../nn/Tape.ts"
import * as EpsNetwork from "./EpsNetwork.ts"
import * as Sampler from "./Sampler.ts"
import * as Training from "./Training.ts"
import type { DiffusionData } from "./Training.ts"

/** Smallest training time (the reference's 1e-3, also DPM-Solver's end time). */
export const T_MIN = 1e-3

/** The network's time input is TIME_SCALE·t (see the header). */
export const TIME_SCALE = 150

/** D-DICE samples with 15 steps of DPM-Solver++ (order 2). */
export const SOLVER_STEPS = 15

export const schedule = NoiseSchedule.vpContinuous

/** t ~ U(T_MIN, 1) as [rows, 1]. */
export const uniformTime = (B: TensorBackend, rows: number, key: RngKey): Tensor =>
  B.affine(B.uniform(rows, 1, key), 1 - T_MIN, T_MIN)

/** α(t) and σ(t) of every row of t [N, 1], on the device. */
export const scalesAt = (B: TensorBackend, s: NoiseSchedule.VpContinuous, t: Tensor): { readonly alpha: Tensor; readonly sigma: Tensor } => {
  // log α = −¼(β₁ − β₀)·t² − ½β₀·t
  const logAlpha = B.binary("add", B.affine(B.unary("square", t), -0.25 * (s.beta1 - s.beta0), 0), B.affine(t, -0.5 * s.beta0, 0))
  const alpha = B.unary("exp", logAlpha)
  // σ = √(1 − α²), floored at 0 against rounding
  const sigma = B.unary("sqrt", B.clamp(B.affine(B.unary("exp", B.affine(logAlpha, 2, 0)), -1, 1), 0, 1))
  return { alpha, sigma }
}

/** a_t = α(t)·a₀ + σ(t)·z for rows of a₀ [N, A], t [N, 1], z [N, A]. */
export const noised = (B: TensorBackend, s: NoiseSchedule.VpContinuous, a0: Tensor, t: Tensor, z: Tensor): Tensor => {
  const { alpha, sigma } = scalesAt(B, s, t)
  return B.binary("add", B.binary("mul", a0, alpha), B.binary("mul", z, sigma))
}

/** ε_θ(a_t, s, t) with t in (0, 1] ([N, 1]) fed as TIME_SCALE·t. */
export const eps = (p: Parameters.Bound, config: EpsNetwork.EpsNetworkConfig, x: Var, condition: Var | undefined, time: Var): Var =>
  EpsNetwork.apply(p, config, x, condition, p.tape.affine(time, TIME_SCALE))

/** The denoising score-matching loss of clean actions a₀ [B, A] with conditions [B, S] (or none). */
export const lossOn = (
  p: Parameters.Bound,
  config: EpsNetwork.EpsNetworkConfig,
  s: NoiseSchedule.VpContinuous,
  a0: Tensor,
  condition: Tensor | undefined,
  key: RngKey
): Var => {
  const B = p.tape.backend
  const t = uniformTime(B, a0.rows, Rng.at(Rng.split(key, "time"), key.offset))
  const z = B.normal(a0.rows, a0.cols, Rng.at(Rng.split(key, "noise"), key.offset))
  const tape = p.tape
  const prediction = eps(p, config, tape.leaf(noised(B, s, a0, t, z)), condition === undefined ? undefined : tape.leaf(condition), tape.leaf(t))
  return tape.mseLoss(prediction, z)
}

/** The loss of one minibatch of `batch` rows drawn from `data` (z₀ = the actions) with the stream `key`. */
export const loss = (
  p: Parameters.Bound,
  config: EpsNetwork.EpsNetworkConfig,
  s: NoiseSchedule.VpContinuous,
  data: DiffusionData,
  batch: number,
  key: RngKey
): Var => {
  const drawn = Training.minibatch(p.tape.backend, data, batch, key)
  return lossOn(p, config, s, drawn.z0, drawn.condition, key)
}

/** A guidance term: the gradient ∇_{a_t} of log E[w* | a_t] (or its estimate g) at a grid point, [B, A]. */
export type GuidanceGradient = (x: Tensor, point: GridPoint) => Tensor

export interface SampleOptions {
  readonly backend: TensorBackend
  readonly network: EpsNetwork.EpsNetworkConfig
  readonly layout: Layout
  readonly params: Tensor
  /** Conditions [rows, S], or undefined for an unconditional model. */
  readonly condition: Tensor | undefined
  readonly rows: number
  /** Guidance and its scale s (absent or 0: behaviour samples). */
  readonly guidance?: Guidance
  /** Solver steps (model evaluations; D-DICE: 15). */
  readonly steps?: number
  readonly key: RngKey
}

/** The behaviour model's ε at a grid point as a function of a_t on a tape (condition and time bound). */
export const epsFunction = (o: SampleOptions, point: GridPoint) => (tape: Tape, x: Var): Var => {
  const p = new Parameters.Bound(tape, o.layout, o.params)
  const time = tape.leaf(o.backend.fill(x.rows, 1, point.time))
  return eps(p, o.network, x, o.condition === undefined ? undefined : tape.leaf(o.condition), time)
}

/** Guidance of a denoiser: a gradient of log E[w* | a_t] (or of its estimate g) and the scale s. */
export interface Guidance {
  readonly gradient: GuidanceGradient
  readonly scale: number
}

/** ε̃(a_t) = ε(a_t) − s·σ(t)·∇ log E[w* | a_t] at every evaluation; `eps` alone without guidance or at s = 0. */
export const guided = (B: TensorBackend, eps: Sampler.Denoiser, guidance: Guidance | undefined): Sampler.Denoiser => (x, point) => {
  const plain = eps(x, point)
  if (guidance === undefined || guidance.scale === 0) return plain
  return B.binary("sub", plain, B.affine(guidance.gradient(x, point), guidance.scale * point.sigma, 0))
}

/** The trained behaviour model's ε as a sampler denoiser. */
export const networkDenoiser = (o: SampleOptions): Sampler.Denoiser => (x, point) => {
  const tape = new Tape(o.backend)
  return epsFunction(o, point)(tape, tape.leaf(x)).value
}

/**
 * Runs D-DICE's solver with a denoiser: x_T ~ N(0, I) [rows, dim] from `key`, DPM-Solver++ order 2
 * (singlestep) over `steps` evaluations on the time-uniform grid t ∈ [1e-3, 1]; no clipping.
 */
export const solve = (B: TensorBackend, denoiser: Sampler.Denoiser, rows: number, dim: number, key: RngKey, steps = SOLVER_STEPS): Tensor => {
  const xT = B.normal(rows, dim, Rng.split(key, "initial"))
  const grid = SamplerSteps.continuousGrid(schedule(), steps, T_MIN)
  const a0 = Sampler.sample({
    backend: B, denoiser, grid, sampler: new Sampler.DpmSolver({ order: 2, method: "singlestep" }), key: Rng.split(key, "steps")
  }, xT)
  B.dispose(xT)
  return a0
}

/** Actions [rows, A] from the behaviour model, guided when `o.guidance` is given. */
export const sample = (o: SampleOptions): Tensor =>
  solve(o.backend, guided(o.backend, networkDenoiser(o), o.guidance), o.rows, o.network.dataDim, o.key, o.steps)
