/**
 * The maths of one reverse-diffusion step, as coefficients of linear combinations, for the
 * samplers DDPM, DDIM and DPM-Solver++. A sampler walks a grid of points (network time input,
 * α, σ) from noise to data; each step turns (x, ε̃[, z]) into the next x with these numbers.
 *
 *   x̂₀ = (x − σ·ε̃)/α          data prediction (Tweedie)         §1.4
 *   DDPM (SWG-JAX):  x' = (x − β/σ·ε̃)/√(1−β) + √β·temp·z          §1.5
 *   DDPM (posterior mean): x' = c₁·clip(x̂₀) + c₂·x + √β̃·temp·z     §1.5
 *   DDIM(η):  x' = α'·x̂₀ + √(σ'² − σ̃²)·ε̃ + σ̃·z                    §1.6
 *   DPM-Solver++: x' = (σ'/σ)·x − α'·expm1(−h)·D, h = λ' − λ        §1.7
 */
import * as NoiseSchedule from "./NoiseSchedule.ts"

/** A point of a sampling grid: the time the network is given, and the marginal's scales. */
export interface GridPoint {
  readonly time: number
  readonly alpha: number
  readonly sigma: number
}

/** Half log-SNR of a grid point. */
export const lambdaOf = (p: GridPoint): number => Math.log(p.alpha) - Math.log(p.sigma)

/**
 * Every step of a discrete schedule from the noisiest (t = T−1) to the cleanest (t = 0), the time
 * input being the integer step index as SWG/IDQL feed it. `stride` > 1 keeps every stride-th step
 * (counted from t = 0), for DDIM on a coarser grid.
 */
export const discreteGrid = (s: NoiseSchedule.Discrete, stride = 1): Array<GridPoint> => {
  const { alpha, sigma } = NoiseSchedule.scales(s)
  const points: Array<GridPoint> = []
  for (let t = s.steps - 1; t >= 0; t--) {
    if (t % stride === 0) points.push({ time: t, alpha: alpha[t], sigma: sigma[t] })
  }
  return points
}

/** DPM-Solver's time-uniform grid: `steps` + 1 points from t = 1 down to tEnd (1e-3 in CEP/D-DICE). */
export const continuousGrid = (s: NoiseSchedule.VpContinuous, steps: number, tEnd = 1e-3): Array<GridPoint> =>
  Array.from({ length: steps + 1 }, (_, i) => {
    const t = 1 + ((tEnd - 1) * i) / steps
    return { time: t, alpha: NoiseSchedule.alpha(s, t), sigma: NoiseSchedule.sigma(s, t) }
  })

/** `steps` + 1 points evenly spaced in λ from t = 1 to tEnd (DPM-Solver's 'logSNR' skip type). */
export const logSnrGrid = (s: NoiseSchedule.VpContinuous, steps: number, tEnd = 1e-3): Array<GridPoint> => {
  const l0 = NoiseSchedule.lambda(s, 1)
  const l1 = NoiseSchedule.lambda(s, tEnd)
  return Array.from({ length: steps + 1 }, (_, i) => {
    const t = i === 0 ? 1 : i === steps ? tEnd : NoiseSchedule.timeFromLambda(s, l0 + ((l1 - l0) * i) / steps)
    return { time: t, alpha: NoiseSchedule.alpha(s, t), sigma: NoiseSchedule.sigma(s, t) }
  })
}

/** Coefficients of x' = x·x + eps·ε̃ + noise·z. */
export interface Step {
  readonly x: number
  readonly eps: number
  readonly noise: number
}

/** Per-step β of point i of a full discrete grid (ᾱ of the point after the last is 1). */
const betaAt = (grid: ReadonlyArray<GridPoint>, i: number): number => {
  const next = i + 1 < grid.length ? grid[i + 1].alpha : 1
  return 1 - (grid[i].alpha / next) ** 2
}

/**
 * DDPM ancestral step, SWG-JAX/IDQL form: x' = (x − β_t/σ_t·ε̃)/√α_t + √β_t·temperature·z for
 * t > 0 (α_t = 1 − β_t, the single step). The variance is β_t, not the posterior one.
 */
