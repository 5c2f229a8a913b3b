/**
 * The blocked matrix product over the kernels of Kernels.ts, for a range of output rows (one
 * thread's share): for each NC-column block and KC-deep slice, op(B) is packed once, then each
 * MC-row block of op(A) is packed and multiplied into C; after the last slice the epilogue adds
 * the bias, keeps the pre-activation and applies the activation while the block is recent.
 * Strides: op(A)[i, p] = A[i·sAi + p·sAp] and op(B)[p, j] = B[p·sBp + j·sBj] (in elements).
 */
import type { Activation } from "../domain/Ops.ts"
import { Activations, type KernelExports, MR, NR, type TileRows } from "./Kernels.ts"

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
  /** Byte address of op(B) already packed by `packB` below, or 0 to pack each block on the way. */
  readonly packedB: number
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

/** Columns of a packed block of width nc: whole NR-column panels. */
const padded = (nc: number): number => Math.ceil(nc / NR) * NR

/** Bytes of op(B) [k, n] packed whole: every (jc, pc) block, one after another. */
export const packedBytes = (k: number, n: number): number => 4 * k * padded(n)

/** Byte offset of block (jc, pc) in a whole packing: earlier column blocks are NC wide, full height. */
const blockOffset = (k: number, n: number, jc: number, pc: number): number => 4 * (jc * k + pc * padded(Math.min(NC, n - jc)))

/** Packs the whole of op(B) into `dst` (packedBytes(k, n) bytes), block by block as gemmRows reads it. */
export const packB = (K: KernelExports, p: GemmProblem, dst: number): void => {
  for (let jc = 0; jc < p.n; jc += NC) {
    for (let pc = 0; pc < p.k; pc += KC) {
      K.packB(p.b, p.sBp, p.sBj, pc, Math.min(KC, p.k - pc), jc, Math.min(NC, p.n - jc), dst + blockOffset(p.k, p.n, jc, pc))
    }
  }
}

/** Computes rows [r0, r1) of C. */
export const gemmRows = (K: KernelExports, p: GemmProblem, r0: number, r1: number, s: GemmScratch): void => {
  const { n, k } = p
  const ldc = 4 * n
  const epilogue = p.bias !== 0 || p.pre !== 0 || p.activation !== "identity"
  // Fewer rows than a full tile: the narrow tile of exactly that height.
  const mr = Math.min(MR, r1 - r0) as TileRows
  const packA = K.packA[mr]
  const macro = K.macro[mr]
  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc)
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc)
      let b = s.b
      if (p.packedB === 0) K.packB(p.b, p.sBp, p.sBj, pc, kc, jc, nc, s.b)
      else b = p.packedB + blockOffset(k, n, jc, pc)
      for (let ic = r0; ic < r1; ic += MC) {
        const mc = Math.min(MC, r1 - ic)
        packA(p.a, p.sAi, p.sAp, ic, mc, pc, kc, s.a)
        macro(s.a, b, mc, nc, kc, p.c + 4 * (ic * n + jc), ldc, pc > 0 ? 1 : 0, s.tile)
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

export const PROBLEM_WORDS = 14

export const writeProblem = (p: GemmProblem, words: Int32Array, at: number): void => {
  const fields = [p.a, p.b, p.c, p.m, p.n, p.k, p.sAi, p.sAp, p.sBp, p.sBj, p.bias, p.pre, Activations.indexOf(p.activation), p.packedB]
  for (let i = 0; i < PROBLEM_WORDS; i++) words[at + i] = fields[i]
}

export const readProblem = (w: Int32Array, at: number): GemmProblem => ({
  a: w[at] >>> 0, b: w[at + 1] >>> 0, c: w[at + 2] >>> 0,
  m: w[at + 3], n: w[at + 4], k: w[at + 5],
  sAi: w[at + 6], sAp: w[at + 7], sBp: w[at + 8], sBj: w[at + 9],
  bias: w[at + 10] >>> 0, pre: w[at + 11] >>> 0,
  activation: Activations[w[at + 12]],
  packedB: w[at + 13] >>> 0
})
