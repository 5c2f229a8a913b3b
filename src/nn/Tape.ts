/**
 * Reverse-mode autodiff over a TensorBackend. A Tape records the ops of one forward pass;
 * `grad(output, wrt)` walks them backwards and returns d output / d wrt for any recorded
 * variables: parameters (training) or network inputs (guidance needs ∇_{z_t} at every step).
 * Only the ops between `wrt` and `output` are differentiated, and only the input gradients
 * somebody needs are computed (guidance skips the weight gradients).
 */
import type { Activation, BinaryOp, ReduceAxis, ReduceOp, Shape, UnaryOp } from "../domain/Ops.ts"
import { ShapeError } from "../domain/Ops.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"

/** A tensor known to a tape. */
export interface Var extends Shape {
  readonly id: number
  readonly value: Tensor
}

/** Given d out, the gradients of the inputs (only those flagged in `needs` are required). */
type Backward = (dy: Tensor, needs: ReadonlyArray<boolean>) => ReadonlyArray<Tensor | undefined>

interface Record {
  readonly out: Var
  readonly inputs: ReadonlyArray<Var>
  readonly backward: Backward
}

export interface TapeOptions {
  /** Training mode turns dropout on. */
  readonly training?: boolean
  /** Stream for dropout masks; each dropout site takes the next offset. */
  readonly rng?: RngKey
}

export class Tape {
  readonly backend: TensorBackend
  readonly training: boolean
  private readonly records: Array<Record> = []
  private nextId = 0
  private rng: RngKey
  private dropoutSites = 0

  constructor(backend: TensorBackend, options: TapeOptions = {}) {
    this.backend = backend
    this.training = options.training ?? false
    this.rng = options.rng ?? Rng.named(0, "dropout")
  }

  /** Wraps a tensor as a leaf; gradients can be asked for it. */
  leaf(value: Tensor): Var {
    return { id: this.nextId++, value, rows: value.rows, cols: value.cols }
  }

  private record(value: Tensor, inputs: ReadonlyArray<Var>, backward: Backward): Var {
    const out = this.leaf(value)
    this.records.push({ out, inputs, backward })
    return out
  }

  // ---- ops ----------------------------------------------------------------------------------

  /** act(x·W + b): the fused dense layer. */
  linear(x: Var, w: Var, b: Var | undefined, activation: Activation = "identity"): Var {
    const B = this.backend
    const { out, pre } = B.matmul(x.value, w.value, {
      ...(b === undefined ? {} : { bias: b.value }),
      activation,
      keepPreActivation: true
    })
    const inputs = b === undefined ? [x, w] : [x, w, b]
    return this.record(out, inputs, (dy, needs) => {
      const dz = pre === undefined ? dy : B.unaryBackward(activation, pre, dy)
      return [
        needs[0] ? B.matmul(dz, w.value, { transB: true }).out : undefined,
        needs[1] ? B.matmul(x.value, dz, { transA: true }).out : undefined,
        needs[2] ? B.reduce("sum", "rows", dz) : undefined
      ]
    })
  }

  /** op(a)·op(b). */
  matmul(a: Var, b: Var, transA = false, transB = false): Var {
    const B = this.backend
    const { out } = B.matmul(a.value, b.value, { transA, transB })
    return this.record(out, [a, b], (dy, needs) => [
      // d op(A) = dY·op(B)ᵀ, d op(B) = op(A)ᵀ·dY, transposed back when the operand was.
      needs[0]
        ? transA
          ? B.matmul(b.value, dy, { transA: transB, transB: true }).out
          : B.matmul(dy, b.value, { transB: !transB }).out
        : undefined,
      needs[1]
        ? transB
          ? B.matmul(dy, a.value, { transA: true, transB: transA }).out
          : B.matmul(a.value, dy, { transA: !transA }).out
        : undefined
    ])
  }

  unary(op: UnaryOp, x: Var): Var {
    const B = this.backend
    return this.record(B.unary(op, x.value), [x], (dy) => [B.unaryBackward(op, x.value, dy)])
  }

  /** scale·x + shift. */
  affine(x: Var, scale: number, shift = 0): Var {
    const B = this.backend
    return this.record(B.affine(x.value, scale, shift), [x], (dy) => [B.affine(dy, scale, 0)])
  }

  clamp(x: Var, lo: number, hi: number): Var {
    const B = this.backend
    return this.record(B.clamp(x.value, lo, hi), [x], (dy) => [B.clampBackward(x.value, lo, hi, dy)])
  }