export const ddpm = (grid: ReadonlyArray<GridPoint>, i: number, temperature: number): Step => {
  const beta = betaAt(grid, i)
  const last = i === grid.length - 1
  const inv = 1 / Math.sqrt(1 - beta)
  return { x: inv, eps: (-beta / grid[i].sigma) * inv, noise: last ? 0 : Math.sqrt(beta) * temperature }
}

/** Coefficients of the posterior-mean DDPM step (SWG-PT): x̂₀ = x̂x·x + x̂ε·ε̃, then x' = c₁·x̂₀ + c₂·x + noise·z. */
export interface PosteriorStep {
  readonly x0FromX: number
  readonly x0FromEps: number
  readonly c1: number
  readonly c2: number
  readonly noise: number
}

export const ddpmPosterior = (grid: ReadonlyArray<GridPoint>, i: number, temperature: number): PosteriorStep => {
  const p = grid[i]
  const abar = p.alpha * p.alpha
  const abarPrev = i + 1 < grid.length ? grid[i + 1].alpha ** 2 : 1
  const beta = 1 - abar / abarPrev
  const last = i === grid.length - 1
  // β̃_t = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t), its log clipped at 1e-20 as in the reference code.
  const posteriorVariance = Math.max((beta * (1 - abarPrev)) / (1 - abar), 1e-20)
  return {
    x0FromX: 1 / p.alpha,
    x0FromEps: -Math.sqrt(1 / abar - 1),
    c1: (beta * Math.sqrt(abarPrev)) / (1 - abar),
    c2: ((1 - abarPrev) * Math.sqrt(1 - beta)) / (1 - abar),
    noise: last ? 0 : Math.sqrt(posteriorVariance) * temperature
  }
}

/**
 * DDIM(η) from grid point `from` to `to` (or to clean data when `to` is undefined):
 * x' = α'(x − σε̃)/α + √(σ'² − σ̃²)·ε̃ + σ̃·z, σ̃ = η·√(σ'²/σ²·(1 − α²/α'²)).
 */
export const ddim = (from: GridPoint, to: GridPoint | undefined, eta: number): Step => {
  const a1 = to?.alpha ?? 1
  const s1 = to?.sigma ?? 0
  const sigmaTilde = eta * Math.sqrt(Math.max(((s1 * s1) / (from.sigma * from.sigma)) * (1 - (from.alpha * from.alpha) / (a1 * a1)), 0))
  const direction = Math.sqrt(Math.max(s1 * s1 - sigmaTilde * sigmaTilde, 0))
  return { x: a1 / from.alpha, eps: direction - (a1 * from.sigma) / from.alpha, noise: sigmaTilde }
}

/** x̂₀ = (x − σ·ε̃)/α as coefficients on (x, ε̃). */
export const dataPrediction = (p: GridPoint): { readonly x: number; readonly eps: number } => ({
  x: 1 / p.alpha,
  eps: -p.sigma / p.alpha
})

/** DPM-Solver++ first order (= DDIM with η = 0): x' = (σ'/σ)·x − α'·expm1(−h)·x̂₀. Coefficients on (x, x̂₀). */
export const dpmSolverFirst = (from: GridPoint, to: GridPoint): { readonly x: number; readonly x0: number } => {
  const h = lambdaOf(to) - lambdaOf(from)
  return { x: to.sigma / from.sigma, x0: -to.alpha * Math.expm1(-h) }
}

/**
 * DPM-Solver++(2S) with solver_type 'dpm_solver' from s to t through s₁ with r₁ = (λ_{s₁} − λ_s)/h:
 * x_t = (σ_t/σ_s)x − α_t·φ₁·D₀ − (0.5/r₁)·α_t·φ₁·(D₁ − D₀), φ₁ = expm1(−h).
 * Coefficients on (x, D₀ = x̂₀(x, s), D₁ = x̂₀(x_{s₁}, s₁)); x_{s₁} itself is a first-order step.
 */
