/**
 * The vocabulary of the tensor engine: op names, their parameters and the shape rules every
 * backend enforces. Pure: no buffers, no Effect. A shape error is a `ShapeError` naming the op
 * and the shapes it got.
 */
import { Schema } from "effect"

/** Activations usable as a matmul epilogue and as standalone ops. `gelu` is the tanh form (JAX's default). */
export const Activations = ["identity", "relu", "silu", "mish", "gelu", "tanh", "sigmoid", "softplus"] as const
export type Activation = (typeof Activations)[number]

/**
 * Elementwise unary ops: the activations plus the maths losses and guidance need.
 * `finiteOrZero` maps NaN and ±∞ to 0 (SWG zeroes non-finite guidance gradients).
 */
export const UnaryOps = [...Activations, "exp", "log", "square", "sqrt", "abs", "sin", "cos", "finiteOrZero"] as const
export type UnaryOp = (typeof UnaryOps)[number]

/** Elementwise binary ops with broadcasting of either operand over rows and/or columns. */
export const BinaryOps = ["add", "sub", "mul", "div", "max", "min"] as const
export type BinaryOp = (typeof BinaryOps)[number]

/** Reductions: "rows" reduces over rows to [1, cols], "cols" over columns to [rows, 1], "all" to [1, 1]. */
export type ReduceAxis = "rows" | "cols" | "all"
export type ReduceOp = "sum" | "mean"

export interface Shape {
  readonly rows: number
  readonly cols: number
}

