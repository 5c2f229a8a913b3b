/**
 * The WASM backend: f32 tensors in one shared WebAssembly memory; matmul (every transpose, the
 * bias + activation epilogue; products with one output column or an inner dimension of 1 by their
 * own kernels), the activations with their derivatives, and sin and cos (in f64) as
 * 128-bit SIMD kernels emitted at run time (Kernels.ts), large products split over worker threads (Threads.ts); every
 * other op a plain loop over Float32Array views, computed in f64 and rounded once like the CPU
 * reference (src/domain/cpu), whose results it is tested against. The sequence ops run the
 * reference's own loops (cpu/Sequence.ts) on f32 views, with conv1d's products on the SIMD matmul.
 */
import * as Scope from "../domain/Scope.ts"
import { availableParallelism } from "node:os"
import * as Activation from "../domain/Activation.ts"
import * as Ops from "../domain/Ops.ts"
import type { AdamWParams, BinaryOp, ReduceAxis, ReduceOp, UnaryOp } from "../domain/Ops.ts"
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import * as Sequence from "../domain/cpu/Sequence.ts"
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
} from "../domain/TensorBackend.ts"
import { type GemmProblem, gemmRows, packB, packedBytes, SCRATCH_BYTES, scratchAt } from "./Gemm.ts"
import * as Kernels from "./Kernels.ts"
import { type Allocation, Arena } from "./Memory.ts"
import * as Threads from "./Threads.ts"

export class WasmTensor implements Tensor {
  readonly rows: number
  readonly cols: number
  readonly size: number
  readonly allocation: Allocation
  /** Byte address of element 0 in the backend's memory. */
  readonly address: number
  readonly data: Float32Array
  /** The tensor owning the storage, for views (keeps it reachable); undefined for owners. */
  readonly owner: WasmTensor | undefined
  constructor(rows: number, cols: number, allocation: Allocation, address: number, data: Float32Array, owner: WasmTensor | undefined) {
    this.rows = rows
    this.cols = cols
    this.size = rows * cols
    this.allocation = allocation
    this.address = address
    this.data = data
    this.owner = owner
  }
}

export interface WasmBackendOptions {
  /**
   * Threads for large matmuls, the main thread included (default: DGRL_WASM_THREADS if set, else
   * the machine's cores; 1 suits a machine whose cores are busy with other work).
   */
  readonly threads?: number
  /** Products with fewer flops (2·m·n·k) than this stay on the main thread. */
  readonly parallelMinFlops?: number
}

/**
 * Products below this stay on the main thread (16 MFLOP: ~0.3 ms on one core at ~50 GFLOP/s).
 * Measured on the shared 2-core host, side by side in one process (scripts/wasm-side-by-side.ts,
 * medians of 21): with the earlier 4 MFLOP threshold, two threads were 5–10 % slower than one on
 * every cpu-preset workload (SWG, critic and actor steps, sampling at batch 10 and 160: products of
 * 1–9 MFLOP, where the split costs a wake-up and a tail wait); below 16 MFLOP they now run on one thread
 * and match `threads: 1`. The 3×256 bench network's products (17 MFLOP in sampling at batch 32,
 * 34–134 MFLOP in training) still split, and trained and sampled as fast as at 4 MFLOP (within 3 %)
 * and ~8 % faster than on one thread.
 */
export const DEFAULT_PARALLEL_MIN_FLOPS = 1.6e7

/** Dropout keep masks kept for the backward pass (see `dropout`): a training step's dropout sites and some. */
const DROPOUT_MASKS = 16

/** Bytes of packed right-hand operands kept between calls (see `packedOperand`). */
const PACK_CACHE_BYTES = 256 * 2 ** 20

interface PackedEntry {
  readonly allocation: Allocation
  readonly version: number
  readonly rows: number
  readonly cols: number
  packed: Allocation | undefined
}

const isActivation = (op: UnaryOp): op is Ops.Activation => (Ops.Activations as ReadonlyArray<string>).includes(op)

export interface WasmBackend extends TensorBackend {
  /** Threads a large matmul runs on now (1 until the workers have started). */
  readonly threads: () => number
  /** Stops the worker threads (the backend then computes on the main thread). */
  readonly close: () => void
}

