/**
 * The CPU backend: plain TypeScript with f64 accumulation. It is the reference every WGSL kernel
 * is tested against and the fallback when no adapter exists. With `precision: "f64"` it stores
 * f64 too, which the finite-difference gradient tests use.
 */
import * as Activation from "../Activation.ts"
import * as Ops from "../Ops.ts"
import type { AdamWParams, BinaryOp, ReduceAxis, ReduceOp, UnaryOp } from "../Ops.ts"
import * as Rng from "../Rng.ts"
import type { RngKey } from "../Rng.ts"
import type {
  Conv1dGrads,
  Conv1dNeeds,
  GroupNormResult,
  LayerNormGrads,
  LayerNormResult,
  MatmulOptions,
  MatmulResult,
  Tensor,
  TensorBackend
} from "../TensorBackend.ts"
import { type Floats, matmulInto } from "./Matmul.ts"
import * as Sequence from "./Sequence.ts"

export class CpuTensor implements Tensor {
  readonly rows: number
  readonly cols: number
  readonly size: number
  readonly data: Floats
  constructor(rows: number, cols: number, data: Floats) {
    this.rows = rows
    this.cols = cols
    this.size = rows * cols
    this.data = data
  }
}

export interface CpuBackendOptions {
  /** Storage precision; accumulation is always f64. */
  readonly precision?: "f32" | "f64"
}

const asCpu = (op: string, t: Tensor): CpuTensor => {
  if (!(t instanceof CpuTensor)) throw new Ops.ShapeError({ op, detail: "tensor belongs to another backend" })
  return t
}

const binaryOp = (op: BinaryOp, a: number, b: number): number => {
  switch (op) {
    case "add": return a + b
    case "sub": return a - b
    case "mul": return a * b
    case "div": return a / b
    case "max": return Math.max(a, b)
    case "min": return Math.min(a, b)
  }
}

/** ∂(a∘b)/∂a and ∂(a∘b)/∂b; ties of max/min send the gradient to a. */
const binaryPartials = (op: BinaryOp, a: number, b: number): readonly [number, number] => {
  switch (op) {
    case "add": return [1, 1]
    case "sub": return [1, -1]
    case "mul": return [b, a]
    case "div": return [1 / b, -a / (b * b)]
    case "max": return a >= b ? [1, 0] : [0, 1]
    case "min": return a <= b ? [1, 0] : [0, 1]
  }
}

/** Index into a possibly broadcast operand for output element (r, c). */
const at = (t: CpuTensor, r: number, c: number): number =>
  t.data[(t.rows === 1 ? 0 : r) * t.cols + (t.cols === 1 ? 0 : c)]