export const dpmSolverSecondSinglestep = (
  from: GridPoint, mid: GridPoint, to: GridPoint
): { readonly x: number; readonly d0: number; readonly d1: number } => {
  const h = lambdaOf(to) - lambdaOf(from)
  const r1 = (lambdaOf(mid) - lambdaOf(from)) / h
  const phi1 = Math.expm1(-h)
  const k = (0.5 / r1) * to.alpha * phi1
  return { x: to.sigma / from.sigma, d0: -to.alpha * phi1 + k, d1: -k }
}

/**
 * DPM-Solver++(2M) from s to t using the previous data prediction D₋₁ made at `prev`:
 * r = h₋₁/h, D = (1 + 1/(2r))·D₀ − 1/(2r)·D₋₁, x_t = (σ_t/σ_s)x − α_t·expm1(−h)·D.
 */
export const dpmSolverSecondMultistep = (
  prev: GridPoint, from: GridPoint, to: GridPoint
): { readonly x: number; readonly d0: number; readonly dPrev: number } => {
  const h = lambdaOf(to) - lambdaOf(from)
  const r = (lambdaOf(from) - lambdaOf(prev)) / h
  const phi = -to.alpha * Math.expm1(-h)
  return { x: to.sigma / from.sigma, d0: phi * (1 + 1 / (2 * r)), dPrev: -phi / (2 * r) }
}

/*
 * Why the last interval of a DPM-Solver++ run is always first order ("lower_order_final" in the
 * reference solvers). The exact step of the data-prediction ODE is
 *   x_t = (σ_t/σ_s)·x_s + σ_t ∫_{λ_s}^{λ_t} e^λ x̂₀(λ) dλ,
 * and the first-order step, x_t = (σ_t/σ_s)·x_s − α_t·expm1(−h)·D₀, is that integral with x̂₀ held
 * at D₀ = x̂₀(λ_s). The second-order steps replace x̂₀ by a line through two of its values, i.e.
 * D = D₀ + (D₀ − D₋₁)/(2r) in 2M (DPM-Solver++ paper, Lu et al. 2022, Algorithm 2; r = h₋₁/h)
 * and D = D₀ + (D₁ − D₀)/(2r₁) in 2S (Algorithm 1): a slope measured over r·h, extrapolated to h/2.
 * λ = log α − log σ → ∞ as t → 0, so on DPM-Solver's time-uniform grid the last interval to
 * t_end = 1e-3 is by far the longest in λ: with 15 steps h₋₁ = 0.69 and h = 3.10 (σ 0.42 → 0.23
 * → 0.010), so r = 0.22 and 2M takes D = 3.25·D₀ − 2.25·D₋₁. For data concentrated near points
 * x̂₀(λ) has (nearly) settled on the nearest point by σ = 0.23 and stays there, so the slope it
 * had between σ = 0.42 and 0.23 does not continue: the line overshoots by 2.25·‖D₀ − D₋₁‖, which
 * is up to the distance between two points (15 steps of 2M on three points in R³: 90th percentile
 * of the distance to the nearest point 0.75, worst 2.16; 0.035 and 0.63 with the last step first
 * order). Holding x̂₀ at D₀ is exact once it has
 * settled, and one first-order step among second-order ones adds O(h²), the global error of a
 * second-order solver, so the order of convergence is kept.
 */

/**
 * DPM-Solver's singlestep order list for `steps` function evaluations at order 2, with the last
 * interval first order: [2, 2, …, 2, 1] if steps is odd (15 → seven 2s and a 1, as the reference);
 * [2, …, 2, 1, 1] if even, where the reference would end with a 2 spanning the last two intervals.
 */
export const singlestepOrders = (steps: number): Array<1 | 2> => {
  const twos = Math.max(Math.floor((steps - 1) / 2), 0)
  return [...Array.from({ length: twos }, () => 2 as const), ...Array.from({ length: steps - 2 * twos }, () => 1 as const)]
}

/**
 * DPM-Solver++(2M)'s order per interval: the first is first order (no previous x̂₀ yet), the last
 * is first order (see above), the others second order: 15 steps → [1, 2 × 13, 1].
 */
export const multistepOrders = (steps: number): Array<1 | 2> =>
  Array.from({ length: steps }, (_, i) => (i === 0 || i === steps - 1 ? 1 : 2))