  binary(op: BinaryOp, a: Var, b: Var): Var {
    const B = this.backend
    return this.record(B.binary(op, a.value, b.value), [a, b], (dy, needs) => {
      // a + b without broadcasting passes dy on to both (no copies; gradients are never written in place)
      if (op === "add" && a.rows === b.rows && a.cols === b.cols) return [needs[0] ? dy : undefined, needs[1] ? dy : undefined]
      const { da, db } = B.binaryBackward(op, a.value, b.value, dy)
      return [needs[0] ? this.reduceTo(da, a) : undefined, needs[1] ? this.reduceTo(db, b) : undefined]
    })
  }

  add(a: Var, b: Var): Var {
    return this.binary("add", a, b)
  }
  sub(a: Var, b: Var): Var {
    return this.binary("sub", a, b)
  }
  mul(a: Var, b: Var): Var {
    return this.binary("mul", a, b)
  }
  div(a: Var, b: Var): Var {
    return this.binary("div", a, b)
  }

  reduce(op: ReduceOp, axis: ReduceAxis, x: Var): Var {
    const B = this.backend
    const count = axis === "rows" ? x.rows : axis === "cols" ? x.cols : x.rows * x.cols
    return this.record(B.reduce(op, axis, x.value), [x], (dy) => {
      const g = op === "mean" ? B.affine(dy, 1 / count, 0) : dy
      return [B.broadcastTo(g, x.rows, x.cols)]
    })
  }

  concatCols(parts: ReadonlyArray<Var>): Var {
    const B = this.backend
    return this.record(B.concatCols(parts.map((p) => p.value)), parts, (dy, needs) => {
      let start = 0
      return parts.map((p, i) => {
        const g = needs[i] ? B.sliceCols(dy, start, p.cols) : undefined
        start += p.cols
        return g
      })
    })
  }

  /** x's elements in row-major order as [rows, cols] (rows·cols = x's size), e.g. a column [G·K, 1] as [G, K]. */
  reshape(x: Var, rows: number, cols: number): Var {
    const B = this.backend
    if (rows * cols !== x.rows * x.cols) {
      throw new ShapeError({ op: "reshape", detail: `[${x.rows}, ${x.cols}] has ${x.rows * x.cols} elements, [${rows}, ${cols}] needs ${rows * cols}` })
    }
    return this.record(B.view(x.value, 0, rows, cols), [x], (dy) => [B.view(dy, 0, x.rows, x.cols)])
  }

  /** Rows [start, start + count) of x: columns of its row-major [1, rows·cols] view, shaped back. */
  sliceRows(x: Var, start: number, count: number): Var {
    return this.reshape(this.sliceCols(this.reshape(x, 1, x.rows * x.cols), start * x.cols, count * x.cols), count, x.cols)
  }

  sliceCols(x: Var, start: number, width: number): Var {
    const B = this.backend
    return this.record(B.sliceCols(x.value, start, width), [x], (dy) => [B.padCols(dy, start, x.cols)])
  }

  /** Rows of x at `indices` ([n, 1] integer-valued, not differentiated). */
  gatherRows(x: Var, indices: Tensor): Var {
    const B = this.backend
    return this.record(B.gatherRows(x.value, indices), [x], (dy) => [B.scatterAddRows(dy, indices, x.rows)])
  }

  layerNorm(x: Var, gamma: Var | undefined, beta: Var | undefined, eps = 1e-6): Var {
    const B = this.backend
    const { out, mean, rstd } = B.layerNorm(x.value, gamma?.value, beta?.value, eps)
    const inputs = gamma !== undefined && beta !== undefined ? [x, gamma, beta] : [x]
    return this.record(out, inputs, (dy, needs) => {
      const g = B.layerNormBackward(dy, x.value, gamma?.value, mean, rstd, (needs[1] ?? false) || (needs[2] ?? false))
      return [g.dx, g.dgamma, g.dbeta]
    })
  }

  // ---- sequence ops: [batch·length, channels], row b·length + t is time t of sequence b -----------

  /** "Same" 1-D convolution along time: w [kernel·cin, cout], bias [1, cout] (TensorBackend.conv1d). */
  conv1d(x: Var, w: Var, b: Var | undefined, length: number): Var {
    const B = this.backend
    const inputs = b === undefined ? [x, w] : [x, w, b]
    return this.record(B.conv1d(x.value, w.value, b?.value, length), inputs, (dy, needs) => {
      const g = B.conv1dBackward(dy, x.value, w.value, length, { dx: needs[0], dw: needs[1], db: needs[2] ?? false })
      return [g.dx, g.dw, g.db]
    })
  }

