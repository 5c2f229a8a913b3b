/**
 * A 2-D point-mass task where Policy-Guided Diffusion's target distribution can be sampled exactly (the
 * illustration of Jackson et al. 2024, Figs. 2–3). The state is a position s ∈ R², the dynamics s' = s + a.
 * Both policies steer towards a goal with the same gain k and isotropic Gaussian noise:
 *
 *   π_off(a | s) = N(k·(g_off − s), σ_off²·I),   π_target(a | s) = N(k·(g_target − s), σ_target²·I).
 *
 * p_off(τ)·Π_t π_target(a_t | s_t)^λ then factorises into a rollout of the product policy
 *
 *   π_λ(a | s) ∝ π_off(a | s)·π_target(a | s)^λ = N(m_λ(s), σ_λ²·I),
 *   1/σ_λ² = 1/σ_off² + λ/σ_target²,   m_λ = σ_λ²·(μ_off(s)/σ_off² + λ·μ_target(s)/σ_target²),
 *
 * because the product's normaliser depends only on μ_off(s) − μ_target(s) = k·(g_off − g_target), a constant
 * (equal gains make it so): no trajectory is reweighted beyond its steps. Exact samples are rollouts of π_λ.
 */
import * as OfflineDataset from "../data/OfflineDataset.ts"
import * as Rng from "../domain/Rng.ts"

export interface PointMassTask {
  /** k, the gain of both policies. */
  readonly gain: number
  readonly behaviourGoal: readonly [number, number]
  readonly targetGoal: readonly [number, number]
  readonly behaviourStd: number
  readonly targetStd: number
  /** Std of the start position around the origin. */
  readonly startStd: number
  /** Steps (actions) per trajectory. */
  readonly horizon: number
}

/** Mean and std of π_λ at s (λ = 0: the behaviour policy). */
export const productPolicy = (task: PointMassTask, lambda: number, s: ArrayLike<number>) => {
  const precision = 1 / task.behaviourStd ** 2 + lambda / task.targetStd ** 2
  const variance = 1 / precision
  const mean = [0, 1].map((k) =>
    variance * ((task.gain * (task.behaviourGoal[k] - s[k])) / task.behaviourStd ** 2 +
      (lambda * task.gain * (task.targetGoal[k] - s[k])) / task.targetStd ** 2))
  return { mean, std: Math.sqrt(variance) }
}

/** log N(a; k·(goal − s), std²·I). */
export const logLikelihood = (task: PointMassTask, goal: readonly [number, number], std: number, s: ArrayLike<number>, a: ArrayLike<number>): number => {
  let total = 0
  for (let k = 0; k < 2; k++) total += -0.5 * ((a[k] - task.gain * (goal[k] - s[k])) / std) ** 2 - Math.log(std) - 0.5 * Math.log(2 * Math.PI)
  return total
}

/** `count` exact rollouts of π_λ: positions [count, horizon + 1, 2] and actions [count, horizon, 2], row-major. */
export const rollouts = (task: PointMassTask, lambda: number, count: number, key: Rng.RngKey) => {
  const h = task.horizon
  const positions = new Float64Array(count * (h + 1) * 2)
  const actions = new Float64Array(count * h * 2)
  const noise = new Float64Array(count * (h + 1) * 2)
  Rng.fillNormal(key, noise)
  for (let i = 0; i < count; i++) {
    const s = [task.startStd * noise[i * (h + 1) * 2], task.startStd * noise[i * (h + 1) * 2 + 1]]
    positions.set(s, i * (h + 1) * 2)
    for (let t = 0; t < h; t++) {
      const { mean, std } = productPolicy(task, lambda, s)
      for (let k = 0; k < 2; k++) {
        const a = mean[k] + std * noise[(i * (h + 1) + t + 1) * 2 + k]
        actions[(i * h + t) * 2 + k] = a
        s[k] += a
      }
      positions.set(s, (i * (h + 1) + t + 1) * 2)
    }
  }
  return { positions, actions }
}

/**
 * Behaviour data in the D4RL layout: `episodes` rollouts of π_off with `horizon + 1` steps each, the last a
 * timeout, so that each episode holds exactly one window of `horizon` steps from its start. The reward is
 * −‖s − g_off‖ (unused by the illustration, but a channel of the trajectories).
 */
export const behaviourDataset = (task: PointMassTask, episodes: number, key: Rng.RngKey): OfflineDataset.OfflineDataset => {
  const steps = task.horizon + 1
  const long = { ...task, horizon: steps }
  const { positions, actions } = rollouts(long, 0, episodes, key)
  const n = episodes * steps
  const observations = new Float32Array(n * 2)
  const timeouts = new Uint8Array(n)
  for (let i = 0; i < episodes; i++) {
    for (let t = 0; t < steps; t++) {
      observations.set(positions.subarray((i * (steps + 1) + t) * 2, (i * (steps + 1) + t) * 2 + 2), (i * steps + t) * 2)
    }
    timeouts[(i + 1) * steps - 1] = 1
  }
  const rewards = Float32Array.from({ length: n }, (_, j) =>
    -Math.hypot(observations[j * 2] - task.behaviourGoal[0], observations[j * 2 + 1] - task.behaviourGoal[1]))
  return OfflineDataset.make({
    observationDim: 2,
    actionDim: 2,
    observations,
    actions: Float32Array.from(actions),
    rewards,
    terminals: new Uint8Array(n),
    timeouts
  })
}