export const make = (options: CpuBackendOptions = {}): TensorBackend => {
  const precision = options.precision ?? "f32"
  let allocations = 0
  const alloc = (rows: number, cols: number): CpuTensor => {
    Ops.checkDim("alloc", "rows", rows)
    Ops.checkDim("alloc", "cols", cols)
    allocations++
    return new CpuTensor(rows, cols, precision === "f64" ? new Float64Array(rows * cols) : new Float32Array(rows * cols))
  }
  const map = (x: CpuTensor, f: (v: number, i: number) => number): CpuTensor => {
    const out = alloc(x.rows, x.cols)
    for (let i = 0; i < x.size; i++) out.data[i] = f(x.data[i], i)
    return out
  }

  const matmul = (aT: Tensor, bT: Tensor, o: MatmulOptions = {}): MatmulResult => {
    const a = asCpu("matmul", aT)
    const b = asCpu("matmul", bT)
    const bias = o.bias === undefined ? undefined : asCpu("matmul", o.bias)
    const { rows: m, cols: n } = Ops.matmulShape(a, b, o.transA ?? false, o.transB ?? false, bias)
    const k = o.transA ? a.rows : a.cols
    const activation = o.activation ?? "identity"
    const out = alloc(m, n)
    const pre = o.keepPreActivation && activation !== "identity" ? alloc(m, n) : undefined
    matmulInto({ a: a.data, b: b.data, m, k, n, transA: o.transA ?? false, transB: o.transB ?? false }, bias?.data, activation, out.data, pre?.data)
    return { out, pre }
  }

  const binary = (op: BinaryOp, aT: Tensor, bT: Tensor): Tensor => {
    const a = asCpu(op, aT)
    const b = asCpu(op, bT)
    const s = Ops.broadcastShape(op, a, b)
    const out = alloc(s.rows, s.cols)
    for (let r = 0; r < s.rows; r++) {
      for (let c = 0; c < s.cols; c++) out.data[r * s.cols + c] = binaryOp(op, at(a, r, c), at(b, r, c))
    }
    return out
  }

  const binaryBackward = (op: BinaryOp, aT: Tensor, bT: Tensor, dyT: Tensor) => {
    const a = asCpu(`${op}Backward`, aT)
    const b = asCpu(`${op}Backward`, bT)
    const dy = asCpu(`${op}Backward`, dyT)
    const s = Ops.broadcastShape(`${op}Backward`, a, b)
    Ops.sameShape(`${op}Backward`, s, dy)
    const da = alloc(s.rows, s.cols)
    const db = alloc(s.rows, s.cols)
    for (let r = 0; r < s.rows; r++) {
      for (let c = 0; c < s.cols; c++) {
        const i = r * s.cols + c
        const [pa, pb] = binaryPartials(op, at(a, r, c), at(b, r, c))
        da.data[i] = pa * dy.data[i]
        db.data[i] = pb * dy.data[i]
      }
    }
    return { da, db }
  }

  const reduce = (op: ReduceOp, axis: ReduceAxis, xT: Tensor): Tensor => {
    const x = asCpu("reduce", xT)
    const s = Ops.reduceShape(x, axis)
    const acc = new Float64Array(s.rows * s.cols)
    for (let r = 0; r < x.rows; r++) {
      for (let c = 0; c < x.cols; c++) {
        acc[axis === "rows" ? c : axis === "cols" ? r : 0] += x.data[r * x.cols + c]
      }
    }
    const count = x.size / acc.length
    const out = alloc(s.rows, s.cols)
    for (let i = 0; i < acc.length; i++) out.data[i] = op === "mean" ? acc[i] / count : acc[i]
    return out
  }

  const broadcastTo = (xT: Tensor, rows: number, cols: number): Tensor => {
    const x = asCpu("broadcastTo", xT)
    const s = Ops.broadcastShape("broadcastTo", x, { rows, cols })
    if (s.rows !== rows || s.cols !== cols) {
      throw new Ops.ShapeError({ op: "broadcastTo", detail: `cannot broadcast ${Ops.show(x)} to [${rows}, ${cols}]` })
    }
    const out = alloc(rows, cols)
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.data[r * cols + c] = at(x, r, c)
    return out
  }

  const concatCols = (partsT: ReadonlyArray<Tensor>): Tensor => {
    const parts = partsT.map((p) => asCpu("concatCols", p))
    const s = Ops.concatColsShape(parts)
    const out = alloc(s.rows, s.cols)
    let offset = 0
    for (const p of parts) {
      for (let r = 0; r < p.rows; r++) {
        for (let c = 0; c < p.cols; c++) out.data[r * s.cols + offset + c] = p.data[r * p.cols + c]
      }
      offset += p.cols
    }
    return out
  }

  const sliceCols = (xT: Tensor, start: number, width: number): Tensor => {
    const x = asCpu("sliceCols", xT)
    Ops.sliceColsShape(x, start, width)
    const out = alloc(x.rows, width)
    for (let r = 0; r < x.rows; r++) {
      for (let c = 0; c < width; c++) out.data[r * width + c] = x.data[r * x.cols + start + c]
    }
    return out
  }

  const padCols = (xT: Tensor, start: number, cols: number): Tensor => {
    const x = asCpu("padCols", xT)
    if (!Number.isInteger(start) || start < 0 || start + x.cols > cols) {
      throw new Ops.ShapeError({ op: "padCols", detail: `${Ops.show(x)} at column ${start} does not fit in ${cols} columns` })
    }
    const out = alloc(x.rows, cols)
    for (let r = 0; r < x.rows; r++) {
      for (let c = 0; c < x.cols; c++) out.data[r * cols + start + c] = x.data[r * x.cols + c]
    }
    return out
  }

  const checkIndices = (op: string, idx: CpuTensor, limit: number): void => {
    if (idx.cols !== 1) throw new Ops.ShapeError({ op, detail: `indices must be [n, 1], got ${Ops.show(idx)}` })
    for (let j = 0; j < idx.rows; j++) {
      const i = idx.data[j]
      if (!Number.isInteger(i) || i < 0 || i >= limit) {
        throw new Ops.IndexOutOfRange({ op, index: i, position: j, rows: limit })
      }
    }
  }

  const gatherRows = (xT: Tensor, idxT: Tensor): Tensor => {
    const x = asCpu("gatherRows", xT)
    const idx = asCpu("gatherRows", idxT)
    checkIndices("gatherRows", idx, x.rows)
    const out = alloc(idx.rows, x.cols)
    for (let j = 0; j < idx.rows; j++) {
      out.data.set(x.data.subarray(idx.data[j] * x.cols, (idx.data[j] + 1) * x.cols), j * x.cols)
    }
    return out
  }

  const scatterAddRows = (dyT: Tensor, idxT: Tensor, rows: number): Tensor => {
    const dy = asCpu("scatterAddRows", dyT)
    const idx = asCpu("scatterAddRows", idxT)
    Ops.columnVector("scatterAddRows", "indices", idx, dy.rows)
    checkIndices("scatterAddRows", idx, rows)
    const acc = new Float64Array(rows * dy.cols)
    for (let j = 0; j < idx.rows; j++) {
      for (let c = 0; c < dy.cols; c++) acc[idx.data[j] * dy.cols + c] += dy.data[j * dy.cols + c]
    }
    const out = alloc(rows, dy.cols)
    out.data.set(acc)
    return out
  }

  const layerNorm = (xT: Tensor, gammaT: Tensor | undefined, betaT: Tensor | undefined, eps: number): LayerNormResult => {
    const x = asCpu("layerNorm", xT)
    const gamma = gammaT === undefined ? undefined : asCpu("layerNorm", gammaT)
    const beta = betaT === undefined ? undefined : asCpu("layerNorm", betaT)
    if (gamma) Ops.rowVector("layerNorm", "gamma", gamma, x.cols)
    if (beta) Ops.rowVector("layerNorm", "beta", beta, x.cols)
    const out = alloc(x.rows, x.cols)
    const mean = alloc(x.rows, 1)
    const rstd = alloc(x.rows, 1)
    for (let r = 0; r < x.rows; r++) {
      let s = 0
      for (let c = 0; c < x.cols; c++) s += x.data[r * x.cols + c]
      const mu = s / x.cols
      let v = 0
      for (let c = 0; c < x.cols; c++) v += (x.data[r * x.cols + c] - mu) ** 2
      const rs = 1 / Math.sqrt(v / x.cols + eps)
      mean.data[r] = mu
      rstd.data[r] = rs
      for (let c = 0; c < x.cols; c++) {
        const xhat = (x.data[r * x.cols + c] - mu) * rs
        out.data[r * x.cols + c] = xhat * (gamma ? gamma.data[c] : 1) + (beta ? beta.data[c] : 0)
      }
    }
    return { out, mean, rstd }
  }

  // dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ; dγ = Σ_rows dy·x̂; dβ = Σ_rows dy.
  const layerNormBackward = (
    dyT: Tensor, xT: Tensor, gammaT: Tensor | undefined, meanT: Tensor, rstdT: Tensor, withAffine: boolean
  ): LayerNormGrads => {
    const [dy, x, mean, rstd] = [dyT, xT, meanT, rstdT].map((t) => asCpu("layerNormBackward", t))
    const gamma = gammaT === undefined ? undefined : asCpu("layerNormBackward", gammaT)
    Ops.sameShape("layerNormBackward", dy, x)
    Ops.columnVector("layerNormBackward", "mean", mean, x.rows)
    Ops.columnVector("layerNormBackward", "rstd", rstd, x.rows)
    const n = x.cols
    const dx = alloc(x.rows, n)
    const dgamma = new Float64Array(n)
    const dbeta = new Float64Array(n)
    for (let r = 0; r < x.rows; r++) {
      const mu = mean.data[r]
      const rs = rstd.data[r]
      let sumG = 0
      let sumGX = 0
      for (let c = 0; c < n; c++) {
        const xhat = (x.data[r * n + c] - mu) * rs
        const g = dy.data[r * n + c] * (gamma ? gamma.data[c] : 1)
        sumG += g
        sumGX += g * xhat
        dgamma[c] += dy.data[r * n + c] * xhat
        dbeta[c] += dy.data[r * n + c]
      }
      for (let c = 0; c < n; c++) {
        const xhat = (x.data[r * n + c] - mu) * rs
        const g = dy.data[r * n + c] * (gamma ? gamma.data[c] : 1)
        dx.data[r * n + c] = rs * (g - sumG / n - xhat * (sumGX / n))
      }
    }
    const toRow = (v: Float64Array): Tensor => {
      const t = alloc(1, n)
      t.data.set(v)
      return t
    }
    return { dx, dgamma: withAffine ? toRow(dgamma) : undefined, dbeta: withAffine ? toRow(dbeta) : undefined }
  }

  // ---- sequence ops (Sequence.ts): conv1d = unfold(x)·W + bias ----------------------------------

  const unfoldDims = (x: CpuTensor, length: number, kernel: number): Sequence.UnfoldDims =>
    ({ rows: x.rows, channels: x.cols, length, kernel, left: Ops.samePaddingLeft(kernel) })

  const unfolded = (x: CpuTensor, d: Sequence.UnfoldDims): CpuTensor => {
    const u = alloc(x.rows, d.kernel * x.cols)
    Sequence.unfold(x.data, d, u.data)
    return u
  }

  const conv1d = (xT: Tensor, wT: Tensor, biasT: Tensor | undefined, length: number): Tensor => {
    const x = asCpu("conv1d", xT)
    const w = asCpu("conv1d", wT)
    const bias = biasT === undefined ? undefined : asCpu("conv1d", biasT)
    const { kernel } = Ops.conv1dShape("conv1d", x, w, bias, length)
    return matmul(unfolded(x, unfoldDims(x, length, kernel)), w, bias === undefined ? {} : { bias }).out
  }

  const conv1dBackward = (dyT: Tensor, xT: Tensor, wT: Tensor, length: number, needs: Conv1dNeeds): Conv1dGrads => {
    const op = "conv1dBackward"
    const [dy, x, w] = [dyT, xT, wT].map((t) => asCpu(op, t))
    const { out, kernel } = Ops.conv1dShape(op, x, w, undefined, length)
    Ops.sameShape(op, dy, out)
    const d = unfoldDims(x, length, kernel)
    let dx: Tensor | undefined
    if (needs.dx) {
      const du = asCpu(op, matmul(dy, w, { transB: true }).out)
      const folded = alloc(x.rows, x.cols)
      Sequence.fold(du.data, d, folded.data)
      dx = folded
    }
    return {
      dx,
      dw: needs.dw ? matmul(unfolded(x, d), dy, { transA: true }).out : undefined,
      db: needs.db ? reduce("sum", "rows", dy) : undefined
    }
  }

  const groupDims = (x: CpuTensor, length: number, groups: number): Sequence.GroupDims =>
    ({ rows: x.rows, channels: x.cols, length, groups })

  const groupNorm = (
    xT: Tensor, gammaT: Tensor | undefined, betaT: Tensor | undefined, length: number, groups: number, eps: number
  ): GroupNormResult => {
    const x = asCpu("groupNorm", xT)
    const gamma = gammaT === undefined ? undefined : asCpu("groupNorm", gammaT)
    const beta = betaT === undefined ? undefined : asCpu("groupNorm", betaT)
    const { batch } = Ops.groupNormShape("groupNorm", x, gamma, beta, length, groups)
    const out = alloc(x.rows, x.cols)
    const mean = alloc(batch, groups)
    const rstd = alloc(batch, groups)
    Sequence.groupNorm(x.data, gamma?.data, beta?.data, groupDims(x, length, groups), eps, out.data, mean.data, rstd.data)
    return { out, mean, rstd }
  }

  const groupNormBackward = (
    dyT: Tensor, xT: Tensor, gammaT: Tensor | undefined, meanT: Tensor, rstdT: Tensor,
    length: number, groups: number, withAffine: boolean
  ): LayerNormGrads => {
    const op = "groupNormBackward"
    const [dy, x, mean, rstd] = [dyT, xT, meanT, rstdT].map((t) => asCpu(op, t))
    const gamma = gammaT === undefined ? undefined : asCpu(op, gammaT)
    Ops.groupNormBackwardShape(op, dy, x, gamma, mean, rstd, length, groups)
    const dx = alloc(x.rows, x.cols)
    const dgamma = withAffine ? new Float64Array(x.cols) : undefined
    const dbeta = withAffine ? new Float64Array(x.cols) : undefined
    Sequence.groupNormBackward(dy.data, x.data, gamma?.data, mean.data, rstd.data, groupDims(x, length, groups), dx.data, dgamma, dbeta)
    const toRow = (v: Float64Array | undefined): Tensor | undefined => {
      if (v === undefined) return undefined
      const t = alloc(1, x.cols)
      t.data.set(v)
      return t
    }
    return { dx, dgamma: toRow(dgamma), dbeta: toRow(dbeta) }
  }

  const maxPool2 = (xT: Tensor, length: number): Tensor => {
    const x = asCpu("maxPool2", xT)
    const s = Ops.maxPool2Shape("maxPool2", x, length)
    const out = alloc(s.rows, s.cols)
    Sequence.maxPool2(x.data, s.rows, s.cols, out.data)
    return out
  }

  const maxPool2Backward = (xT: Tensor, dyT: Tensor, length: number): Tensor => {
    const x = asCpu("maxPool2Backward", xT)
    const dy = asCpu("maxPool2Backward", dyT)
    Ops.sameShape("maxPool2Backward", dy, Ops.maxPool2Shape("maxPool2Backward", x, length))
    const dx = alloc(x.rows, x.cols)
    Sequence.maxPool2Backward(x.data, dy.data, dy.rows, dy.cols, dx.data)
    return dx
  }

  const upsample2 = (xT: Tensor): Tensor => {
    const x = asCpu("upsample2", xT)
    const out = alloc(2 * x.rows, x.cols)
    Sequence.upsample2(x.data, x.rows, x.cols, out.data)
    return out
  }

  const upsample2Backward = (dyT: Tensor): Tensor => {
    const dy = asCpu("upsample2Backward", dyT)
    Ops.evenRows("upsample2Backward", "dy", dy)
    const dx = alloc(dy.rows / 2, dy.cols)
    Sequence.upsample2Backward(dy.data, dx.rows, dx.cols, dx.data)
    return dx
  }

  const dropout = (xT: Tensor, p: number, key: RngKey): Tensor => {
    const x = asCpu("dropout", xT)
    if (!(p >= 0 && p < 1)) throw new Ops.ShapeError({ op: "dropout", detail: `rate must be in [0, 1), got ${p}` })
    const u = new Float64Array(x.size)
    Rng.fillUniform(key, u)
    return map(x, (v, i) => (u[i] >= p ? v / (1 - p) : 0))
  }

  const lossWeight = (op: string, w: Tensor | undefined, rows: number): CpuTensor | undefined => {
    if (w === undefined) return undefined
    const wc = asCpu(op, w)
    Ops.columnVector(op, "weight", wc, rows)
    return wc
  }

  const scalar = (v: number): Tensor => {
    const t = alloc(1, 1)
    t.data[0] = v
    return t
  }

  const mseLoss = (predT: Tensor, targetT: Tensor, wT: Tensor | undefined): Tensor => {
    const pred = asCpu("mseLoss", predT)
    const target = asCpu("mseLoss", targetT)
    Ops.sameShape("mseLoss", pred, target)
    const w = lossWeight("mseLoss", wT, pred.rows)
    let total = 0
    for (let r = 0; r < pred.rows; r++) {
      let row = 0
      for (let c = 0; c < pred.cols; c++) row += (pred.data[r * pred.cols + c] - target.data[r * pred.cols + c]) ** 2
      total += (w ? w.data[r] : 1) * row
    }
    return scalar(total / pred.rows)
  }

  const mseLossBackward = (predT: Tensor, targetT: Tensor, wT: Tensor | undefined, dLossT: Tensor): Tensor => {
    const pred = asCpu("mseLossBackward", predT)
    const target = asCpu("mseLossBackward", targetT)
    const dLoss = asCpu("mseLossBackward", dLossT)
    Ops.sameShape("mseLossBackward", pred, target)
    Ops.scalarShape("mseLossBackward", "dLoss", dLoss)
    const w = lossWeight("mseLossBackward", wT, pred.rows)
    const g = (2 * dLoss.data[0]) / pred.rows
    return map(pred, (p, i) => g * (w ? w.data[Math.floor(i / pred.cols)] : 1) * (p - target.data[i]))
  }

  const expectileWeight = (u: number, tau: number): number => (u < 0 ? 1 - tau : tau)

  const expectileLoss = (uT: Tensor, tau: number): Tensor => {
    const u = asCpu("expectileLoss", uT)
    let total = 0
    for (let i = 0; i < u.size; i++) total += expectileWeight(u.data[i], tau) * u.data[i] ** 2
    return scalar(total / u.rows)
  }

  const expectileLossBackward = (uT: Tensor, tau: number, dLossT: Tensor): Tensor => {
    const u = asCpu("expectileLossBackward", uT)
    const dLoss = asCpu("expectileLossBackward", dLossT)
    Ops.scalarShape("expectileLossBackward", "dLoss", dLoss)
    const g = (2 * dLoss.data[0]) / u.rows
    return map(u, (v) => g * expectileWeight(v, tau) * v)
  }

  const random = (rows: number, cols: number, fill: (out: Floats) => void): Tensor => {
    const out = alloc(rows, cols)
    if (precision === "f64") {
      // Draw in f32 exactly as the GPU does, then widen.
      const f = new Float32Array(out.size)
      fill(f)
      out.data.set(f)
    } else {
      fill(out.data)
    }
    return out
  }

  // AdamW (Loshchilov & Hutter 2019) as optax.adamw: bias-corrected moments, decoupled decay lr·wd·θ.
  const adamw = (paramT: Tensor, gradT: Tensor, mT: Tensor, vT: Tensor, hp: AdamWParams): void => {
    const [param, grad, m, v] = [paramT, gradT, mT, vT].map((t) => asCpu("adamw", t))
    for (const t of [grad, m, v]) Ops.sameShape("adamw", param, t)
    const c1 = 1 - hp.beta1 ** hp.step
    const c2 = 1 - hp.beta2 ** hp.step
    for (let i = 0; i < param.size; i++) {
      const g = grad.data[i]
      const mi = hp.beta1 * m.data[i] + (1 - hp.beta1) * g
      const vi = hp.beta2 * v.data[i] + (1 - hp.beta2) * g * g
      m.data[i] = mi
      v.data[i] = vi
      const update = mi / c1 / (Math.sqrt(vi / c2) + hp.eps)
      param.data[i] = param.data[i] - hp.lr * (update + hp.weightDecay * param.data[i])
    }
  }

  const ema = (targetT: Tensor, sourceT: Tensor, rate: number): void => {
    const target = asCpu("ema", targetT)
    const source = asCpu("ema", sourceT)
    Ops.sameShape("ema", target, source)
    for (let i = 0; i < target.size; i++) target.data[i] = target.data[i] + rate * (source.data[i] - target.data[i])
  }

  return {
    kind: "cpu",
    description: `cpu (${precision} storage, f64 accumulation)`,
    stats: () => ({ allocations, dispatches: allocations, submits: 0 }),
    zeros: alloc,
    fill: (rows, cols, value) => {
      const t = alloc(rows, cols)
      t.data.fill(value)
      return t
    },
    upload: (data, rows, cols) => {
      const t = alloc(rows, cols)
      if (data.length !== t.size) {
        throw new Ops.ShapeError({ op: "upload", detail: `${data.length} values for shape [${rows}, ${cols}]` })
      }
      t.data.set(data)
      return t
    },
    write: (dstT, data) => {
      const dst = asCpu("write", dstT)
      if (data.length !== dst.size) {
        throw new Ops.ShapeError({ op: "write", detail: `${data.length} values for ${Ops.show(dst)}` })
      }
      dst.data.set(data)
    },
    read: (t) => Promise.resolve(Float32Array.from(asCpu("read", t).data)),
    view: (tT, offset, rows, cols) => {
      const t = asCpu("view", tT)
      if (offset % 64 !== 0 || offset < 0 || offset + rows * cols > t.size) {
        throw new Ops.ShapeError({ op: "view", detail: `[${rows}, ${cols}] at ${offset} does not fit in ${t.size} (offset must be a multiple of 64)` })
      }
      return new CpuTensor(rows, cols, t.data.subarray(offset, offset + rows * cols))
    },
    scope: (f) => f(),
    dispose: () => undefined,
    flush: () => undefined,
    matmul,
    unary: (op: UnaryOp, x) => map(asCpu(op, x), (v) => Activation.apply(op, v)),
    unaryBackward: (op: UnaryOp, xT, dyT) => {
      const x = asCpu(`${op}Backward`, xT)
      const dy = asCpu(`${op}Backward`, dyT)
      Ops.sameShape(`${op}Backward`, x, dy)
      return map(x, (v, i) => dy.data[i] * Activation.derivative(op, v))
    },
    affine: (x, scale, shift) => map(asCpu("affine", x), (v) => scale * v + shift),
    clamp: (x, lo, hi) => map(asCpu("clamp", x), (v) => Math.min(Math.max(v, lo), hi)),
    clampBackward: (xT, lo, hi, dyT) => {
      const x = asCpu("clampBackward", xT)
      const dy = asCpu("clampBackward", dyT)
      Ops.sameShape("clampBackward", x, dy)
      return map(x, (v, i) => (v >= lo && v <= hi ? dy.data[i] : 0))
    },
    binary,
    binaryBackward,
    reduce,
    broadcastTo,
    concatCols,
    sliceCols,
    padCols,
    gatherRows,
    scatterAddRows,
    copyInto: (dstT, srcT) => {
      const dst = asCpu("copyInto", dstT)
      const src = asCpu("copyInto", srcT)
      Ops.sameShape("copyInto", dst, src)
      dst.data.set(src.data)
    },
    copyIntoMany: (pairs) => {
      const op = "copyIntoMany"
      const copies = pairs.map(([d, s]) => [asCpu(op, d), asCpu(op, s)] as const)
      for (const [dst, src] of copies) Ops.sameShape(op, dst, src)
      Ops.disjointDestinations(op, copies.map(([dst]) => ({
        rows: dst.rows, cols: dst.cols, storage: dst.data.buffer,
        start: dst.data.byteOffset, end: dst.data.byteOffset + dst.data.byteLength
      })))
      for (const [dst, src] of copies) dst.data.set(src.data)
    },
    layerNorm,
    layerNormBackward,
    dropout,
    conv1d,
    conv1dBackward,
    groupNorm,
    groupNormBackward,
    maxPool2,
    maxPool2Backward,
    upsample2,
    upsample2Backward,
    mseLoss,
    mseLossBackward,
    expectileLoss,
    expectileLossBackward,
    uniform: (rows, cols, key) => random(rows, cols, (out) => Rng.fillUniform(key, out)),
    normal: (rows, cols, key) => random(rows, cols, (out) => Rng.fillNormal(key, out)),
    randint: (rows, cols, key, n) => random(rows, cols, (out) => Rng.fillInt(key, n, out)),
    adamw,
    ema
  }
}
