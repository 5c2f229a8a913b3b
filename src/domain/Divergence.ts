/**
 * The piecewise f-divergence ("soft-χ²") of Diffusion-DICE (Mao et al. 2024, §3 and App. B), its
 * convex conjugate f* and the optimal distribution ratio w* = (f*)'. Pure, per element.
 *
 *   f(x)  = x·log x − x + 1   for 0 < x < 1,        (x − 1)²   for x ≥ 1   (f(0) = 1, the limit)
 *   f*(y) = e^y − 1           for y < 0,            y + y²/4   for y ≥ 0
 *   w*(y) = e^y               for y < 0,            1 + y/2    for y ≥ 0
 *
 * f is convex with f(1) = 0 and f'(1) = 0; both pieces of f meet with value and slope at x = 1, so f*
 * and w* are continuous at y = 0 (f*(0) = 0, w*(0) = 1) and w* > 0 everywhere. In DICE the argument is
 * y = (Q(s, a) − V(s))/α, and w*(y) = d*(s, a)/d^D(s, a), the ratio that reweights the data into the
 * optimal policy (π* ∝ w*·π^D).
 */

/** f(x) for x ≥ 0 (the KL piece below 1, the χ² piece above). */
export const f = (x: number): number => {
  if (x >= 1) return (x - 1) * (x - 1)
  if (x === 0) return 1
  return x * Math.log(x) - x + 1
}

/** f*(y) = sup_{x ≥ 0} [x·y − f(x)]. */
export const conjugate = (y: number): number => (y >= 0 ? y + (y * y) / 4 : Math.expm1(y))

/** w*(y) = (f*)'(y), the argmax x of x·y − f(x). */
export const ratio = (y: number): number => (y >= 0 ? 1 + y / 2 : Math.exp(y))

/** The reference code's clip of the ratio before it is used as a weight (`[1e-40, 100]`). */
export const RATIO_CLIP: readonly [number, number] = [1e-40, 100]

/** w*((q − v)/α) clipped to `RATIO_CLIP`, for every pair of (q, v) rows: the weights IGL learns from. */
export const ratios = (q: ArrayLike<number>, v: ArrayLike<number>, alpha: number): Float64Array =>
  Float64Array.from({ length: q.length }, (_, i) =>
    Math.min(Math.max(ratio((q[i] - v[i]) / alpha), RATIO_CLIP[0]), RATIO_CLIP[1]))

/**
 * The IGL objective of a constant guess y for samples f_i ≥ 0: mean_i [f_i·e^{−y} + y]. Lemma 1 of the
 * paper: it is convex in y with minimiser y* = log mean_i f_i, which is why a network trained on it
 * learns g(a_t) = log E[w* | a_t].
 */
export const iglObjective = (samples: ArrayLike<number>, y: number): number => {
  let total = 0
  for (let i = 0; i < samples.length; i++) total += samples[i] * Math.exp(-y) + y
  return total / samples.length
}
