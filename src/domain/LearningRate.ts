/** Learning-rate schedules as pure functions of the step (optax conventions). */

/** optax.cosine_decay_schedule: lr·(1 − α)·½(1 + cos(π·min(step, T)/T)) + lr·α. */
export const cosineDecay = (lr: number, decaySteps: number, step: number, alpha = 0): number => {
  const progress = Math.min(step, decaySteps) / decaySteps
  return lr * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * progress)) + alpha)
}
