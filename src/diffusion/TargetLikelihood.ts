/**
 * How likely a target policy finds a set of trajectories (Policy-Guided Diffusion, Jackson et al., RLC 2024, §4):
 * policy guidance raises q_target(τ) = Π_t π_target(a_t | s_t), so the mean of log π_target(a_t | s_t) over the
 * generated transitions measures how far the samples moved towards the target as λ grows (issue #10 item 6).
 *
 * The log-likelihood is taken through the same `TargetPolicy` the guidance differentiates (PolicyGuidance.ts):
 * TD3+BC's actor as N(μ(s), I), IQL's N(tanh-mean(s), exp(logStd)²). The positions of one trajectory are not
 * independent, so the standard error is over trajectories (of their per-trajectory means); two sets sampled from the
 * same noise are compared trajectory by trajectory (a paired difference).
 */
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import { Tape } from "../nn/Tape.ts"
import type * as PolicyGuidance from "./PolicyGuidance.ts"

/** log π_target(a | s) [n, 1] of states [n, |S|] and actions [n, |A|] in the environment's units (no gradient). */
export const logLikelihoods = (B: TensorBackend, target: PolicyGuidance.TargetPolicy, states: Tensor, actions: Tensor): Tensor =>
  B.scope(() => {
    const tape = new Tape(B)
    return target.logProb(tape, tape.leaf(states), tape.leaf(actions)).value
  })

/** A mean over trajectories and its standard error (n − 1 variance of the per-trajectory means). */
export interface Estimate {
  readonly mean: number
  readonly standardError: number
  /** Trajectories. */
  readonly count: number
}

const estimate = (perTrajectory: ArrayLike<number>): Estimate => {
  const n = perTrajectory.length
  let mean = 0
  for (let i = 0; i < n; i++) mean += perTrajectory[i] / n
  let squares = 0
  for (let i = 0; i < n; i++) squares += (perTrajectory[i] - mean) ** 2
  return { mean, standardError: n > 1 ? Math.sqrt(squares / (n - 1) / n) : 0, count: n }
}

/** Positions per trajectory of `count` trajectories laid out one after the other in `values`. */
const positionsOf = (values: ArrayLike<number>, count: number): number => {
  const per = values.length / count
  if (!Number.isInteger(per) || per < 1) throw new RangeError(`${values.length} values do not split into ${count} trajectories`)
  return per
}

/** The mean of each trajectory's `values.length / count` consecutive values. */
export const trajectoryMeans = (values: ArrayLike<number>, count: number): Float64Array => {
  const per = positionsOf(values, count)
  const out = new Float64Array(count)
  for (let i = 0; i < count; i++) {
    let s = 0
    for (let t = 0; t < per; t++) s += values[i * per + t]
    out[i] = s / per
  }
  return out
}

/** The mean log-likelihood of `count` trajectories (values [count·positions], trajectory after trajectory). */
export const summarise = (values: ArrayLike<number>, count: number): Estimate => estimate(trajectoryMeans(values, count))

/** values − baseline, trajectory by trajectory (trajectory i of both sets sampled from the same noise). */
export const pairedDifference = (values: ArrayLike<number>, baseline: ArrayLike<number>, count: number): Estimate => {
  if (values.length !== baseline.length) throw new RangeError(`paired sets differ in size: ${values.length} and ${baseline.length}`)
  const a = trajectoryMeans(values, count)
  const b = trajectoryMeans(baseline, count)
  return estimate(a.map((x, i) => x - b[i]))
}

/** The mean at each position t of `count` trajectories of `values.length / count` positions. */
export const byPosition = (values: ArrayLike<number>, count: number): Float64Array => {
  const per = positionsOf(values, count)
  const out = new Float64Array(per)
  for (let i = 0; i < count; i++) for (let t = 0; t < per; t++) out[t] += values[i * per + t] / count
  return out
}
