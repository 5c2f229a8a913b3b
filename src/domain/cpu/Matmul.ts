/**
 * Reference matrix product C = op(A)·op(B) (+ bias, then activation) with f64 accumulation.
 * Rows of C are computed four at a time so each row of B is streamed once per four rows of A.
 */
import * as Activation from "../Activation.ts"
import type { Activation as ActivationName } from "../Ops.ts"

export type Floats = Float32Array | Float64Array

/** Row-major transpose of an [rows, cols] array into a fresh [cols, rows] one. */
export const transpose = (x: Floats, rows: number, cols: number): Float64Array => {
  const out = new Float64Array(rows * cols)
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c]
  }
  return out
}

/**
 * C[m, n] = A[m, k] · B[k, n] + bias[n]; writes the activation into `out` and, when given, the
 * pre-activation into `pre`. A and B are already in non-transposed layout here.
 */
export const matmulInto = (
  a: Floats, b: Floats, m: number, k: number, n: number,
  bias: Floats | undefined, activation: ActivationName,
  out: Floats, pre: Floats | undefined
): void => {
  const acc = new Float64Array(4 * n)
  for (let i0 = 0; i0 < m; i0 += 4) {
    const rows = Math.min(4, m - i0)
    acc.fill(0)
    for (let p = 0; p < k; p++) {
      const bRow = p * n
      const a0 = a[i0 * k + p]
      const a1 = rows > 1 ? a[(i0 + 1) * k + p] : 0
      const a2 = rows > 2 ? a[(i0 + 2) * k + p] : 0
      const a3 = rows > 3 ? a[(i0 + 3) * k + p] : 0
      for (let j = 0; j < n; j++) {
        const bv = b[bRow + j]
        acc[j] += a0 * bv
        acc[n + j] += a1 * bv
        acc[2 * n + j] += a2 * bv
        acc[3 * n + j] += a3 * bv
      }
    }
    for (let r = 0; r < rows; r++) {
      const o = (i0 + r) * n
      for (let j = 0; j < n; j++) {
        const z = acc[r * n + j] + (bias === undefined ? 0 : bias[j])
        if (pre !== undefined) pre[o + j] = z
        out[o + j] = activation === "identity" ? z : Activation.apply(activation, z)
      }
    }
  }
}
