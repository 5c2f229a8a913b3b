/**
 * Reference matrix product C = op(A)·op(B) (+ bias, then activation) with f64 accumulation.
 */
import * as Activation from "../Activation.ts"
import type { Activation as ActivationName } from "../Ops.ts"

export type Floats = Float32Array | Float64Array

export interface MatmulProblem {
  readonly a: Floats
  readonly b: Floats
  /** Rows of op(A) and C. */
  readonly m: number
  /** Inner dimension. */
  readonly k: number
  /** Columns of op(B) and C. */
  readonly n: number
  readonly transA: boolean
  readonly transB: boolean
}

/**
 * acc[i·n + j] = Σ_p op(A)[i, p]·op(B)[p, j], in f64, by 4×4 register blocks: sixteen running sums
 * stay in locals while p walks the inner dimension, so each step loads 8 values for 16 products.
 * op(A)[i, p] = a[i·sAi + p·sAp] and op(B)[p, j] = b[p·sBp + j·sBj] cover every transpose.
 */
const accumulate = ({ a, b, m, k, n, transA, transB }: MatmulProblem): Float64Array => {
  const acc = new Float64Array(m * n)
  const sAi = transA ? 1 : k
  const sAp = transA ? m : 1
  const sBp = transB ? 1 : n
  const sBj = transB ? k : 1
  for (let i = 0; i < m; i += 4) {
    const rows = Math.min(4, m - i)
    // Rows past the edge re-read row i (their sums are discarded).
    const a0 = i * sAi
    const a1 = (rows > 1 ? i + 1 : i) * sAi
    const a2 = (rows > 2 ? i + 2 : i) * sAi
    const a3 = (rows > 3 ? i + 3 : i) * sAi
    for (let j = 0; j < n; j += 4) {
      const cols = Math.min(4, n - j)
      const b0 = j * sBj
      const b1 = (cols > 1 ? j + 1 : j) * sBj
      const b2 = (cols > 2 ? j + 2 : j) * sBj
      const b3 = (cols > 3 ? j + 3 : j) * sBj
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0
      for (let p = 0, pa = 0, pb = 0; p < k; p++, pa += sAp, pb += sBp) {
        const x0 = a[a0 + pa]
        const x1 = a[a1 + pa]
        const x2 = a[a2 + pa]
        const x3 = a[a3 + pa]
        const y0 = b[b0 + pb]
        const y1 = b[b1 + pb]
        const y2 = b[b2 + pb]
        const y3 = b[b3 + pb]
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3
      }
      const block = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33]
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) acc[(i + r) * n + j + c] = block[r * 4 + c]
      }
    }
  }
  return acc
}

/** Writes act(op(A)·op(B) + bias) into `out` and, when given, the pre-activation into `pre`. */
export const matmulInto = (
  problem: MatmulProblem,
  bias: Floats | undefined,
  activation: ActivationName,
  out: Floats,
  pre: Floats | undefined
): void => {
  const acc = accumulate(problem)
  const n = problem.n
  for (let idx = 0; idx < acc.length; idx++) {
    const z = acc[idx] + (bias === undefined ? 0 : bias[idx % n])
    if (pre !== undefined) pre[idx] = z
    out[idx] = activation === "identity" ? z : Activation.apply(activation, z)
  }
}