  /** Group norm over `groups` groups of adjacent channels per sequence, with optional γ and β. */
  groupNorm(x: Var, gamma: Var | undefined, beta: Var | undefined, length: number, groups: number, eps = 1e-5): Var {
    const B = this.backend
    const { out, mean, rstd } = B.groupNorm(x.value, gamma?.value, beta?.value, length, groups, eps)
    const inputs = gamma !== undefined && beta !== undefined ? [x, gamma, beta] : [x]
    return this.record(out, inputs, (dy, needs) => {
      const withAffine = (needs[1] ?? false) || (needs[2] ?? false)
      const g = B.groupNormBackward(dy, x.value, gamma?.value, mean, rstd, length, groups, withAffine)
      return [g.dx, g.dgamma, g.dbeta]
    })
  }

  /** Max-pool by 2 along time (even length); the gradient goes to each pair's first maximum. */
  maxPool2(x: Var, length: number): Var {
    const B = this.backend
    return this.record(B.maxPool2(x.value, length), [x], (dy) => [B.maxPool2Backward(x.value, dy, length)])
  }

  /** Nearest-neighbour upsample by 2 along time (any length L gives 2L). */
  upsample2(x: Var): Var {
    const B = this.backend
    return this.record(B.upsample2(x.value), [x], (dy) => [B.upsample2Backward(dy)])
  }

  /** Inverted dropout with rate p; the identity outside training or when p = 0. */
  dropout(x: Var, p: number): Var {
    if (!this.training || p === 0) return x
    const B = this.backend
    const key = Rng.at(this.rng, this.rng.offset + this.dropoutSites++)
    return this.record(B.dropout(x.value, p, key), [x], (dy) => [B.dropout(dy, p, key)])
  }

  /** mean_r w_r Σ_c (pred − target)²; target and weight are constants. */
  mseLoss(pred: Var, target: Tensor, weight?: Tensor): Var {
    const B = this.backend
    return this.record(B.mseLoss(pred.value, target, weight), [pred], (dy) => [
      B.mseLossBackward(pred.value, target, weight, dy)
    ])
  }

  /** mean_r Σ_c |τ − 1(u < 0)|·u² (IQL's value loss on u = q − v). */
  expectileLoss(u: Var, tau: number): Var {
    const B = this.backend
    return this.record(B.expectileLoss(u.value, tau), [u], (dy) => [B.expectileLossBackward(u.value, tau, dy)])
  }

  // ---- gradients ----------------------------------------------------------------------------

  /**
   * d output / d wrt. `output` must be [1, 1] unless `seed` (d output, same shape) is given,
   * which makes this a vector–Jacobian product. Variables `output` does not depend on get zeros.
   */
  grad(output: Var, wrt: ReadonlyArray<Var>, seed?: Tensor): Array<Tensor> {
    const B = this.backend
    if (seed === undefined && (output.rows !== 1 || output.cols !== 1)) {
      throw new ShapeError({ op: "grad", detail: `output must be [1, 1] without a seed, got [${output.rows}, ${output.cols}]` })
    }
    // Forward sweep: which variables depend on something in wrt.
    const relevant = new Set(wrt.map((v) => v.id))
    for (const r of this.records) {
      if (r.inputs.some((v) => relevant.has(v.id))) relevant.add(r.out.id)
    }
    const grads = new Map<number, Tensor>([[output.id, seed ?? B.fill(1, 1, 1)]])
    for (let i = this.records.length - 1; i >= 0; i--) {
      const r = this.records[i]
      const dy = grads.get(r.out.id)
      if (dy === undefined || !relevant.has(r.out.id)) continue
      const needs = r.inputs.map((v) => relevant.has(v.id))
      const inputGrads = r.backward(dy, needs)
      r.inputs.forEach((v, j) => {
        const g = inputGrads[j]
        if (!needs[j] || g === undefined) return
        const prev = grads.get(v.id)
        grads.set(v.id, prev === undefined ? g : B.binary("add", prev, g))
      })
    }
    return wrt.map((v) => grads.get(v.id) ?? B.zeros(v.rows, v.cols))
  }

  /** Sums a broadcast-shaped gradient back down to the operand's shape. */
  private reduceTo(g: Tensor, target: Shape): Tensor {
    const B = this.backend
    const rowsCollapsed = target.rows === 1 && g.rows > 1
    const colsCollapsed = target.cols === 1 && g.cols > 1
    if (rowsCollapsed && colsCollapsed) return B.reduce("sum", "all", g)
    if (rowsCollapsed) return B.reduce("sum", "rows", g)
    if (colsCollapsed) return B.reduce("sum", "cols", g)
    return g
  }
}