export class ShapeError extends Schema.TaggedError<ShapeError>()("ShapeError", {
  op: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.op}: ${this.detail}`
  }
}

/**
 * A gather/scatter index outside [0, rows) or not an integer: `index` at `position` of the indices, for an operand
 * of `rows` rows. The CPU backend throws it from the op; the GPU backend cannot check device-side indices before
 * dispatch, so the first faulting kernel records it and the next `read` rejects with it (see GpuBackend).
 */
export class IndexOutOfRange extends Schema.TaggedError<IndexOutOfRange>()("IndexOutOfRange", {
  op: Schema.String,
  index: Schema.Number,
  position: Schema.Int,
  rows: Schema.Int
}) {
  override get message(): string {
    return `${this.op}: index ${this.index} at position ${this.position} is outside [0, ${this.rows})`
  }
}

/**
 * An allocation the backend cannot make: `bytes` more on top of the `inUse` it holds exceeds its memory, `limit`
 * bytes (the WASM backend: WebAssembly's 4 GiB). Thrown by the op that allocates; `Backend.run` fails with it.
 */
export class MemoryLimit extends Schema.TaggedError<MemoryLimit>()("MemoryLimit", {
  backend: Schema.String,
  bytes: Schema.Number,
  inUse: Schema.Number,
  limit: Schema.Number
}) {
  override get message(): string {
    return `${this.backend} backend: ${this.bytes} more bytes on top of the ${this.inUse} in use exceed its ${this.limit}-byte memory`
  }
}

export const show = (s: Shape): string => `[${s.rows}, ${s.cols}]`

const fail = (op: string, detail: string): never => {
  throw new ShapeError({ op, detail })
}

/** Throws a `ShapeError` unless `n` is a positive integer. */
export const checkDim = (op: string, what: string, n: number): void => {
  if (!Number.isInteger(n) || n <= 0) fail(op, `${what} must be a positive integer, got ${n}`)
}

/** Shape of op(A) · op(B) with op = transpose when the flag is set. */
export const matmulShape = (a: Shape, b: Shape, transA: boolean, transB: boolean, bias?: Shape): Shape => {
  const m = transA ? a.cols : a.rows
  const k = transA ? a.rows : a.cols
  const kb = transB ? b.cols : b.rows
  const n = transB ? b.rows : b.cols
  if (k !== kb) {
    fail("matmul", `inner dimensions differ: A${show(a)}${transA ? "ᵀ" : ""} · B${show(b)}${transB ? "ᵀ" : ""}`)
  }
  if (bias !== undefined && (bias.rows !== 1 || bias.cols !== n)) {
    fail("matmul", `bias must be [1, ${n}], got ${show(bias)}`)
  }
  return { rows: m, cols: n }
}

/** Broadcast of two shapes: each dimension equal, or 1 on one side. */
export const broadcastShape = (op: string, a: Shape, b: Shape): Shape => {
  const dim = (x: number, y: number, what: string): number =>
    x === y ? x : x === 1 ? y : y === 1 ? x : fail(op, `cannot broadcast ${what}: ${show(a)} and ${show(b)}`)
  return { rows: dim(a.rows, b.rows, "rows"), cols: dim(a.cols, b.cols, "cols") }
}

export const sameShape = (op: string, a: Shape, b: Shape): void => {
  if (a.rows !== b.rows || a.cols !== b.cols) fail(op, `shapes differ: ${show(a)} and ${show(b)}`)
}

/** Where a tensor's elements live: its storage (any identity) and [start, end) within it. */
export interface StorageRange {
  readonly storage: unknown
  readonly start: number
  readonly end: number
}

/** copyIntoMany: no two destinations may share elements (the order of the copies would matter). */
export const disjointDestinations = (op: string, dsts: ReadonlyArray<Shape & StorageRange>): void => {
  const sorted = [...dsts.keys()].sort((i, j) => dsts[i].start - dsts[j].start)
  for (let a = 0; a < sorted.length; a++) {
    for (let b = a + 1; b < sorted.length && dsts[sorted[b]].start < dsts[sorted[a]].end; b++) {
      const [i, j] = [sorted[a], sorted[b]].sort((x, y) => x - y)
      if (dsts[i].storage === dsts[j].storage) {
        fail(op, `destinations ${i} ${show(dsts[i])} and ${j} ${show(dsts[j])} share storage`)
      }
    }
  }
}

export const reduceShape = (x: Shape, axis: ReduceAxis): Shape =>
  axis === "rows" ? { rows: 1, cols: x.cols } : axis === "cols" ? { rows: x.rows, cols: 1 } : { rows: 1, cols: 1 }

export const concatColsShape = (parts: ReadonlyArray<Shape>): Shape => {
  if (parts.length === 0) fail("concatCols", "needs at least one part")
  const rows = parts[0].rows
  for (const p of parts) {
    if (p.rows !== rows) fail("concatCols", `row counts differ: ${parts.map(show).join(", ")}`)
  }
  return { rows, cols: parts.reduce((n, p) => n + p.cols, 0) }
}

export const sliceColsShape = (x: Shape, start: number, width: number): Shape => {
  if (!Number.isInteger(start) || !Number.isInteger(width) || start < 0 || width <= 0 || start + width > x.cols) {
    fail("sliceCols", `columns [${start}, ${start + width}) out of range for ${show(x)}`)
  }
  return { rows: x.rows, cols: width }
}

export const columnVector = (op: string, what: string, v: Shape, rows: number): void => {
  if (v.cols !== 1 || v.rows !== rows) fail(op, `${what} must be [${rows}, 1], got ${show(v)}`)
}

export const rowVector = (op: string, what: string, v: Shape, cols: number): void => {
  if (v.rows !== 1 || v.cols !== cols) fail(op, `${what} must be [1, ${cols}], got ${show(v)}`)
}

export const scalarShape = (op: string, what: string, v: Shape): void => {
  if (v.rows !== 1 || v.cols !== 1) fail(op, `${what} must be [1, 1], got ${show(v)}`)
}

/** Hyperparameters of one fused AdamW step (decoupled weight decay; `step` counts from 1). */
export interface AdamWParams {
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
  readonly step: number
}

// ---- sequence ops (the temporal U-Net's) ----------------------------------------------------------
//
// A batch of sequences is one row-major tensor [batch·length, channels]: row b·length + t holds time t
// of sequence b, one column per channel. Ops along the time axis take `length` and never mix sequences.

/** Checks that `length` is a positive integer dividing x's rows; returns the batch size. */
export const sequenceBatch = (op: string, x: Shape, length: number): number => {
  checkDim(op, "length", length)
  if (x.rows % length !== 0) fail(op, `${x.rows} rows are not whole sequences of length ${length}: ${show(x)}`)
  return x.rows / length
}

/**
 * "Same" padding of a 1-D convolution with `kernel` taps: the zeros before the sequence,
 * ⌊(kernel − 1)/2⌋; the rest, kernel − 1 − left, go after it. An even kernel thus looks one step
 * further ahead than back (kernel 2: out[t] = w₀·x[t] + w₁·x[t + 1]), as lax/flax "SAME" and
 * PyTorch's padding="same" do.
 */
export const samePaddingLeft = (kernel: number): number => Math.floor((kernel - 1) / 2)

/**
 * conv1d of x [batch·length, cin] with w [kernel·cin, cout] (row k·cin + c: tap k, input channel c)
 * and bias [1, cout]: the kernel size is w.rows / cin. Returns the output shape and the kernel size.
 */
export const conv1dShape = (
  op: string,
  x: Shape,
  w: Shape,
  bias: Shape | undefined,
  length: number
): { readonly out: Shape; readonly kernel: number } => {
  sequenceBatch(op, x, length)
  if (w.rows % x.cols !== 0) fail(op, `weight ${show(w)} is not [kernel·${x.cols}, cout] for input ${show(x)}`)
  if (bias !== undefined) rowVector(op, "bias", bias, w.cols)
  return { out: { rows: x.rows, cols: w.cols }, kernel: w.rows / x.cols }
}

/** Group norm of x [batch·length, channels]: `groups` divides the channels; γ, β are [1, channels]. */
export const groupNormShape = (
  op: string,
  x: Shape,
  gamma: Shape | undefined,
  beta: Shape | undefined,
  length: number,
  groups: number
): { readonly batch: number } => {
  const batch = sequenceBatch(op, x, length)
  checkDim(op, "groups", groups)
  if (x.cols % groups !== 0) fail(op, `${groups} groups do not divide ${x.cols} channels`)
  if (gamma) rowVector(op, "gamma", gamma, x.cols)
  if (beta) rowVector(op, "beta", beta, x.cols)
  return { batch }
}

/** groupNormBackward's inputs: `x` and γ as in the forward, `dy` shaped like `x`, the saved mean and rstd [batch, groups]. */
export const groupNormBackwardShape = (
  op: string,
  dy: Shape,
  x: Shape,
  gamma: Shape | undefined,
  mean: Shape,
  rstd: Shape,
  length: number,
  groups: number
): void => {
  const { batch } = groupNormShape(op, x, gamma, undefined, length, groups)
  sameShape(op, dy, x)
  sameShape(op, mean, { rows: batch, cols: groups })
  sameShape(op, rstd, { rows: batch, cols: groups })
}

/** Max-pool by 2 along time: the length must be even (pairs never straddle two sequences). */
export const maxPool2Shape = (op: string, x: Shape, length: number): Shape => {
  sequenceBatch(op, x, length)
  if (length % 2 !== 0) fail(op, `length ${length} is odd: max-pool by 2 needs an even length`)
  return { rows: x.rows / 2, cols: x.cols }
}

/** The gradient of an upsample by 2 sums row pairs: dy needs an even number of rows. */
export const evenRows = (op: string, what: string, x: Shape): void => {
  if (x.rows % 2 !== 0) fail(op, `${what} ${show(x)} has an odd number of rows`)
}
