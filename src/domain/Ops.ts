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