export const make = (options: WasmBackendOptions = {}): WasmBackend => {
  const { module, fma } = Kernels.compile()
  const arena = new Arena()
  const K = Kernels.instantiate(module, arena.memory)
  const threadCount = Math.max(1, Math.floor(options.threads ?? (Number(process.env.DGRL_WASM_THREADS) || availableParallelism())))
  const parallelMinFlops = options.parallelMinFlops ?? DEFAULT_PARALLEL_MIN_FLOPS
  // Scratch of every thread (main = slot threadCount − 1, workers 0 …), never freed.
  const scratchBase = arena.acquire(threadCount * SCRATCH_BYTES).byteOffset
  const scratch = (slot: number) => scratchAt(scratchBase + slot * SCRATCH_BYTES)
  const mainScratch = scratch(threadCount - 1)
  let pool: Threads.ThreadPool | undefined = threadCount > 1 ? Threads.make(threadCount - 1, module, arena.memory, K, scratch) : undefined
  let ops = 0
  let f64Scratch = new Float64Array(1024)
  const f64 = (n: number): Float64Array => {
    if (f64Scratch.length < n) f64Scratch = new Float64Array(Math.max(n, 2 * f64Scratch.length))
    return f64Scratch
  }

  // ---- tensors and memory -------------------------------------------------------------------

  const alloc = (op: string, rows: number, cols: number): WasmTensor => {
    Ops.checkDim(op, "rows", rows)
    Ops.checkDim(op, "cols", cols)
    ops++
    const size = rows * cols
    const allocation = arena.acquire(4 * size)
    const t = new WasmTensor(rows, cols, allocation, allocation.byteOffset, arena.floats(allocation.byteOffset, size), undefined)
    // Inside a scope the scope frees it or returns it (then `scope` registers it): no registration here.
    if (!arena.scoped) arena.track(t, allocation)
    return t
  }

  const as = (op: string, t: Tensor): WasmTensor => {
    if (!(t instanceof WasmTensor)) throw new Ops.ShapeError({ op, detail: "tensor belongs to another backend" })
    if (!t.allocation.live) throw new Ops.ShapeError({ op, detail: `${Ops.show(t)} tensor used after it was disposed` })
    return t
  }

  /** Registers the allocations of the tensors in `value` (walked as Scope.runScope walks a result). */
  const trackReachable = (value: unknown, seen = new Set<object>()): void => {
    if (typeof value !== "object" || value === null || seen.has(value)) return
    seen.add(value)
    if (value instanceof WasmTensor) {
      arena.track(value.owner ?? value, value.allocation)
      return
    }
    for (const v of Array.isArray(value) ? value : Object.values(value)) trackReachable(v, seen)
  }

  const scope = <A>(f: () => A): A => {
    const result = Scope.runScope(arena, (v) => (v instanceof WasmTensor ? v.allocation : undefined), f)
    // Leaving the outermost scope: what it returns is now owned by garbage-collected code.
    if (!arena.scoped) trackReachable(result)
    return result
  }

  const view = (tT: Tensor, offset: number, rows: number, cols: number): Tensor => {
    const t = as("view", tT)
    Ops.checkDim("view", "rows", rows)
    Ops.checkDim("view", "cols", cols)
    if (!Number.isInteger(offset) || offset % 64 !== 0 || offset < 0 || offset + rows * cols > t.size) {
      throw new Ops.ShapeError({ op: "view", detail: `[${rows}, ${cols}] at ${offset} does not fit in ${t.size} (offset must be a multiple of 64)` })
    }
    return new WasmTensor(rows, cols, t.allocation, t.address + 4 * offset, t.data.subarray(offset, offset + rows * cols), t.owner ?? t)
  }

  const map = (op: string, x: WasmTensor, f: (v: number) => number): WasmTensor => {
    const out = alloc(op, x.rows, x.cols)
    const xd = x.data
    const od = out.data
    for (let i = 0; i < xd.length; i++) od[i] = f(xd[i])
    return out
  }

  /**
   * Copies `rows` rows of `cols` floats from `src` (row r at element from + r·fromStride) to `dst`
   * (row r at to + r·toStride): one memory.copy per row, in the kernel module.
   */
  const copyRows = (
    src: WasmTensor, from: number, fromStride: number, dst: WasmTensor, to: number, toStride: number, rows: number, cols: number
  ): void => {
    K.copyRows(src.address + 4 * from, 4 * fromStride, dst.address + 4 * to, 4 * toStride, rows, 4 * cols)
  }

  // ---- linear algebra -------------------------------------------------------------------------

  /**
   * Packed op(B) kept between calls: weights are multiplied many times between updates (every
   * step of a sampling loop, forward and transposed), so their packing is reused while their
   * storage keeps its version. Contents are packed on their second use; once-used operands
   * (activations, gradients) cost only a map entry. Returns the packing's address or 0.
   */
  const packCache = new Map<number, PackedEntry>()
  let packCacheBytes = 0
  const dropPackCache = (): void => {
    for (const e of packCache.values()) if (e.packed !== undefined) arena.release(e.packed)
    packCache.clear()
    packCacheBytes = 0
  }
  const packedOperand = (b: WasmTensor, transB: boolean, p: GemmProblem): number => {
    // A number, not a string: this runs on every product. Addresses are below 2³², so the key is exact.
    const key = 2 * b.address + (transB ? 1 : 0)
    const e = packCache.get(key)
    if (
      e === undefined || e.allocation !== b.allocation || e.version !== b.allocation.version || e.rows !== b.rows ||
      e.cols !== b.cols
    ) {
      if (e?.packed !== undefined) {
        arena.release(e.packed)
        packCacheBytes -= e.packed.bytes
      }
      packCache.set(key, { allocation: b.allocation, version: b.allocation.version, rows: b.rows, cols: b.cols, packed: undefined })
      return 0
    }
    if (e.packed === undefined) {
      const bytes = packedBytes(p.k, p.n)
      if (packCacheBytes + bytes > PACK_CACHE_BYTES) {
        dropPackCache()
        return 0
      }
      e.packed = arena.acquire(bytes, false)
      packCacheBytes += e.packed.bytes
      packB(K, p, e.packed.byteOffset)
    }
    return e.packed.byteOffset
  }
  /** In-place writes invalidate cached packings of the storage. */
  const written = (t: WasmTensor): void => {
    t.allocation.version++
  }

  const matmul = (aT: Tensor, bT: Tensor, o: MatmulOptions = {}): MatmulResult => {
    const a = as("matmul", aT)
    const b = as("matmul", bT)
    const bias = o.bias === undefined ? undefined : as("matmul", o.bias)
    const transA = o.transA ?? false
    const transB = o.transB ?? false
    const { rows: m, cols: n } = Ops.matmulShape(a, b, transA, transB, bias)
    const k = transA ? a.rows : a.cols
    const activation = o.activation ?? "identity"
    const out = alloc("matmul", m, n)
    const pre = o.keepPreActivation && activation !== "identity" ? alloc("matmul", m, n) : undefined
    const p: GemmProblem = {
      a: a.address, b: b.address, c: out.address, m, n, k,
      sAi: transA ? 1 : k, sAp: transA ? m : 1, sBp: transB ? 1 : n, sBj: transB ? k : 1,
      bias: bias?.address ?? 0, pre: pre?.address ?? 0, activation, packedB: 0
    }
    if (n === 1 || k === 1) {
      // One output column or an inner dimension of 1: a dot product per row or an outer product, then the epilogue.
      if (k === 1) K.outer(a.address, b.address, out.address, m, n)
      else K.gemv(a.address, p.sAi, p.sAp, b.address, out.address, m, k)
      if (p.bias !== 0 || p.pre !== 0 || activation !== "identity") {
        K.epilogue[activation](out.address, 4 * n, m, n, p.bias, p.pre, 4 * n, mainScratch.tmp)
      }
      return { out, pre }
    }
    const cached = packedOperand(b, transB, p)
    const threaded = pool !== undefined && pool.ready() && m > Kernels.MR && 2 * m * n * k >= parallelMinFlops
    if (!threaded || pool === undefined) {
      gemmRows(K, { ...p, packedB: cached }, 0, m, mainScratch)
    } else {
      // op(B) packed once for all threads, then row chunks of whole tiles, about four per thread.
      const temporary = cached === 0 ? arena.acquire(packedBytes(k, n), false) : undefined
      if (temporary !== undefined) packB(K, p, temporary.byteOffset)
      const threads = pool.workers + 1
      const chunkRows = Kernels.MR * Math.max(1, Math.ceil(m / Kernels.MR / (4 * threads)))
      try {
        pool.run({ ...p, packedB: temporary?.byteOffset ?? cached }, chunkRows)
      } finally {
        if (temporary !== undefined) arena.release(temporary)
      }
    }
    return { out, pre }
  }

  // ---- elementwise ------------------------------------------------------------------------------

  /**
   * sin and cos (the Fourier features of every time embedding) and their derivatives as SIMD kernels in f64, rounded
   * once as the reference: arguments beyond Kernels.TRIG_MAX are counted at `trigRange`, and a tensor holding any is
   * computed again by the loops below.
   */
  const trigRange = arena.acquire(16, false).byteOffset
  const trigInRange = (): boolean => {
    const counts = new Float64Array(arena.memory.buffer, trigRange, 2)
    return counts[0] + counts[1] === 0
  }

  const unary = (op: UnaryOp, xT: Tensor): Tensor => {
    const x = as(op, xT)
    if (isActivation(op)) {
      const out = alloc(op, x.rows, x.cols)
      K.unary[op](x.address, out.address, x.size, mainScratch.tmp)
      return out
    }
    if (op === "sin" || op === "cos") {
      const out = alloc(op, x.rows, x.cols)
      K.trig[op](x.address, out.address, x.size, trigRange, mainScratch.tmp)
      if (trigInRange()) return out
      const xd = x.data
      const od = out.data
      for (let i = 0; i < xd.length; i++) od[i] = Activation.apply(op, xd[i])
      return out
    }
    return map(op, x, (v) => Activation.apply(op, v))
  }

  const unaryBackward = (op: UnaryOp, xT: Tensor, dyT: Tensor): Tensor => {
    const x = as(`${op}Backward`, xT)
    const dy = as(`${op}Backward`, dyT)
    Ops.sameShape(`${op}Backward`, x, dy)
    const out = alloc(`${op}Backward`, x.rows, x.cols)
    if (isActivation(op)) {
      K.unaryGrad[op](x.address, dy.address, out.address, x.size, mainScratch.tmp)
      return out
    }
    if (op === "sin" || op === "cos") {
      K.trigGrad[op](x.address, dy.address, out.address, x.size, trigRange, mainScratch.tmp)
      if (trigInRange()) return out
    }
    const xd = x.data
    const dd = dy.data
    const od = out.data
    for (let i = 0; i < xd.length; i++) od[i] = dd[i] * Activation.derivative(op, xd[i])
    return out
  }

  const clampBackward = (xT: Tensor, lo: number, hi: number, dyT: Tensor): Tensor => {
    const x = as("clampBackward", xT)
    const dy = as("clampBackward", dyT)
    Ops.sameShape("clampBackward", x, dy)
    const out = alloc("clampBackward", x.rows, x.cols)
    const xd = x.data
    const dd = dy.data
    const od = out.data
    for (let i = 0; i < xd.length; i++) od[i] = xd[i] >= lo && xd[i] <= hi ? dd[i] : 0
    return out
  }

  /** Element strides of a possibly broadcast operand: 0 along a broadcast dimension. */
  const strides = (t: WasmTensor): readonly [number, number] => [t.rows === 1 ? 0 : t.cols, t.cols === 1 ? 0 : 1]

  const binary = (op: BinaryOp, aT: Tensor, bT: Tensor): Tensor => {
    const a = as(op, aT)
    const b = as(op, bT)
    const s = Ops.broadcastShape(op, a, b)
    const out = alloc(op, s.rows, s.cols)
    const [ar, ac] = strides(a)
    const [br, bc] = strides(b)
    const ad = a.data
    const bd = b.data
    const od = out.data
    const { rows, cols } = s
    if (a.rows === b.rows && a.cols === b.cols && (op === "add" || op === "sub" || op === "mul")) {
      // Same shapes (gradient sums, residuals): f32 SIMD, which rounds +, −, × correctly, so it
      // equals the reference's f64 result rounded to f32.
      K.binary[op](a.address, b.address, out.address, out.size, mainScratch.tmp)
      return out
    }
    switch (op) {
      case "add":
        for (let r = 0, o = 0; r < rows; r++) for (let c = 0; c < cols; c++, o++) od[o] = ad[r * ar + c * ac] + bd[r * br + c * bc]
        break
      case "sub":
        for (let r = 0, o = 0; r < rows; r++) for (let c = 0; c < cols; c++, o++) od[o] = ad[r * ar + c * ac] - bd[r * br + c * bc]
        break
      case "mul":
        for (let r = 0, o = 0; r < rows; r++) for (let c = 0; c < cols; c++, o++) od[o] = ad[r * ar + c * ac] * bd[r * br + c * bc]
        break
      case "div":
        for (let r = 0, o = 0; r < rows; r++) for (let c = 0; c < cols; c++, o++) od[o] = ad[r * ar + c * ac] / bd[r * br + c * bc]
        break
      case "max":
        for (let r = 0, o = 0; r < rows; r++) for (let c = 0; c < cols; c++, o++) od[o] = Math.max(ad[r * ar + c * ac], bd[r * br + c * bc])
        break
      case "min":
        for (let r = 0, o = 0; r < rows; r++) for (let c = 0; c < cols; c++, o++) od[o] = Math.min(ad[r * ar + c * ac], bd[r * br + c * bc])
        break
    }
    return out
  }

  const binaryBackward = (op: BinaryOp, aT: Tensor, bT: Tensor, dyT: Tensor) => {
    const name = `${op}Backward`
    const a = as(name, aT)
    const b = as(name, bT)
    const dy = as(name, dyT)
    const s = Ops.broadcastShape(name, a, b)
    Ops.sameShape(name, s, dy)
    const da = alloc(name, s.rows, s.cols)
    const db = alloc(name, s.rows, s.cols)
    const [ar, ac] = strides(a)
    const [br, bc] = strides(b)
    const [ad, bd, dd, dad, dbd] = [a.data, b.data, dy.data, da.data, db.data]
    const { rows, cols } = s
    // The reference's products ∂(a∘b)/∂a · dy and ∂(a∘b)/∂b · dy, one loop per op; ties of
    // max/min send the gradient to a.
    switch (op) {
      case "add":
        dad.set(dd)
        dbd.set(dd)
        break
      case "sub":
        dad.set(dd)
        for (let i = 0; i < dd.length; i++) dbd[i] = -1 * dd[i]
        break
      case "mul":
        for (let r = 0, o = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++, o++) {
            dad[o] = bd[r * br + c * bc] * dd[o]
            dbd[o] = ad[r * ar + c * ac] * dd[o]
          }
        }
        break
      case "div":
        for (let r = 0, o = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++, o++) {
            const x = ad[r * ar + c * ac]
            const y = bd[r * br + c * bc]
            dad[o] = (1 / y) * dd[o]
            dbd[o] = (-x / (y * y)) * dd[o]
          }
        }
        break
      case "max":
      case "min":
        for (let r = 0, o = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++, o++) {
            const x = ad[r * ar + c * ac]
            const y = bd[r * br + c * bc]
            const toA = op === "max" ? x >= y : x <= y
            dad[o] = (toA ? 1 : 0) * dd[o]
            dbd[o] = (toA ? 0 : 1) * dd[o]
          }
        }
        break
    }
    return { da, db }
  }

  // ---- reductions and shape ---------------------------------------------------------------------

  const reduce = (op: ReduceOp, axis: ReduceAxis, xT: Tensor): Tensor => {
    const x = as("reduce", xT)
    const s = Ops.reduceShape(x, axis)
    const n = s.rows * s.cols
    const count = x.size / n
    const xd = x.data
    const { rows, cols } = x
    if (axis === "rows") {
      // Column sums (bias gradients): the SIMD kernel, in f64 and row order like the loops below.
      const out = alloc("reduce", s.rows, s.cols)
      const block = arena.acquire(8 * cols, false)
      try {
        const sums = new Float64Array(arena.memory.buffer, block.byteOffset, cols).fill(0)
        K.addRows(x.address, 0, rows, cols, block.byteOffset)
        const od = out.data
        for (let c = 0; c < cols; c++) od[c] = op === "mean" ? sums[c] / count : sums[c]
      } finally {
        arena.release(block)
      }
      return out
    }
    const acc = f64(n).fill(0, 0, n)
    if (axis === "cols") {
      for (let r = 0; r < rows; r++) {
        let sum = 0
        for (let c = 0; c < cols; c++) sum += xd[r * cols + c]
        acc[r] = sum
      }
    } else {
      let sum = 0
      for (let i = 0; i < xd.length; i++) sum += xd[i]
      acc[0] = sum
    }
    const out = alloc("reduce", s.rows, s.cols)
    for (let i = 0; i < n; i++) out.data[i] = op === "mean" ? acc[i] / count : acc[i]
    return out
  }

  const broadcastTo = (xT: Tensor, rows: number, cols: number): Tensor => {
    const x = as("broadcastTo", xT)
    const s = Ops.broadcastShape("broadcastTo", x, { rows, cols })
    if (s.rows !== rows || s.cols !== cols) {
      throw new Ops.ShapeError({ op: "broadcastTo", detail: `cannot broadcast ${Ops.show(x)} to [${rows}, ${cols}]` })
    }
    const out = alloc("broadcastTo", rows, cols)
    const [xr, xc] = strides(x)
    for (let r = 0, o = 0; r < rows; r++) for (let c = 0; c < cols; c++, o++) out.data[o] = x.data[r * xr + c * xc]
    return out
  }

  const concatCols = (partsT: ReadonlyArray<Tensor>): Tensor => {
    const parts = partsT.map((p) => as("concatCols", p))
    const s = Ops.concatColsShape(parts)
    const out = alloc("concatCols", s.rows, s.cols)
    let offset = 0
    for (const p of parts) {
      copyRows(p, 0, p.cols, out, offset, s.cols, p.rows, p.cols)
      offset += p.cols
    }
    return out
  }

  const sliceCols = (xT: Tensor, start: number, width: number): Tensor => {
    const x = as("sliceCols", xT)
    Ops.sliceColsShape(x, start, width)
    const out = alloc("sliceCols", x.rows, width)
    copyRows(x, start, x.cols, out, 0, width, x.rows, width)
    return out
  }

  const padCols = (xT: Tensor, start: number, cols: number): Tensor => {
    const x = as("padCols", xT)
    if (!Number.isInteger(start) || start < 0 || start + x.cols > cols) {
      throw new Ops.ShapeError({ op: "padCols", detail: `${Ops.show(x)} at column ${start} does not fit in ${cols} columns` })
    }
    const out = alloc("padCols", x.rows, cols)
    out.data.fill(0)
    copyRows(x, 0, x.cols, out, start, cols, x.rows, x.cols)
    return out
  }

  const checkIndices = (op: string, idx: WasmTensor, limit: number): void => {
    if (idx.cols !== 1) throw new Ops.ShapeError({ op, detail: `indices must be [n, 1], got ${Ops.show(idx)}` })
    for (let j = 0; j < idx.rows; j++) {
      const i = idx.data[j]
      if (!Number.isInteger(i) || i < 0 || i >= limit) throw new Ops.IndexOutOfRange({ op, index: i, position: j, rows: limit })
    }
  }

  const gatherRows = (xT: Tensor, idxT: Tensor): Tensor => {
    const x = as("gatherRows", xT)
    const idx = as("gatherRows", idxT)
    checkIndices("gatherRows", idx, x.rows)
    const out = alloc("gatherRows", idx.rows, x.cols)
    K.gatherRows(x.address, idx.address, out.address, idx.rows, 4 * x.cols)
    return out
  }

  const scatterAddRows = (dyT: Tensor, idxT: Tensor, rows: number): Tensor => {
    const dy = as("scatterAddRows", dyT)
    const idx = as("scatterAddRows", idxT)
    Ops.columnVector("scatterAddRows", "indices", idx, dy.rows)
    checkIndices("scatterAddRows", idx, rows)
    const n = rows * dy.cols
    const out = alloc("scatterAddRows", rows, dy.cols)
    // Sums in f64, row by row in order (the SIMD kernel), rounded once.
    const block = arena.acquire(8 * n, false)
    try {
      const acc = new Float64Array(arena.memory.buffer, block.byteOffset, n).fill(0)
      K.addRows(dy.address, idx.address, dy.rows, dy.cols, block.byteOffset)
      const od = out.data
      for (let i = 0; i < n; i++) od[i] = acc[i]
    } finally {
      arena.release(block)
    }
    return out
  }

  // ---- normalisation and regularisation ---------------------------------------------------------

  /** γ = 1 and β = 0 rows of width n for the layer-norm kernels when a norm has no affine part (kept). */
  const unitRows = new Map<number, { readonly ones: number; readonly zeros: number }>()
  const affineDefaults = (n: number): { readonly ones: number; readonly zeros: number } => {
    let rows = unitRows.get(n)
    if (rows === undefined) {
      const ones = arena.acquire(4 * n, false)
      const zeros = arena.acquire(4 * n, false)
      arena.floats(ones.byteOffset, n).fill(1)
      arena.floats(zeros.byteOffset, n).fill(0)
      rows = { ones: ones.byteOffset, zeros: zeros.byteOffset }
      unitRows.set(n, rows)
    }
    return rows
  }

  // Rows whose width is a multiple of 4 (the networks' hidden widths) take the SIMD kernels (f64
  // arithmetic in two lanes); other widths (e.g. a state's) the loops below. Same formulas.

  const layerNorm = (xT: Tensor, gammaT: Tensor | undefined, betaT: Tensor | undefined, eps: number): LayerNormResult => {
    const x = as("layerNorm", xT)
    const gamma = gammaT === undefined ? undefined : as("layerNorm", gammaT)
    const beta = betaT === undefined ? undefined : as("layerNorm", betaT)
    if (gamma) Ops.rowVector("layerNorm", "gamma", gamma, x.cols)
    if (beta) Ops.rowVector("layerNorm", "beta", beta, x.cols)
    const out = alloc("layerNorm", x.rows, x.cols)
    const mean = alloc("layerNorm", x.rows, 1)
    const rstd = alloc("layerNorm", x.rows, 1)
    const n = x.cols
    if (n % 4 === 0) {
      const unit = affineDefaults(n)
      K.layerNorm(x.address, out.address, mean.address, rstd.address, gamma?.address ?? unit.ones, beta?.address ?? unit.zeros, x.rows, n, eps)
      return { out, mean, rstd }
    }
    const xd = x.data
    const od = out.data
    const gd = gamma?.data
    const bd = beta?.data
    const [md, rd] = [mean.data, rstd.data]
    for (let r = 0; r < x.rows; r++) {
      const base = r * n
      const end = base + n
      // Row sums in four interleaved f64 partial sums (independent additions, not one chain).
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0
      let i = base
      for (; i + 4 <= end; i += 4) {
        s0 += xd[i]
        s1 += xd[i + 1]
        s2 += xd[i + 2]
        s3 += xd[i + 3]
      }
      for (; i < end; i++) s0 += xd[i]
      const mu = (s0 + s1 + (s2 + s3)) / n
      let v0 = 0, v1 = 0, v2 = 0, v3 = 0
      for (i = base; i + 4 <= end; i += 4) {
        const d0 = xd[i] - mu
        const d1 = xd[i + 1] - mu
        const d2 = xd[i + 2] - mu
        const d3 = xd[i + 3] - mu
        v0 += d0 * d0
        v1 += d1 * d1
        v2 += d2 * d2
        v3 += d3 * d3
      }
      for (; i < end; i++) v0 += (xd[i] - mu) ** 2
      const rs = 1 / Math.sqrt((v0 + v1 + (v2 + v3)) / n + eps)
      md[r] = mu
      rd[r] = rs
      for (let c = 0; c < n; c++) {
        const xhat = (xd[base + c] - mu) * rs
        od[base + c] = xhat * (gd === undefined ? 1 : gd[c]) + (bd === undefined ? 0 : bd[c])
      }
    }
    return { out, mean, rstd }
  }

  // dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ; dγ = Σ_rows dy·x̂; dβ = Σ_rows dy.
  const layerNormBackward = (
    dyT: Tensor, xT: Tensor, gammaT: Tensor | undefined, meanT: Tensor, rstdT: Tensor, withAffine: boolean
  ): LayerNormGrads => {
    const [dy, x, mean, rstd] = [dyT, xT, meanT, rstdT].map((t) => as("layerNormBackward", t))
    const gamma = gammaT === undefined ? undefined : as("layerNormBackward", gammaT)
    Ops.sameShape("layerNormBackward", dy, x)
    Ops.columnVector("layerNormBackward", "mean", mean, x.rows)
    Ops.columnVector("layerNormBackward", "rstd", rstd, x.rows)
    const n = x.cols
    const dx = alloc("layerNormBackward", x.rows, n)
    if (n % 4 === 0) {
      const block = arena.acquire(16 * n, false)
      try {
        const sums = new Float64Array(arena.memory.buffer, block.byteOffset, 2 * n).fill(0)
        K.layerNormBackward(dy.address, x.address, gamma?.address ?? affineDefaults(n).ones, mean.address, rstd.address, dx.address, block.byteOffset, x.rows, n)
        const row = (from: number): Tensor => {
          const t = alloc("layerNormBackward", 1, n)
          for (let c = 0; c < n; c++) t.data[c] = sums[from + c]
          return t
        }
        return { dx, dgamma: withAffine ? row(0) : undefined, dbeta: withAffine ? row(n) : undefined }
      } finally {
        arena.release(block)
      }
    }
    const sums = f64(2 * n).fill(0, 0, 2 * n)
    const xd = x.data
    const dd = dy.data
    const gd = gamma?.data
    const [md, rd, dxd] = [mean.data, rstd.data, dx.data]
    for (let r = 0; r < x.rows; r++) {
      const base = r * n
      const mu = md[r]
      const rs = rd[r]
      // Σ g and Σ g·x̂ in two interleaved partial sums each (even and odd columns).
      let sumG0 = 0, sumG1 = 0, sumGX0 = 0, sumGX1 = 0
      let c = 0
      for (; c + 2 <= n; c += 2) {
        const y0 = dd[base + c]
        const y1 = dd[base + c + 1]
        const xhat0 = (xd[base + c] - mu) * rs
        const xhat1 = (xd[base + c + 1] - mu) * rs
        const g0 = y0 * (gd === undefined ? 1 : gd[c])
        const g1 = y1 * (gd === undefined ? 1 : gd[c + 1])
        sumG0 += g0
        sumG1 += g1
        sumGX0 += g0 * xhat0
        sumGX1 += g1 * xhat1
        sums[c] += y0 * xhat0
        sums[c + 1] += y1 * xhat1
        sums[n + c] += y0
        sums[n + c + 1] += y1
      }
      if (c < n) {
        const y = dd[base + c]
        const xhat = (xd[base + c] - mu) * rs
        const g = y * (gd === undefined ? 1 : gd[c])
        sumG0 += g
        sumGX0 += g * xhat
        sums[c] += y * xhat
        sums[n + c] += y
      }
      const sumG = sumG0 + sumG1
      const sumGX = sumGX0 + sumGX1
      for (let c = 0; c < n; c++) {
        const xhat = (xd[base + c] - mu) * rs
        const g = dd[base + c] * (gd === undefined ? 1 : gd[c])
        dxd[base + c] = rs * (g - sumG / n - xhat * (sumGX / n))
      }
    }
    const row = (from: number): Tensor => {
      const t = alloc("layerNormBackward", 1, n)
      for (let c = 0; c < n; c++) t.data[c] = sums[from + c]
      return t
    }
    return { dx, dgamma: withAffine ? row(0) : undefined, dbeta: withAffine ? row(n) : undefined }
  }

  // ---- sequence ops (cpu/Sequence.ts): conv1d = unfold(x)·W + bias on the SIMD matmul -------------

  const unfoldDims = (x: WasmTensor, length: number, kernel: number): Sequence.UnfoldDims =>
    ({ rows: x.rows, channels: x.cols, length, kernel, left: Ops.samePaddingLeft(kernel) })

  /** The unfolded input, a temporary the caller releases. */
  const unfolded = (op: string, x: WasmTensor, d: Sequence.UnfoldDims): WasmTensor => {
    const u = alloc(op, x.rows, d.kernel * x.cols)
    Sequence.unfold(x.data, d, u.data)
    return u
  }

  const conv1d = (xT: Tensor, wT: Tensor, biasT: Tensor | undefined, length: number): Tensor => {
    const x = as("conv1d", xT)
    const w = as("conv1d", wT)
    const bias = biasT === undefined ? undefined : as("conv1d", biasT)
    const { kernel } = Ops.conv1dShape("conv1d", x, w, bias, length)
    const u = unfolded("conv1d", x, unfoldDims(x, length, kernel))
    const out = matmul(u, w, bias === undefined ? {} : { bias }).out
    arena.release(u.allocation)
    return out
  }

  const conv1dBackward = (dyT: Tensor, xT: Tensor, wT: Tensor, length: number, needs: Conv1dNeeds): Conv1dGrads => {
    const op = "conv1dBackward"
    const [dy, x, w] = [dyT, xT, wT].map((t) => as(op, t))
    const { out, kernel } = Ops.conv1dShape(op, x, w, undefined, length)
    Ops.sameShape(op, dy, out)
    const d = unfoldDims(x, length, kernel)
    let dx: Tensor | undefined
    if (needs.dx) {
      const du = as(op, matmul(dy, w, { transB: true }).out)
      const folded = alloc(op, x.rows, x.cols)
      Sequence.fold(du.data, d, folded.data)
      arena.release(du.allocation)
      dx = folded
    }
    let dw: Tensor | undefined
    if (needs.dw) {
      const u = unfolded(op, x, d)
      dw = matmul(u, dy, { transA: true }).out
      arena.release(u.allocation)
    }
    return { dx, dw, db: needs.db ? reduce("sum", "rows", dy) : undefined }
  }

  const groupDims = (x: WasmTensor, length: number, groups: number): Sequence.GroupDims =>
    ({ rows: x.rows, channels: x.cols, length, groups })

  const groupNorm = (
    xT: Tensor, gammaT: Tensor | undefined, betaT: Tensor | undefined, length: number, groups: number, eps: number
  ): GroupNormResult => {
    const x = as("groupNorm", xT)
    const gamma = gammaT === undefined ? undefined : as("groupNorm", gammaT)
    const beta = betaT === undefined ? undefined : as("groupNorm", betaT)
    const { batch } = Ops.groupNormShape("groupNorm", x, gamma, beta, length, groups)
    const out = alloc("groupNorm", x.rows, x.cols)
    const mean = alloc("groupNorm", batch, groups)
    const rstd = alloc("groupNorm", batch, groups)
    Sequence.groupNorm(x.data, gamma?.data, beta?.data, groupDims(x, length, groups), eps, out.data, mean.data, rstd.data)
    return { out, mean, rstd }
  }

  const groupNormBackward = (
    dyT: Tensor, xT: Tensor, gammaT: Tensor | undefined, meanT: Tensor, rstdT: Tensor,
    length: number, groups: number, withAffine: boolean
  ): LayerNormGrads => {
    const op = "groupNormBackward"
    const [dy, x, mean, rstd] = [dyT, xT, meanT, rstdT].map((t) => as(op, t))
    const gamma = gammaT === undefined ? undefined : as(op, gammaT)
    Ops.groupNormBackwardShape(op, dy, x, gamma, mean, rstd, length, groups)
    const dx = alloc(op, x.rows, x.cols)
    const n = x.cols
    const sums = withAffine ? f64(2 * n).fill(0, 0, 2 * n) : undefined
    Sequence.groupNormBackward(
      dy.data, x.data, gamma?.data, mean.data, rstd.data, groupDims(x, length, groups), dx.data,
      sums?.subarray(0, n), sums?.subarray(n, 2 * n)
    )
    const row = (from: number): Tensor => {
      const t = alloc(op, 1, n)
      for (let c = 0; c < n; c++) t.data[c] = sums![from + c]
      return t
    }
    return { dx, dgamma: withAffine ? row(0) : undefined, dbeta: withAffine ? row(n) : undefined }
  }

  const maxPool2 = (xT: Tensor, length: number): Tensor => {
    const x = as("maxPool2", xT)
    const s = Ops.maxPool2Shape("maxPool2", x, length)
    const out = alloc("maxPool2", s.rows, s.cols)
    Sequence.maxPool2(x.data, s.rows, s.cols, out.data)
    return out
  }

  const maxPool2Backward = (xT: Tensor, dyT: Tensor, length: number): Tensor => {
    const x = as("maxPool2Backward", xT)
    const dy = as("maxPool2Backward", dyT)
    Ops.sameShape("maxPool2Backward", dy, Ops.maxPool2Shape("maxPool2Backward", x, length))
    const dx = alloc("maxPool2Backward", x.rows, x.cols)
    Sequence.maxPool2Backward(x.data, dy.data, dy.rows, dy.cols, dx.data)
    return dx
  }

  const upsample2 = (xT: Tensor): Tensor => {
    const x = as("upsample2", xT)
    const out = alloc("upsample2", 2 * x.rows, x.cols)
    Sequence.upsample2(x.data, x.rows, x.cols, out.data)
    return out
  }

  const upsample2Backward = (dyT: Tensor): Tensor => {
    const dy = as("upsample2Backward", dyT)
    Ops.evenRows("upsample2Backward", "dy", dy)
    const dx = alloc("upsample2Backward", dy.rows / 2, dy.cols)
    Sequence.upsample2Backward(dy.data, dx.rows, dx.cols, dx.data)
    return dx
  }

  /**
   * Keep masks of recent dropout calls, by key, size and threshold: the backward pass of a dropout
   * (the tape calls dropout again on dy with the same key) applies the stored mask instead of
   * recomputing Philox, and frees it. At most DROPOUT_MASKS are kept (oldest dropped first), so
   * masks whose backward never comes cost bounded memory.
   */
  const dropoutMasks = new Map<string, Allocation>()
  const dropout = (xT: Tensor, p: number, key: RngKey): Tensor => {
    const x = as("dropout", xT)
    if (!(p >= 0 && p < 1)) throw new Ops.ShapeError({ op: "dropout", detail: `rate must be in [0, 1), got ${p}` })
    const out = alloc("dropout", x.rows, x.cols)
    // The reference keeps element i when its uniform ((w >>> 8) + 0.5)·2⁻²⁴ ≥ p, i.e. when the
    // integer w >>> 8 ≥ ⌈p·2²⁴ − 0.5⌉ (exact in f64).
    const threshold = Math.ceil(p * 2 ** 24 - 0.5)
    const id = `${key.seed} ${key.stream} ${key.offset} ${x.size} ${threshold}`
    const stored = dropoutMasks.get(id)
    if (stored !== undefined) {
      dropoutMasks.delete(id)
      K.dropoutMasked(x.address, out.address, x.size, stored.byteOffset, 1 - p, mainScratch.tmp)
      arena.release(stored)
      return out
    }
    const mask = arena.acquire(4 * x.size, false)
    K.dropout(x.address, out.address, x.size, key.seed, key.stream, key.offset, threshold, 1 - p, mask.byteOffset, mainScratch.tmp)
    dropoutMasks.set(id, mask)
    if (dropoutMasks.size > DROPOUT_MASKS) {
      const [oldest, allocation] = dropoutMasks.entries().next().value!
      dropoutMasks.delete(oldest)
      arena.release(allocation)
    }
    return out
  }

  // ---- losses ---------------------------------------------------------------------------------------

  const lossWeight = (op: string, w: Tensor | undefined, rows: number): WasmTensor | undefined => {
    if (w === undefined) return undefined
    const wt = as(op, w)
    Ops.columnVector(op, "weight", wt, rows)
    return wt
  }

  const scalar = (op: string, v: number): Tensor => {
    const t = alloc(op, 1, 1)
    t.data[0] = v
    return t
  }

  const mseLoss = (predT: Tensor, targetT: Tensor, wT: Tensor | undefined): Tensor => {
    const pred = as("mseLoss", predT)
    const target = as("mseLoss", targetT)
    Ops.sameShape("mseLoss", pred, target)
    const w = lossWeight("mseLoss", wT, pred.rows)
    let total = 0
    for (let r = 0; r < pred.rows; r++) {
      let row = 0
      for (let c = 0; c < pred.cols; c++) row += (pred.data[r * pred.cols + c] - target.data[r * pred.cols + c]) ** 2
      total += (w ? w.data[r] : 1) * row
    }
    return scalar("mseLoss", total / pred.rows)
  }

  const mseLossBackward = (predT: Tensor, targetT: Tensor, wT: Tensor | undefined, dLossT: Tensor): Tensor => {
    const pred = as("mseLossBackward", predT)
    const target = as("mseLossBackward", targetT)
    const dLoss = as("mseLossBackward", dLossT)
    Ops.sameShape("mseLossBackward", pred, target)
    Ops.scalarShape("mseLossBackward", "dLoss", dLoss)
    const w = lossWeight("mseLossBackward", wT, pred.rows)
    const g = (2 * dLoss.data[0]) / pred.rows
    const out = alloc("mseLossBackward", pred.rows, pred.cols)
    for (let r = 0, i = 0; r < pred.rows; r++) {
      const wr = w ? w.data[r] : 1
      for (let c = 0; c < pred.cols; c++, i++) out.data[i] = g * wr * (pred.data[i] - target.data[i])
    }
    return out
  }

  const expectileWeight = (u: number, tau: number): number => (u < 0 ? 1 - tau : tau)

  const expectileLoss = (uT: Tensor, tau: number): Tensor => {
    const u = as("expectileLoss", uT)
    let total = 0
    for (let i = 0; i < u.size; i++) total += expectileWeight(u.data[i], tau) * u.data[i] ** 2
    return scalar("expectileLoss", total / u.rows)
  }

  const expectileLossBackward = (uT: Tensor, tau: number, dLossT: Tensor): Tensor => {
    const u = as("expectileLossBackward", uT)
    const dLoss = as("expectileLossBackward", dLossT)
    Ops.scalarShape("expectileLossBackward", "dLoss", dLoss)
    const g = (2 * dLoss.data[0]) / u.rows
    return map("expectileLossBackward", u, (v) => g * expectileWeight(v, tau) * v)
  }

  // ---- optimisation ---------------------------------------------------------------------------------

  // AdamW (Loshchilov & Hutter 2019) as optax.adamw: bias-corrected moments, decoupled decay lr·wd·θ.
  // In f32 SIMD: the constants are rounded to f32 once, which stays inside the optimizer tolerance.
  const adamw = (paramT: Tensor, gradT: Tensor, mT: Tensor, vT: Tensor, hp: AdamWParams): void => {
    const [param, grad, m, v] = [paramT, gradT, mT, vT].map((t) => as("adamw", t))
    for (const t of [grad, m, v]) Ops.sameShape("adamw", param, t)
    ops++
    for (const t of [param, m, v]) written(t)
    const c1 = 1 - hp.beta1 ** hp.step
    const c2 = 1 - hp.beta2 ** hp.step
    K.adamw(
      param.address, grad.address, m.address, v.address, param.size,
      hp.beta1, 1 - hp.beta1, hp.beta2, 1 - hp.beta2, 1 / c1, 1 / c2, hp.eps, hp.lr, hp.weightDecay, mainScratch.tmp
    )
  }

  const ema = (targetT: Tensor, sourceT: Tensor, rate: number): void => {
    const target = as("ema", targetT)
    const source = as("ema", sourceT)
    Ops.sameShape("ema", target, source)
    ops++
    written(target)
    K.ema(target.address, source.address, target.size, rate, mainScratch.tmp)
  }

  /**
   * A draw of `rows × cols` elements of `key`'s stream: Philox words 0 and 1 of every element by
   * the SIMD kernel, then `value(w0, w1)` per element, as src/domain/Rng.ts maps them (bit-identical).
   */
  const random = (op: string, rows: number, cols: number, key: RngKey, value: (w0: number, w1: number) => number): Tensor => {
    const out = alloc(op, rows, cols)
    const n = out.size
    const words = arena.acquire(8 * n, false)
    try {
      K.philoxWords(words.byteOffset, words.byteOffset + 4 * n, n, key.seed, key.stream, key.offset, mainScratch.tmp)
      const w0 = new Uint32Array(arena.memory.buffer, words.byteOffset, n)
      const w1 = new Uint32Array(arena.memory.buffer, words.byteOffset + 4 * n, n)
      const od = out.data
      for (let i = 0; i < n; i++) od[i] = value(w0[i], w1[i])
    } finally {
      arena.release(words)
    }
    return out
  }
  /** Box–Muller on words 0 and 1, as Rng.fillNormal. */
  const normalOf = (w0: number, w1: number): number =>
    Math.sqrt(-2 * Math.log(Rng.wordToUniform(w0))) * Math.cos(2 * Math.PI * Rng.wordToUniform(w1))

  const threads = () => (pool !== undefined && pool.ready() ? pool.workers + 1 : 1)

  return {
    kind: "wasm",
    get description() {
      return `wasm (f32x4 SIMD${fma ? ", relaxed FMA" : ""}, ${threadCount} thread${threadCount === 1 ? "" : "s"})`
    },
    threads,
    close: () => {
      pool?.close()
      pool = undefined
    },
    stats: () => ({ allocations: arena.created, dispatches: ops, submits: 0 }),
    zeros: (rows, cols) => {
      const t = alloc("zeros", rows, cols)
      t.data.fill(0)
      return t
    },
    fill: (rows, cols, value) => {
      const t = alloc("fill", rows, cols)
      t.data.fill(value)
      return t
    },
    upload: (data, rows, cols) => {
      if (data.length !== rows * cols) {
        throw new Ops.ShapeError({ op: "upload", detail: `${data.length} values for shape [${rows}, ${cols}]` })
      }
      const t = alloc("upload", rows, cols)
      t.data.set(data)
      return t
    },
    write: (dstT, data) => {
      const dst = as("write", dstT)
      if (data.length !== dst.size) throw new Ops.ShapeError({ op: "write", detail: `${data.length} values for ${Ops.show(dst)}` })
      written(dst)
      dst.data.set(data)
    },
    read: (t) => Promise.resolve(as("read", t).data.slice()),
    view,
    scope,
    dispose: (tT) => {
      if (tT instanceof WasmTensor && tT.owner === undefined) arena.release(tT.allocation)
    },
    flush: () => undefined,
    matmul,
    unary,
    unaryBackward,
    affine: (xT, scale, shift) => {
      const x = as("affine", xT)
      const out = alloc("affine", x.rows, x.cols)
      K.affine(x.address, out.address, x.size, scale, shift, mainScratch.tmp)
      return out
    },
    clamp: (x, lo, hi) => map("clamp", as("clamp", x), (v) => Math.min(Math.max(v, lo), hi)),
    clampBackward,
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
      const dst = as("copyInto", dstT)
      const src = as("copyInto", srcT)
      Ops.sameShape("copyInto", dst, src)
      ops++
      written(dst)
      dst.data.set(src.data)
    },
    copyIntoMany: (pairs) => {
      const op = "copyIntoMany"
      const copies = pairs.map(([d, s]) => [as(op, d), as(op, s)] as const)
      for (const [dst, src] of copies) Ops.sameShape(op, dst, src)
      Ops.disjointDestinations(op, copies.map(([dst]) => ({
        rows: dst.rows, cols: dst.cols, storage: "memory", start: dst.address, end: dst.address + 4 * dst.size
      })))
      for (const [dst, src] of copies) {
        ops++
        written(dst)
        dst.data.set(src.data)
      }
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
    uniform: (rows, cols, key) => random("uniform", rows, cols, key, Rng.wordToUniform),
    normal: (rows, cols, key) => random("normal", rows, cols, key, normalOf),
    randint: (rows, cols, key, n) => random("randint", rows, cols, key, (w0) => Rng.wordToInt(w0, n)),
    adamw,
    ema
  }
}
