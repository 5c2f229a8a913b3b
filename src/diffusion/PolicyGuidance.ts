/**
 * Policy guidance of Policy-Guided Diffusion (Jackson et al. 2024, §4 "policy guidance"; reference
 * `EmptyJackson/policy-guided-diffusion`, `diffusion/edm.py::sample_trajectory`).
 *
 * The target is p_off(τ)·q_target(τ)^λ with q_target(τ) = Π_t π_target(a_t | s_t) (the paper's behaviour-
 * regularised target: the behaviour policy's own score is left out). Before EDM step k of N the noisy
 * trajectory's *action channels* are shifted:
 *
 *   g   = ∇_ã Σ_t log π_target(tanh(unnorm(ã_t)) | unnorm(s_t))     (states read off the same iterate, held fixed)
 *   g   ← g/‖g‖_F + 1e-8  per trajectory, when normalised (the reference adds 1e-8 after dividing)
 *   ã   ← ã + λ_k·g,   λ_k = λ·[(1 − k/N) + c·sin(π(k + 1)/N)] for delay ≤ k < N − 1, else 0
 *
 * a direct additive shift of the iterate, not a σ²-scaled score. States, rewards and done flags are untouched,
 * and λ = 0 returns the iterate itself (exactly unguided sampling).
 */
import { Schema } from "effect"
import * as Config from "../domain/Config.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Trajectories from "../data/Trajectories.ts"
import { Tape, type Var } from "../nn/Tape.ts"
import * as TemporalUnet from "../nn/TemporalUnet.ts"

export class PolicyGuidanceConfig extends Schema.Class<PolicyGuidanceConfig>("PolicyGuidanceConfig")({
  /** λ, the guidance coefficient (reference `policy_guidance_coeff`; 0: unguided). */
  coefficient: Schema.Finite.pipe(Config.withDefault(0)),
  /** c, the weight of the sine bump in λ_k (reference `policy_guidance_cosine_coeff`: 0.3). */
  cosineCoefficient: Schema.Finite.pipe(Config.withDefault(0.3)),
  /** Steps before guidance starts (reference `policy_guidance_delay_steps`: 0). */
  delaySteps: Config.NonNegativeInt.pipe(Config.withDefault(0)),
  /** Divide g by its Frobenius norm per trajectory (reference `--normalize_action_guidance`, off by default). */
  normalise: Schema.Boolean.pipe(Config.withDefault(false))
}) {}

export const policyGuidanceConfig = (fields: Partial<typeof PolicyGuidanceConfig.Encoded> = {}): PolicyGuidanceConfig =>
  Schema.decodeUnknownSync(PolicyGuidanceConfig)(fields)

/** λ_k at step k of N. */
export const lambdaAt = (c: PolicyGuidanceConfig, step: number, steps: number): number =>
  step >= c.delaySteps && step < steps - 1
    ? c.coefficient * (1 - step / steps + c.cosineCoefficient * Math.sin((Math.PI * (step + 1)) / steps))
    : 0

/**
 * A target policy: log π(a | s) per row [n, 1] on a tape, for states [n, |S|] and actions [n, |A|] in the
 * environment's units (actions in (−1, 1)). The guidance differentiates it w.r.t. the actions only.
 */
export interface TargetPolicy {
  readonly logProb: (tape: Tape, states: Var, actions: Var) => Var
}

const LOG_2PI = Math.log(2 * Math.PI)

/** log N(a; mean, diag(exp(logStd))²) per row, [n, 1]; logStd is [n, |A|] or [1, |A|]. */
export const gaussianLogProb = (tape: Tape, actions: Var, mean: Var, logStd: Var): Var => {
  const z = tape.div(tape.sub(actions, mean), tape.unary("exp", logStd))
  const quadratic = tape.reduce("sum", "cols", tape.unary("square", z))
  const logStdSum = tape.reduce("sum", "cols", logStd)
  const perRow = tape.add(tape.affine(quadratic, -0.5, -0.5 * actions.cols * LOG_2PI), tape.affine(logStdSum, -1))
  return perRow
}

