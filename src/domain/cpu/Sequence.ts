/**
 * The sequence ops of the temporal U-Net as loops over row-major arrays, in f64 arithmetic with one
 * rounding per stored value: the CPU reference's and the WASM backend's (which multiplies the
 * unfolded input on its SIMD matmul). Layout: [batch·length, channels], row b·length + t is time t of
 * sequence b. Shapes are checked by the callers (Ops.ts).
 *
 * A "same" 1-D convolution is a product with the unfolded input (im2col):
 *   U[b·L + t, k·C + c] = x[b, t + k − left, c] (0 outside [0, L)),  conv(x) = U·W + bias,
 * so dW = Uᵀ·dy and dx = fold(dy·Wᵀ), fold being unfold's adjoint.
 */
import type { Floats } from "./Matmul.ts"

/** The dimensions of an unfold: `rows` = batch·length rows of `channels` columns, `kernel` taps. */
export interface UnfoldDims {
  readonly rows: number
  readonly channels: number
  readonly length: number
  readonly kernel: number
  /** Zeros before the sequence (Ops.samePaddingLeft). */
  readonly left: number
}

/** out [rows, kernel·channels] = U(x) above. */
export const unfold = (x: Floats, d: UnfoldDims, out: Floats): void => {
  const { rows, channels: C, length: L, kernel: K, left } = d
  const width = K * C
  for (let r = 0; r < rows; r++) {
    const t = r % L
    for (let k = 0; k < K; k++) {
      const s = t + k - left
      const o = r * width + k * C
      if (s < 0 || s >= L) {
        out.fill(0, o, o + C)
      } else {
        const from = (r - t + s) * C
        for (let c = 0; c < C; c++) out[o + c] = x[from + c]
      }
    }
  }
}

/** The adjoint of unfold: out [rows, channels], out[b, s, c] = Σ_k u[b·L + s − k + left, k·C + c] over valid rows. */
export const fold = (u: Floats, d: UnfoldDims, out: Floats): void => {
  const { rows, channels: C, length: L, kernel: K, left } = d
  const width = K * C
  for (let r = 0; r < rows; r++) {
    const s = r % L
    for (let c = 0; c < C; c++) {
      let acc = 0
      for (let k = 0; k < K; k++) {
        const t = s - k + left
        if (t >= 0 && t < L) acc += u[(r - s + t) * width + k * C + c]
      }
      out[r * C + c] = acc
    }
  }
}

/** The dimensions of a group norm. */
export interface GroupDims {
  readonly rows: number
  readonly channels: number
  readonly length: number
  readonly groups: number
}

/**
 * Group norm: per (b, g), μ and rstd = 1/√(var + eps) (biased variance, two passes) over the
 * group's length·channels/groups values, written to mean/rstd[b·groups + g]; out = (x − μ)·rstd·γ + β.
 * Group (b, g) is rows b·L … b·L + L − 1, channels g·cg … g·cg + cg − 1 (cg = channels/groups).
 */
export const groupNorm = (
  x: Floats, gamma: Floats | undefined, beta: Floats | undefined, d: GroupDims, eps: number,
  out: Floats, mean: Floats, rstd: Floats
): void => {
  const { channels: C, length: L, groups: G } = d
  const cg = C / G
  const n = L * cg
  for (let b = 0; b < d.rows / L; b++) {
    for (let g = 0; g < G; g++) {
      const c0 = g * cg
      let s = 0
      for (let t = 0; t < L; t++) for (let i = (b * L + t) * C + c0, e = i + cg; i < e; i++) s += x[i]
      const mu = s / n
      let v = 0
      for (let t = 0; t < L; t++) for (let i = (b * L + t) * C + c0, e = i + cg; i < e; i++) v += (x[i] - mu) ** 2
      const rs = 1 / Math.sqrt(v / n + eps)
      mean[b * G + g] = mu
      rstd[b * G + g] = rs
      for (let t = 0; t < L; t++) {
        const row = (b * L + t) * C
        for (let c = c0; c < c0 + cg; c++) {
          out[row + c] = (x[row + c] - mu) * rs * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0)
        }
      }
    }
  }
}

/**
 * Group norm's backward, per group as layer norm's per row: with x̂ = (x − μ)·rstd, g = dy·γ and n
 * the group's size, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)); dγ = Σ dy·x̂ and dβ = Σ dy over all
 * rows (accumulated into the f64 arrays when given).
 */
export const groupNormBackward = (
  dy: Floats, x: Floats, gamma: Floats | undefined, mean: Floats, rstd: Floats, d: GroupDims,
  dx: Floats, dgamma: Float64Array | undefined, dbeta: Float64Array | undefined
): void => {
  const { channels: C, length: L, groups: G } = d
  const cg = C / G
  const n = L * cg
  for (let b = 0; b < d.rows / L; b++) {
    for (let g = 0; g < G; g++) {
      const c0 = g * cg
      const mu = mean[b * G + g]
      const rs = rstd[b * G + g]
      let sumG = 0
      let sumGX = 0
      for (let t = 0; t < L; t++) {
        const row = (b * L + t) * C
        for (let c = c0; c < c0 + cg; c++) {
          const xhat = (x[row + c] - mu) * rs
          const gi = dy[row + c] * (gamma ? gamma[c] : 1)
          sumG += gi
          sumGX += gi * xhat
          if (dgamma) dgamma[c] += dy[row + c] * xhat
          if (dbeta) dbeta[c] += dy[row + c]
        }
      }
      for (let t = 0; t < L; t++) {
        const row = (b * L + t) * C
        for (let c = c0; c < c0 + cg; c++) {
          const xhat = (x[row + c] - mu) * rs
          dx[row + c] = rs * (dy[row + c] * (gamma ? gamma[c] : 1) - sumG / n - xhat * (sumGX / n))
        }
      }
    }
  }
}

/** out[r, c] = max(x[2r, c], x[2r + 1, c]) for `rows` output rows. */
export const maxPool2 = (x: Floats, rows: number, cols: number, out: Floats): void => {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const a = x[2 * r * cols + c]
      const b = x[(2 * r + 1) * cols + c]
      out[r * cols + c] = a >= b ? a : b
    }
  }
}

/** dx [2·rows, cols]: each dy[r, c] to the larger of x[2r, c] and x[2r + 1, c], the first on a tie. */
export const maxPool2Backward = (x: Floats, dy: Floats, rows: number, cols: number, dx: Floats): void => {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i0 = 2 * r * cols + c
      const i1 = i0 + cols
      const first = x[i0] >= x[i1]
      dx[i0] = first ? dy[r * cols + c] : 0
      dx[i1] = first ? 0 : dy[r * cols + c]
    }
  }
}

/** out [2·rows, cols]: rows 2r and 2r + 1 are x's row r. */
export const upsample2 = (x: Floats, rows: number, cols: number, out: Floats): void => {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out[2 * r * cols + c] = x[r * cols + c]
      out[(2 * r + 1) * cols + c] = x[r * cols + c]
    }
  }
}

/** dx [rows, cols]: dx[r] = dy[2r] + dy[2r + 1]. */
export const upsample2Backward = (dy: Floats, rows: number, cols: number, dx: Floats): void => {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) dx[r * cols + c] = dy[2 * r * cols + c] + dy[(2 * r + 1) * cols + c]
  }
}
