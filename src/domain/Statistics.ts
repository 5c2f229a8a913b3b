/** Summary statistics shared by benchmarks and results tables. */

export const mean = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0) / xs.length

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Standard error of the mean with the n − 1 sample variance (0 for a single value). */
export const standardError = (xs: ReadonlyArray<number>): number => {
  if (xs.length < 2) return 0
  const m = mean(xs)
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) / xs.length)
}

/**
 * Ranks 1 … n of `xs` in ascending order, tied values sharing the mean of the ranks they span (the "fractional"
 * ranking Spearman's coefficient uses). NaN is not ordered: pass finite values.
 */
export const ranks = (xs: ArrayLike<number>): Float64Array => {
  const order = Array.from({ length: xs.length }, (_, i) => i).sort((a, b) => xs[a] - xs[b])
  const out = new Float64Array(xs.length)
  for (let start = 0; start < order.length;) {
    let end = start + 1
    while (end < order.length && xs[order[end]] === xs[order[start]]) end++
    // positions start … end − 1 hold equal values: ranks start + 1 … end, each gets their mean
    const shared = (start + 1 + end) / 2
    for (let k = start; k < end; k++) out[order[k]] = shared
    start = end
  }
  return out
}

/**
 * Spearman's rank correlation of paired samples: Pearson's correlation of their `ranks` (so ties are handled
 * exactly, not by the 1 − 6Σd²/(n(n² − 1)) shortcut that assumes none). NaN when either sample is constant or
 * the lengths differ or are below 2.
 */
export const spearman = (xs: ArrayLike<number>, ys: ArrayLike<number>): number => {
  const n = xs.length
  if (n !== ys.length || n < 2) return NaN
  const rx = ranks(xs)
  const ry = ranks(ys)
  // both rank vectors have mean (n + 1)/2
  const m = (n + 1) / 2
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    sxy += (rx[i] - m) * (ry[i] - m)
    sxx += (rx[i] - m) ** 2
    syy += (ry[i] - m) ** 2
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy)
}