/**
 * A deterministic actor μ(s) as the Gaussian N(μ(s), std²·I) (the reference uses std = 1 for TD3+BC).
 * `mean` maps states [n, |S|] to actions [n, |A|].
 */
export const gaussianAroundActor = (mean: (tape: Tape, states: Var) => Var, std = 1): TargetPolicy => ({
  logProb: (tape, states, actions) => {
    const logStd = tape.leaf(tape.backend.fill(1, actions.cols, Math.log(std)))
    return gaussianLogProb(tape, actions, mean(tape, states), logStd)
  }
})

/** IQL's actor bound for log std (reference `models/iql.py`). */
export const LOG_STD_RANGE = { min: -20, max: 2 } as const

/** A Gaussian actor N(mean(s), exp(clip(logStd(s), −20, 2))²): `actor` returns the mean (already tanh-squashed) and log std. */
export const gaussianActor = (actor: (tape: Tape, states: Var) => { readonly mean: Var; readonly logStd: Var }): TargetPolicy => ({
  logProb: (tape, states, actions) => {
    const { mean, logStd } = actor(tape, states)
    return gaussianLogProb(tape, actions, mean, tape.clamp(logStd, LOG_STD_RANGE.min, LOG_STD_RANGE.max))
  }
})

/** What the guidance needs to read a normalised trajectory iterate. */
export interface TrajectoryFrame {
  readonly channels: Trajectories.Channels
  readonly normalisation: Trajectories.Normalisation
  /** Rows per trajectory. */
  readonly length: number
}

const columnSlice = (B: TensorBackend, values: ArrayLike<number>, start: number, width: number): Tensor =>
  B.upload(Float32Array.from({ length: width }, (_, k) => values[start + k]), 1, width)

/**
 * g = ∇_ã Σ log π_target(tanh(unnorm(ã)) | unnorm(s)) of an iterate x [count·length, channels]: [count·length, |A|],
 * normalised per trajectory when asked. Non-finite entries become 0.
 */
export const actionGradient = (B: TensorBackend, target: TargetPolicy, frame: TrajectoryFrame, x: Tensor, normalise: boolean): Tensor => {
  const { observationDim: so, actionDim: sa } = frame.channels
  const n = frame.normalisation
  const tape = new Tape(B)
  const states = B.binary("add", B.binary("mul", B.sliceCols(x, 0, so), columnSlice(B, n.std, 0, so)), columnSlice(B, n.mean, 0, so))
  const preTanh = tape.leaf(B.sliceCols(x, so, sa))
  const unnormalised = tape.add(tape.mul(preTanh, tape.leaf(columnSlice(B, n.std, so, sa))), tape.leaf(columnSlice(B, n.mean, so, sa)))
  const logProb = tape.reduce("sum", "all", target.logProb(tape, tape.leaf(states), tape.unary("tanh", unnormalised)))
  const [g] = tape.grad(logProb, [preTanh])
  const safe = B.unary("finiteOrZero", g)
  if (!normalise) return safe
  const count = x.rows / frame.length
  const rows = TemporalUnet.sequenceOfRows(B, count, frame.length)
  const perTrajectory = B.scatterAddRows(B.reduce("sum", "cols", B.unary("square", safe)), rows, count)
  const norms = B.gatherRows(B.unary("sqrt", perTrajectory), rows)
  return B.affine(B.binary("div", safe, norms), 1, 1e-8)
}

/**
 * The sampler's `guide` hook: before step k of N, x ← x + λ_k·g on the action columns (the other columns keep
 * their values exactly); x itself where λ_k = 0.
 */
export const guide = (B: TensorBackend, target: TargetPolicy, frame: TrajectoryFrame, c: PolicyGuidanceConfig) =>
  (x: Tensor, step: number, steps: number): Tensor => {
    const lambda = lambdaAt(c, step, steps)
    if (lambda === 0) return x
    const g = actionGradient(B, target, frame, x, c.normalise)
    const channels = Trajectories.channelCount(frame.channels)
    return B.binary("add", x, B.padCols(B.affine(g, lambda, 0), frame.channels.observationDim, channels))
  }
