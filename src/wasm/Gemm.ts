/**
 * The blocked matrix product over the kernels of Kernels.ts, for a range of output rows (one
 * thread's share): for each NC-column block and KC-deep slice, op(B) is packed once, then each
 * MC-row block of op(A) is packed and multiplied into C; after the last slice the epilogue adds
 * the bias, keeps the pre-activation and applies the activation while the block is recent.
 * Strides: op(A)[i, p] = A[i·sAi + p·sAp] and op(B)[p, j] = B[p·sBp + j·sBj] (in elements).
 */
import type { Activation } from "../domain/Ops.ts"
import { Activations, type KernelExports, MR, NR } from "./Kernels.ts"

/** Inner-dimension slice: the B micro-panel (KC·NR floats = 8 KiB) stays in L1. */
export const KC = 256
/** Rows per packed A block (96 KiB at KC = 256: L2). */
export const MC = 16 * MR
/** Columns per packed B block. */
export const NC = 1024

export interface GemmProblem {
  /** Byte addresses of A, B, C; bias and pre are 0 when absent. */
  readonly a: number
  readonly b: number
  readonly c: number
  readonly m: number
  readonly n: number
  readonly k: number
  readonly sAi: number
  readonly sAp: number
  readonly sBp: number
  readonly sBj: number
  readonly bias: number
  readonly pre: number
  readonly activation: Activation
}

/** Per-thread scratch addresses (bytes). */
export interface GemmScratch {
  readonly a: number
  readonly b: number
  readonly tile: number
  readonly tmp: number
}

/** Bytes of one thread's scratch, laid out as in `scratchAt`. */
export const SCRATCH_BYTES = 4 * (MC * KC + KC * NC + MR * NR) + 256

export const scratchAt = (base: number): GemmScratch => ({
  a: base,
  b: base + 4 * MC * KC,
  tile: base + 4 * (MC * KC + KC * NC),
  tmp: base + 4 * (MC * KC + KC * NC + MR * NR)
})

/** Computes rows [r0, r1) of C. */
export const gemmRows = (K: KernelExports, p: GemmProblem, r0: number, r1: number, s: GemmScratch): void => {
  const { n, k } = p
  const ldc = 4 * n
  const epilogue = p.bias !== 0 || p.pre !== 0 || p.activation !== "identity"
  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc)
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc)
      K.packB(p.b, p.sBp, p.sBj, pc, kc, jc, nc, s.b)
      for (let ic = r0; ic < r1; ic += MC) {
        const mc = Math.min(MC, r1 - ic)
        K.packA(p.a, p.sAi, p.sAp, ic, mc, pc, kc, s.a)
        K.macro(s.a, s.b, mc, nc, kc, p.c + 4 * (ic * n + jc), ldc, pc > 0 ? 1 : 0, s.tile)
      }
    }
    if (epilogue) {
      K.epilogue[p.activation](
        p.c + 4 * (r0 * n + jc), ldc, r1 - r0, nc,
        p.bias === 0 ? 0 : p.bias + 4 * jc,
        p.pre === 0 ? 0 : p.pre + 4 * (r0 * n + jc), ldc, s.tmp
      )
    }
  }
}

// ---- the problem as Int32 words, for worker threads ---------------------------------------------

export const PROBLEM_WORDS = 13

export const writeProblem = (p: GemmProblem, words: Int32Array, at: number): void => {
  const fields = [p.a, p.b, p.c, p.m, p.n, p.k, p.sAi, p.sAp, p.sBp, p.sBj, p.bias, p.pre, Activations.indexOf(p.activation)]
  for (let i = 0; i < PROBLEM_WORDS; i++) words[at + i] = fields[i]
}

export const readProblem = (w: Int32Array, at: number): GemmProblem => ({
  a: w[at] >>> 0, b: w[at + 1] >>> 0, c: w[at + 2] >>> 0,
  m: w[at + 3], n: w[at + 4], k: w[at + 5],
  sAi: w[at + 6], sAp: w[at + 7], sBp: w[at + 8], sBj: w[at + 9],
  bias: w[at + 10] >>> 0, pre: w[at + 11] >>> 0,
  activation: Activations[w[at + 12]]
})
