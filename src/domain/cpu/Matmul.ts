/**
 * Reference matrix product C = op(A)·op(B) (+ bias, then activation) with f64 accumulation.
 * Each layout gets a loop order that streams memory contiguously: A·B and Aᵀ·B accumulate rows
 * of B into rows of C (four rows of C at a time), A·Bᵀ takes dot products of rows.
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

/** acc[i·n + j] = Σ_p op(A)[i, p]·op(B)[p, j], in f64. */
const accumulate = ({ a, b, m, k, n, transA, transB }: MatmulProblem): Float64Array => {
  const acc = new Float64Array(m * n)
  if (transB) {
    // C[i, j] = Σ_p op(A)[i, p]·B[j, p]: dot products of a row of op(A) with rows of B.
    const row = new Float64Array(k)
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) row[p] = transA ? a[p * m + i] : a[i * k + p]
      for (let j = 0; j < n; j++) {
        const bj = j * k
        let s0 = 0
        let s1 = 0
        let p = 0
        for (; p + 1 < k; p += 2) {
          s0 += row[p] * b[bj + p]
          s1 += row[p + 1] * b[bj + p + 1]
        }
        if (p < k) s0 += row[p] * b[bj + p]
        acc[i * n + j] = s0 + s1
      }
    }
    return acc
  }
  // C[i, :] += op(A)[i, p]·B[p, :], four rows of C per pass over B.
  for (let i0 = 0; i0 < m; i0 += 4) {
    const rows = Math.min(4, m - i0)
    const o0 = i0 * n
    for (let p = 0; p < k; p++) {
      const at = (r: number) => (r < rows ? (transA ? a[p * m + i0 + r] : a[(i0 + r) * k + p]) : 0)
      const a0 = at(0)
      const a1 = at(1)
      const a2 = at(2)
      const a3 = at(3)
      const bp = p * n
      if (rows === 4) {
        for (let j = 0; j < n; j++) {
          const bv = b[bp + j]
          acc[o0 + j] += a0 * bv
          acc[o0 + n + j] += a1 * bv
          acc[o0 + 2 * n + j] += a2 * bv
          acc[o0 + 3 * n + j] += a3 * bv
        }
      } else {
        for (let r = 0; r < rows; r++) {
          const ar = at(r)
          const o = o0 + r * n
          for (let j = 0; j < n; j++) acc[o + j] += ar * b[bp + j]
        }
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
