/**
 * The WebGPU TensorBackend: every op checks shapes (throwing ShapeError before anything reaches
 * Dawn), allocates its outputs from the buffer pool and records its dispatches into the pending
 * command stream; only `read` waits. Plain WebGPU, no Effect: the Gpu service owns the device.
 *
 * Tensors are windows of pooled buffers (`offset` in elements, a multiple of 64 for views so that
 * bindings stay 256-byte aligned); `view` works on any tensor's storage, so a model can keep all its
 * parameters in one flat buffer and bind views of it. Host writes (`upload`, `write`) flush pending
 * work first, since `queue.writeBuffer` runs ahead of commands that are not yet submitted.
 *
 * Failures: shapes are checked on the host (ShapeError), and so is every allocation against the device's buffer
 * and binding limits (OutOfMemory, before Dawn sees the request). Gather/scatter indices live on the device, so
 * they are checked there: the first op that meets a bad index records it in a small fault buffer that every
 * `read` copies back with its data, and a read after a fault rejects with IndexOutOfRange (then clears it), the
 * error the CPU backend throws from the op itself. The check costs ~10 % on an H200 (gather 22 → 26 µs at 256
 * indices, scatter 0.73 → 0.82 ms at 4096; one run each).
 */
import * as Scope from "../domain/Scope.ts"
import { Schema } from "effect"
import * as Ops from "../domain/Ops.ts"
import type { AdamWParams, BinaryOp, ReduceAxis, ReduceOp, Shape, UnaryOp } from "../domain/Ops.ts"
import type { RngKey } from "../domain/Rng.ts"
import type {
  BackendStats,
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
import { type Allocation, makeBufferPool, sizeClass } from "./BufferPool.ts"
import { compileKernel, type Kernel, type KernelSpec } from "./Kernel.ts"
import { adamwSpec, encodeAdamw } from "./kernels/adamw.ts"
import { binarySpec, broadcastStrides, encodeBinary } from "./kernels/binary.ts"
import { conv1dSpec, encodeConv1d } from "./kernels/conv1d.ts"
import { type CopyPart, copyManySpec, encodeCopyMany } from "./kernels/copyMany.ts"
import { COPY_MANY_PARTS } from "./kernels/copyMany.wgsl.ts"
import { dropoutSpec, encodeDropout } from "./kernels/dropout.ts"
import { emaSpec, encodeEma } from "./kernels/ema.ts"
import { encodeFill, fillSpec } from "./kernels/fill.ts"
import { encodeGatherRows, gatherRowsSpec } from "./kernels/gatherRows.ts"
import { encodeGroupNorm, encodeGroupNormBackward, groupNormBackwardSpec, groupNormSpec } from "./kernels/groupNorm.ts"
import { encodeLayerNorm, encodeLayerNormBackward, layerNormBackwardSpec, layerNormSpec } from "./kernels/layerNorm.ts"
import { encodeLoss, type Loss, lossSpec } from "./kernels/loss.ts"
import { encodeMatmulPack, matmulPackSpec } from "./kernels/matmulPack.ts"
import { encodeMatmulRegister, matmulRegisterSpec } from "./kernels/matmulRegister.ts"
import { encodeMatmulTiled, matmulTiledSpec } from "./kernels/matmulTiled.ts"
import { encodePairRows, pairRowsSpec } from "./kernels/pairRows.ts"
import { type Draw, encodeRandom, randomSpec } from "./kernels/random.ts"
import { encodeReduce, reduceSpec } from "./kernels/reduce.ts"
import { encodeScatterAddRows, scatterAddRowsSpec } from "./kernels/scatterAddRows.ts"
import { encodeStridedCopy, stridedCopySpec } from "./kernels/stridedCopy.ts"
import { clampWindow, encodeUnary, type UnaryCode, unarySpec } from "./kernels/unary.ts"
import { type Binding, makeRecorder } from "./Recorder.ts"
import { INDEX_FAULT_BYTES, INDEX_FAULT_OPS } from "./wgsl/indexFault.wgsl.ts"

/**
 * Dawn refused to create a buffer of `bytes` bytes for lack of device memory, below the per-buffer limits that
 * OutOfMemory checks (the device's memory was used up). Reported by the next read.
 */
export class AllocationFailed extends Schema.TaggedError<AllocationFailed>()("AllocationFailed", {
  bytes: Schema.Number,
  message: Schema.String
}) {}

/**
 * A tensor of `bytes` bytes exceeds what the device can allocate and bind: `limit` bytes, the smaller of its
 * `maxBufferSize` and `maxStorageBufferBindingSize`. Raised by the op before Dawn sees the request.
 */
export class OutOfMemory extends Schema.TaggedError<OutOfMemory>()("OutOfMemory", {
  op: Schema.String,
  rows: Schema.Int,
  cols: Schema.Int,
  bytes: Schema.Number,
  limit: Schema.Number
}) {
  override get message(): string {
    return `${this.op}: [${this.rows}, ${this.cols}] needs ${this.bytes} bytes, over the device's ${this.limit}-byte buffer limit`
  }
}

/** A tensor of the GPU backend: `size` floats at element `offset` of `buffer`. */
export class GpuTensor implements Tensor {
  readonly rows: number
  readonly cols: number
  readonly size: number
  readonly buffer: GPUBuffer
  readonly offset: number
  /** The pooled allocation backing the storage (shared by views). */
  readonly allocation: Allocation
  /** False for views: disposing a view does not release its storage. */
  readonly owner: boolean
  constructor(rows: number, cols: number, allocation: Allocation, offset: number, owner: boolean) {
    this.rows = rows
    this.cols = cols
    this.size = rows * cols
    this.buffer = allocation.buffer
    this.offset = offset
    this.allocation = allocation
    this.owner = owner
  }
}

/** Which matmul kernel to use: register-blocked (software adapters) or workgroup-tiled (real GPUs). */
export type MatmulVariant = "register" | "tiled"

/** How to build a GPU backend on a device. */
export interface GpuBackendOptions {
  readonly matmul: MatmulVariant
  /** The adapter's description, reported as the backend's. */
  readonly description: string
  /** Rewrites kernel specs before they are compiled (tests use it to inject a broken shader). */
  readonly patch?: (spec: KernelSpec) => KernelSpec
}

/** A kernel whose module or pipelines did not compile, with Dawn's message. */
export interface KernelFailure {
  readonly kernel: string
  readonly message: string
}

/** A backend and the outcome of compiling its kernels. */
export interface GpuBackend {
  readonly backend: TensorBackend
  /** Resolves with the kernels that failed to compile (empty when all did). */
  readonly compilation: Promise<ReadonlyArray<KernelFailure>>
}

/** The kernels a backend compiles for a matmul variant. */
export const kernelSpecs = (matmul: MatmulVariant): ReadonlyArray<KernelSpec> => [
  ...(matmul === "register" ? [matmulRegisterSpec, matmulPackSpec] : [matmulTiledSpec]),
  unarySpec,
  binarySpec,
  reduceSpec,
  stridedCopySpec,
  copyManySpec,
  fillSpec,
  gatherRowsSpec,
  scatterAddRowsSpec,
  layerNormSpec,
  layerNormBackwardSpec,
  conv1dSpec,
  groupNormSpec,
  groupNormBackwardSpec,
  pairRowsSpec,
  lossSpec,
  randomSpec,
  dropoutSpec,
  adamwSpec,
  emaSpec
]

/**
 * Whether `device` can run matmulRegister: it needs the subgroups feature with subgroups of exactly
 * 8 lanes (llvmpipe's AVX2 width), since each subgroup shares 8 rows of A by broadcast.
 */
export const supportsRegisterMatmul = (device: GPUDevice): boolean =>
  device.features.has("subgroups") && device.adapterInfo.subgroupMinSize === 8 && device.adapterInfo.subgroupMaxSize === 8

/** WebGPU spec values, so this module needs no globals installed. */
const MAP_READ = 0x01
const COPY_SRC = 0x04
const COPY_DST = 0x08
const STORAGE = 0x80
const MAP_MODE_READ = 0x1

/** Views start at multiples of this many elements (256 bytes, the binding-offset alignment). */
const VIEW_ALIGNMENT = 64

/**
 * Compiles every kernel for `options.matmul` on `device` (each in its own validation error scope)
 * and returns the backend at once; `compilation` says which kernels failed.
 */
export const make = (device: GPUDevice, options: GpuBackendOptions): GpuBackend => {
  const patch = options.patch ?? ((spec: KernelSpec) => spec)
  const compiled = kernelSpecs(options.matmul).map((spec) => compileKernel(device, patch(spec)))
  const kernels = new Map<string, Kernel>(compiled.map((c) => [c.kernel.name, c.kernel]))
  const compilation = Promise.all(
    compiled.map((c) => c.error.then((message) => (message === undefined ? [] : [{ kernel: c.kernel.name, message }])))
  ).then((failures) => failures.flat())
  const kernel = (name: string): Kernel => kernels.get(name)!

  const recorder = makeRecorder(device)
  const pool = makeBufferPool(device, STORAGE | COPY_SRC | COPY_DST, "tensor")
  const placeholder = (label: string): Binding => ({
    buffer: device.createBuffer({ label, size: 256, usage: STORAGE }),
    offset: 0,
    size: 256
  })
  const placeholders = { read: placeholder("placeholder.read"), write: placeholder("placeholder.write") }
  const staging = new Map<number, Array<GPUBuffer>>()
  let stagingCreated = 0
  let readSubmits = 0
  const maxTensorBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize)
  const indexFault: Binding = {
    buffer: device.createBuffer({ label: "indexFault", size: 256, usage: STORAGE | COPY_SRC | COPY_DST }),
    offset: 0,
    size: INDEX_FAULT_BYTES
  }

  // ---- tensors and memory -------------------------------------------------------------------

  const alloc = (op: string, rows: number, cols: number): GpuTensor => {
    Ops.checkDim(op, "rows", rows)
    Ops.checkDim(op, "cols", cols)
    const bytes = rows * cols * 4
    if (bytes > maxTensorBytes) throw new OutOfMemory({ op, rows, cols, bytes, limit: maxTensorBytes })
    return new GpuTensor(rows, cols, pool.acquire(bytes), 0, true)
  }

  const asGpu = (op: string, t: Tensor): GpuTensor => {
    if (!(t instanceof GpuTensor)) throw new Ops.ShapeError({ op, detail: "tensor belongs to another backend" })
    if (!t.allocation.live) throw new Ops.ShapeError({ op, detail: `${Ops.show(t)} tensor used after it was disposed` })
    return t
  }

  const bind = (t: GpuTensor): Binding => ({ buffer: t.buffer, offset: t.offset * 4, size: t.size * 4 })

  /**
   * The binding of `t` rounded up to whole vec4s, for kernels that read four elements at a time.
   * Pooled storage always holds the rounded range: size classes are multiples of 64 bytes and views
   * start at multiples of 64 elements.
   */
  const bind4 = (t: GpuTensor): Binding => ({ buffer: t.buffer, offset: t.offset * 4, size: Math.ceil(t.size / 4) * 16 })

  /** Temporary buffers for one op; back in the pool once its commands are recorded. */
  const scratchBindings = (): { readonly get: (floats: number) => Binding; readonly release: () => void } => {
    const taken: Array<Allocation> = []
    return {
      get: (floats) => {
        const allocation = pool.acquire(floats * 4)
        taken.push(allocation)
        return { buffer: allocation.buffer, offset: 0, size: floats * 4 }
      },
      release: () => taken.forEach(pool.release)
    }
  }

  const overlaps = (a: GpuTensor, b: GpuTensor): boolean =>
    a.buffer === b.buffer && a.offset < b.offset + b.size && b.offset < a.offset + a.size

  /** In-place ops: no written operand may share storage with any other operand (Dawn rejects it). */
  const checkDisjoint = (op: string, written: ReadonlyArray<GpuTensor>, read: ReadonlyArray<GpuTensor>): void => {
    const all = [...written, ...read]
    for (let i = 0; i < written.length; i++) {
      for (let j = 0; j < all.length; j++) {
        if (i !== j && overlaps(written[i], all[j])) {
          throw new Ops.ShapeError({ op, detail: `operands ${Ops.show(written[i])} and ${Ops.show(all[j])} share storage` })
        }
      }
    }
  }

  const hostCopy = (data: Float32Array): Float32Array =>
    data.buffer instanceof ArrayBuffer ? data : new Float32Array(data)

  const writeInto = (op: string, dst: GpuTensor, data: Float32Array): void => {
    if (data.length !== dst.size) {
      throw new Ops.ShapeError({ op, detail: `${data.length} values for ${Ops.show(dst)}` })
    }
    recorder.flush()
    device.queue.writeBuffer(dst.buffer, dst.offset * 4, hostCopy(data))
  }

  const takeStaging = (bytes: number): GPUBuffer => {
    const size = sizeClass(bytes)
    const free = staging.get(size)?.pop()
    if (free !== undefined) return free
    stagingCreated++
    return device.createBuffer({ label: `staging[${size}]`, size, usage: MAP_READ | COPY_DST })
  }

  const giveStaging = (buffer: GPUBuffer): void => {
    const list = staging.get(buffer.size)
    if (list === undefined) staging.set(buffer.size, [buffer])
    else list.push(buffer)
  }

  const read = (tT: Tensor): Promise<Float32Array> => readBack(asGpu("read", tT))

  /** Copies `t` and the index-fault record back; rejects with the fault if a gather/scatter recorded one. */
  const readBack = async (t: GpuTensor): Promise<Float32Array> => {
    const bytes = t.size * 4
    recorder.flush()
    const target = takeStaging(bytes + INDEX_FAULT_BYTES)
    const encoder = device.createCommandEncoder({ label: "read.encoder" })
    encoder.copyBufferToBuffer(t.buffer, t.offset * 4, target, 0, bytes)
    encoder.copyBufferToBuffer(indexFault.buffer, 0, target, bytes, INDEX_FAULT_BYTES)
    device.queue.submit([encoder.finish()])
    readSubmits++
    await target.mapAsync(MAP_MODE_READ, 0, bytes + INDEX_FAULT_BYTES)
    const mapped = target.getMappedRange(0, bytes + INDEX_FAULT_BYTES)
    const data = new Float32Array(mapped.slice(0, bytes))
    const fault = new DataView(mapped.slice(bytes))
    target.unmap()
    giveStaging(target)
    const allocation = await pool.takeAllocationFailure()
    if (allocation !== undefined) throw new AllocationFailed(allocation)
    // IndexFault { flag: u32, op: u32, position: u32, index: f32, rows: u32 } (wgsl/indexFault.wgsl.ts)
    if (fault.getUint32(0, true) !== 0) {
      device.queue.writeBuffer(indexFault.buffer, 0, new ArrayBuffer(INDEX_FAULT_BYTES))
      throw new Ops.IndexOutOfRange({
        op: INDEX_FAULT_OPS[fault.getUint32(4, true)] ?? "gatherRows/scatterAddRows",
        position: fault.getUint32(8, true),
        index: fault.getFloat32(12, true),
        rows: fault.getUint32(16, true)
      })
    }
    return data
  }

  const scope = <A>(f: () => A): A =>
    Scope.runScope(pool, (v) => (v instanceof GpuTensor ? v.allocation : undefined), f)

  const view = (tT: Tensor, offset: number, rows: number, cols: number): Tensor => {
    const t = asGpu("view", tT)
    Ops.checkDim("view", "rows", rows)
    Ops.checkDim("view", "cols", cols)
    if (!Number.isInteger(offset) || offset % VIEW_ALIGNMENT !== 0 || offset < 0 || offset + rows * cols > t.size) {
      throw new Ops.ShapeError({
        op: "view",
        detail: `[${rows}, ${cols}] at ${offset} does not fit in ${t.size} (offset must be a multiple of ${VIEW_ALIGNMENT})`
      })
    }
    return new GpuTensor(rows, cols, t.allocation, t.offset + offset, false)
  }

  const fill = (rows: number, cols: number, value: number, op = "fill"): Tensor => {
    const out = alloc(op, rows, cols)
    encodeFill(recorder, kernel("fill"), bind4(out), out.size, value)
    return out
  }

  // ---- linear algebra -------------------------------------------------------------------------

  const matmul = (aT: Tensor, bT: Tensor, o: MatmulOptions = {}): MatmulResult => {
    const a = asGpu("matmul", aT)
    const b = asGpu("matmul", bT)
    const bias = o.bias === undefined ? undefined : asGpu("matmul", o.bias)
    const transA = o.transA ?? false
    const transB = o.transB ?? false
    const { rows: m, cols: n } = Ops.matmulShape(a, b, transA, transB, bias)
    const k = transA ? a.rows : a.cols
    const activation = o.activation ?? "identity"
    const out = alloc("matmul", m, n)
    const pre = o.keepPreActivation && activation !== "identity" ? alloc("matmul", m, n) : undefined
    const common = {
      m,
      n,
      activation,
      bias: bias && bind(bias),
      out: bind(out),
      pre: pre && bind(pre)
    }
    if (options.matmul === "tiled") {
      encodeMatmulTiled(recorder, kernel("matmulTiled"), { ...common, k, transA, transB, a: bind(a), b: bind(b) }, placeholders)
      return { out, pre }
    }
    const k4 = Math.ceil(k / 4)
    const n4 = Math.ceil(n / 4)
    const scratch = scratchBindings()
    const packing = (x: GpuTensor, rows: number, cols4: number, srcRows: number, srcCols: number, transposed: boolean) =>
      ({ rows, cols4, srcRows, srcCols, ld: x.cols, transposed, x: bind(x), out: scratch.get(rows * cols4 * 4) })
    const aPack = !transA && k % 4 === 0 ? undefined : packing(a, m, k4, m, k, transA)
    const bPack = !transB && n % 4 === 0 && k % 4 === 0 ? undefined : packing(b, 4 * k4, n4, k, n, transB)
    const [first, second] = aPack === undefined ? [bPack, undefined] : [aPack, bPack]
    if (first !== undefined) encodeMatmulPack(recorder, kernel("matmulPack"), first, second, placeholders)
    const aPacked = aPack?.out ?? bind(a)
    const bPacked = bPack?.out ?? bind(b)
    encodeMatmulRegister(recorder, kernel("matmulRegister"), { ...common, k4, n4, a: aPacked, b: bPacked }, placeholders)
    scratch.release()
    return { out, pre }
  }

  // ---- elementwise ----------------------------------------------------------------------------

  const unaryPass = (
    name: string,
    entryPoint: "unary" | "unaryBackward",
    op: UnaryCode,
    x: GpuTensor,
    dy: GpuTensor | undefined,
    a: number,
    b: number
  ): Tensor => {
    const out = alloc(name, x.rows, x.cols)
    encodeUnary(recorder, kernel("unary"), {
      entryPoint, op, n: x.size, a, b, x: bind4(x), dy: bind4(dy ?? x), y: bind4(out)
    })
    return out
  }

  const unaryBackwardOf = (op: string, xT: Tensor, dyT: Tensor): readonly [GpuTensor, GpuTensor] => {
    const x = asGpu(op, xT)
    const dy = asGpu(op, dyT)
    Ops.sameShape(op, x, dy)
    return [x, dy]
  }

  const binary = (op: BinaryOp, aT: Tensor, bT: Tensor): Tensor => {
    const a = asGpu(op, aT)
    const b = asGpu(op, bT)
    const s = Ops.broadcastShape(op, a, b)
    const out = alloc(op, s.rows, s.cols)
    encodeBinary(recorder, kernel("binary"), {
      backward: false, op, rows: s.rows, cols: s.cols,
      a: bind4(a), aShape: a, b: bind4(b), bShape: b, dy: placeholders.read, out: bind4(out), db: placeholders.write
    })
    return out
  }

  const binaryBackward = (op: BinaryOp, aT: Tensor, bT: Tensor, dyT: Tensor) => {
    const name = `${op}Backward`
    const a = asGpu(name, aT)
    const b = asGpu(name, bT)
    const dy = asGpu(name, dyT)
    const s = Ops.broadcastShape(name, a, b)
    Ops.sameShape(name, s, dy)
    const da = alloc(name, s.rows, s.cols)
    const db = alloc(name, s.rows, s.cols)
    encodeBinary(recorder, kernel("binary"), {
      backward: true, op, rows: s.rows, cols: s.cols,
      a: bind4(a), aShape: a, b: bind4(b), bShape: b, dy: bind4(dy), out: bind4(da), db: bind4(db)
    })
    return { da, db }
  }

  // ---- reductions and shape -------------------------------------------------------------------

  const reduceInto = (x: GpuTensor, axis: ReduceAxis, scale: number, out: Binding): void => {
    const plan = axis === "rows"
      ? { outer: x.cols, inner: x.rows, outerStride: 1, innerStride: x.cols }
      : axis === "cols"
      ? { outer: x.rows, inner: x.cols, outerStride: x.cols, innerStride: 1 }
      : { outer: 1, inner: x.size, outerStride: 0, innerStride: 1 }
    const scratch = scratchBindings()
    encodeReduce(recorder, kernel("reduce"), { ...plan, scale, x: bind(x), out }, scratch.get)
    scratch.release()
  }

  const reduce = (op: ReduceOp, axis: ReduceAxis, xT: Tensor): Tensor => {
    const x = asGpu("reduce", xT)
    const s = Ops.reduceShape(x, axis)
    const out = alloc("reduce", s.rows, s.cols)
    reduceInto(x, axis, op === "mean" ? out.size / x.size : 1, bind(out))
    return out
  }

  const copy = (
    src: GpuTensor,
    dst: GpuTensor,
    window: Shape,
    srcStrides: readonly [number, number],
    srcOffset = 0,
    dstOffset = 0
  ): void =>
    encodeStridedCopy(recorder, kernel("stridedCopy"), {
      rows: window.rows, cols: window.cols,
      src: bind(src), srcOffset, srcRowStride: srcStrides[0], srcColStride: srcStrides[1],
      dst: bind(dst), dstOffset, dstRowStride: dst.cols
    })

  const broadcastTo = (xT: Tensor, rows: number, cols: number): Tensor => {
    const x = asGpu("broadcastTo", xT)
    const s = Ops.broadcastShape("broadcastTo", x, { rows, cols })
    if (s.rows !== rows || s.cols !== cols) {
      throw new Ops.ShapeError({ op: "broadcastTo", detail: `cannot broadcast ${Ops.show(x)} to [${rows}, ${cols}]` })
    }
    const out = alloc("broadcastTo", rows, cols)
    copy(x, out, out, broadcastStrides(x))
    return out
  }

  const concatCols = (partsT: ReadonlyArray<Tensor>): Tensor => {
    const parts = partsT.map((p) => asGpu("concatCols", p))
    const s = Ops.concatColsShape(parts)
    const out = alloc("concatCols", s.rows, s.cols)
    let offset = 0
    for (const p of parts) {
      copy(p, out, p, [p.cols, 1], 0, offset)
      offset += p.cols
    }
    return out
  }

  const sliceCols = (xT: Tensor, start: number, width: number): Tensor => {
    const x = asGpu("sliceCols", xT)
    Ops.sliceColsShape(x, start, width)
    const out = alloc("sliceCols", x.rows, width)
    copy(x, out, out, [x.cols, 1], start)
    return out
  }

  const padCols = (xT: Tensor, start: number, cols: number): Tensor => {
    const x = asGpu("padCols", xT)
    if (!Number.isInteger(start) || start < 0 || start + x.cols > cols) {
      throw new Ops.ShapeError({ op: "padCols", detail: `${Ops.show(x)} at column ${start} does not fit in ${cols} columns` })
    }
    const out = alloc("padCols", x.rows, cols)
    encodeFill(recorder, kernel("fill"), bind4(out), out.size, 0)
    copy(x, out, x, [x.cols, 1], 0, start)
    return out
  }

  const indicesOf = (op: string, idxT: Tensor): GpuTensor => {
    const idx = asGpu(op, idxT)
    if (idx.cols !== 1) throw new Ops.ShapeError({ op, detail: `indices must be [n, 1], got ${Ops.show(idx)}` })
    return idx
  }

  const gatherRows = (xT: Tensor, idxT: Tensor): Tensor => {
    const x = asGpu("gatherRows", xT)
    const idx = indicesOf("gatherRows", idxT)
    const out = alloc("gatherRows", idx.rows, x.cols)
    encodeGatherRows(recorder, kernel("gatherRows"), {
      n: idx.rows, rows: x.rows, cols: x.cols, x: bind(x), indices: bind(idx), out: bind(out), indexFault
    })
    return out
  }

  const scatterAddRows = (dyT: Tensor, idxT: Tensor, rows: number): Tensor => {
    const dy = asGpu("scatterAddRows", dyT)
    const idx = indicesOf("scatterAddRows", idxT)
    Ops.columnVector("scatterAddRows", "indices", idx, dy.rows)
    const out = alloc("scatterAddRows", rows, dy.cols)
    encodeScatterAddRows(recorder, kernel("scatterAddRows"), {
      n: idx.rows, rows, cols: dy.cols, dy: bind(dy), indices: bind(idx), out: bind(out), indexFault
    })
    return out
  }

  const copyInto = (dstT: Tensor, srcT: Tensor): void => {
    const dst = asGpu("copyInto", dstT)
    const src = asGpu("copyInto", srcT)
    Ops.sameShape("copyInto", dst, src)
    checkDisjoint("copyInto", [dst], [src])
    if (src.buffer !== dst.buffer) return copy(src, dst, dst, [src.cols, 1])
    // Disjoint views of one buffer: WebGPU rejects a buffer bound writable and readable in one dispatch.
    const staged = alloc("copyInto", src.rows, src.cols)
    copy(src, staged, staged, [src.cols, 1])
    copy(staged, dst, dst, [src.cols, 1])
    pool.release(staged.allocation)
  }

  /**
   * Pairs whose destinations share a buffer go COPY_MANY_PARTS at a time into one copyMany dispatch,
   * the destination bound once as the span of their views; a pair whose source lives in that buffer
   * is copied on its own (copyInto: staged, since WebGPU rejects a buffer bound writable and readable
   * in one dispatch; overlapping views are a ShapeError).
   */
  const copyIntoMany = (pairs: ReadonlyArray<readonly [Tensor, Tensor]>): void => {
    const op = "copyIntoMany"
    const copies = pairs.map(([d, s]) => [asGpu(op, d), asGpu(op, s)] as const)
    for (const [dst, src] of copies) Ops.sameShape(op, dst, src)
    Ops.disjointDestinations(op, copies.map(([dst]) => ({
      rows: dst.rows, cols: dst.cols, storage: dst.buffer, start: dst.offset, end: dst.offset + dst.size
    })))
    const byBuffer = new Map<GPUBuffer, Array<readonly [GpuTensor, GpuTensor]>>()
    for (const [dst, src] of copies) {
      if (src.buffer === dst.buffer) {
        copyInto(dst, src)
        continue
      }
      const list = byBuffer.get(dst.buffer)
      if (list === undefined) byBuffer.set(dst.buffer, [[dst, src]])
      else list.push([dst, src])
    }
    for (const list of byBuffer.values()) {
      for (let i = 0; i < list.length; i += COPY_MANY_PARTS) {
        const chunk = list.slice(i, i + COPY_MANY_PARTS)
        // Views start at multiples of 64 elements, owners at 0: the span's offset is 256-byte aligned.
        const start = Math.min(...chunk.map(([dst]) => dst.offset))
        const end = Math.max(...chunk.map(([dst]) => dst.offset + dst.size))
        const span: Binding = { buffer: chunk[0][0].buffer, offset: start * 4, size: Math.ceil((end - start) / 4) * 16 }
        const parts: Array<CopyPart> = chunk.map(([dst, src]) => ({ src: bind4(src), n: src.size, dstOffset: dst.offset - start }))
        encodeCopyMany(recorder, kernel("copyMany"), parts, span, placeholders.read)
      }
    }
  }

  // ---- normalisation and regularisation ---------------------------------------------------------

  const layerNorm = (xT: Tensor, gammaT: Tensor | undefined, betaT: Tensor | undefined, eps: number): LayerNormResult => {
    const x = asGpu("layerNorm", xT)
    const gamma = gammaT === undefined ? undefined : asGpu("layerNorm", gammaT)
    const beta = betaT === undefined ? undefined : asGpu("layerNorm", betaT)
    if (gamma) Ops.rowVector("layerNorm", "gamma", gamma, x.cols)
    if (beta) Ops.rowVector("layerNorm", "beta", beta, x.cols)
    const out = alloc("layerNorm", x.rows, x.cols)
    const mean = alloc("layerNorm", x.rows, 1)
    const rstd = alloc("layerNorm", x.rows, 1)
    encodeLayerNorm(recorder, kernel("layerNorm"), {
      rows: x.rows, cols: x.cols, eps, x: bind(x), gamma: gamma && bind(gamma), beta: beta && bind(beta),
      out: bind(out), mean: bind(mean), rstd: bind(rstd)
    }, placeholders.read)
    return { out, mean, rstd }
  }

  const layerNormBackward = (
    dyT: Tensor, xT: Tensor, gammaT: Tensor | undefined, meanT: Tensor, rstdT: Tensor, withAffine: boolean
  ): LayerNormGrads => {
    const op = "layerNormBackward"
    const [dy, x, mean, rstd] = [dyT, xT, meanT, rstdT].map((t) => asGpu(op, t))
    const gamma = gammaT === undefined ? undefined : asGpu(op, gammaT)
    Ops.sameShape(op, dy, x)
    Ops.columnVector(op, "mean", mean, x.rows)
    Ops.columnVector(op, "rstd", rstd, x.rows)
    if (gamma) Ops.rowVector(op, "gamma", gamma, x.cols)
    const dx = alloc(op, x.rows, x.cols)
    const args = {
      rows: x.rows, cols: x.cols, x: bind(x), dy: bind(dy), gamma: gamma && bind(gamma),
      mean: bind(mean), rstd: bind(rstd), dx: bind(dx)
    }
    if (!withAffine) {
      encodeLayerNormBackward(recorder, kernel(op), { ...args, dyXhat: undefined }, placeholders)
      return { dx, dgamma: undefined, dbeta: undefined }
    }
    const dgamma = alloc(op, 1, x.cols)
    const dbeta = alloc(op, 1, x.cols)
    const dyXhat = alloc(op, x.rows, x.cols)
    encodeLayerNormBackward(recorder, kernel(op), { ...args, dyXhat: bind(dyXhat) }, placeholders)
    reduceInto(dyXhat, "rows", 1, bind(dgamma))
    reduceInto(dy, "rows", 1, bind(dbeta))
    pool.release(dyXhat.allocation)
    return { dx, dgamma, dbeta }
  }

  const dropout = (xT: Tensor, p: number, key: RngKey): Tensor => {
    const x = asGpu("dropout", xT)
    if (!(p >= 0 && p < 1)) throw new Ops.ShapeError({ op: "dropout", detail: `rate must be in [0, 1), got ${p}` })
    const out = alloc("dropout", x.rows, x.cols)
    encodeDropout(recorder, kernel("dropout"), { n: x.size, p, key, x: bind(x), out: bind(out) })
    return out
  }

  // ---- sequence ops: conv1d = unfold(x)·W + bias on the matmul kernel ----------------------------

  const conv1dPass = (entryPoint: "unfold" | "fold", src: GpuTensor, dst: GpuTensor, rows: number, channels: number, length: number, taps: number): void =>
    encodeConv1d(recorder, kernel("conv1d"), {
      entryPoint, rows, channels, length, kernel: taps, left: Ops.samePaddingLeft(taps), src: bind(src), dst: bind(dst)
    })

  const conv1d = (xT: Tensor, wT: Tensor, biasT: Tensor | undefined, length: number): Tensor => {
    const x = asGpu("conv1d", xT)
    const w = asGpu("conv1d", wT)
    const bias = biasT === undefined ? undefined : asGpu("conv1d", biasT)
    const { kernel: k } = Ops.conv1dShape("conv1d", x, w, bias, length)
    const u = alloc("conv1d", x.rows, k * x.cols)
    conv1dPass("unfold", x, u, x.rows, x.cols, length, k)
    const out = matmul(u, w, bias === undefined ? {} : { bias }).out
    pool.release(u.allocation)
    return out
  }

  const conv1dBackward = (dyT: Tensor, xT: Tensor, wT: Tensor, length: number, needs: Conv1dNeeds): Conv1dGrads => {
    const op = "conv1dBackward"
    const [dy, x, w] = [dyT, xT, wT].map((t) => asGpu(op, t))
    const { out, kernel: k } = Ops.conv1dShape(op, x, w, undefined, length)
    Ops.sameShape(op, dy, out)
    let dx: Tensor | undefined
    if (needs.dx) {
      const du = asGpu(op, matmul(dy, w, { transB: true }).out)
      const folded = alloc(op, x.rows, x.cols)
      conv1dPass("fold", du, folded, x.rows, x.cols, length, k)
      pool.release(du.allocation)
      dx = folded
    }
    let dw: Tensor | undefined
    if (needs.dw) {
      const u = alloc(op, x.rows, k * x.cols)
      conv1dPass("unfold", x, u, x.rows, x.cols, length, k)
      dw = matmul(u, dy, { transA: true }).out
      pool.release(u.allocation)
    }
    return { dx, dw, db: needs.db ? reduce("sum", "rows", dy) : undefined }
  }

  const groupNorm = (
    xT: Tensor, gammaT: Tensor | undefined, betaT: Tensor | undefined, length: number, groups: number, eps: number
  ): GroupNormResult => {
    const x = asGpu("groupNorm", xT)
    const gamma = gammaT === undefined ? undefined : asGpu("groupNorm", gammaT)
    const beta = betaT === undefined ? undefined : asGpu("groupNorm", betaT)
    const { batch } = Ops.groupNormShape("groupNorm", x, gamma, beta, length, groups)
    const out = alloc("groupNorm", x.rows, x.cols)
    const mean = alloc("groupNorm", batch, groups)
    const rstd = alloc("groupNorm", batch, groups)
    encodeGroupNorm(recorder, kernel("groupNorm"), {
      rows: x.rows, cols: x.cols, length, groups, eps, x: bind(x), gamma: gamma && bind(gamma), beta: beta && bind(beta),
      out: bind(out), mean: bind(mean), rstd: bind(rstd)
    }, placeholders.read)
    return { out, mean, rstd }
  }

  const groupNormBackward = (
    dyT: Tensor, xT: Tensor, gammaT: Tensor | undefined, meanT: Tensor, rstdT: Tensor,
    length: number, groups: number, withAffine: boolean
  ): LayerNormGrads => {
    const op = "groupNormBackward"
    const [dy, x, mean, rstd] = [dyT, xT, meanT, rstdT].map((t) => asGpu(op, t))
    const gamma = gammaT === undefined ? undefined : asGpu(op, gammaT)
    Ops.groupNormBackwardShape(op, dy, x, gamma, mean, rstd, length, groups)
    const dx = alloc(op, x.rows, x.cols)
    const args = {
      rows: x.rows, cols: x.cols, length, groups, x: bind(x), dy: bind(dy), gamma: gamma && bind(gamma),
      mean: bind(mean), rstd: bind(rstd), dx: bind(dx)
    }
    if (!withAffine) {
      encodeGroupNormBackward(recorder, kernel(op), { ...args, dyXhat: undefined }, placeholders)
      return { dx, dgamma: undefined, dbeta: undefined }
    }
    const dgamma = alloc(op, 1, x.cols)
    const dbeta = alloc(op, 1, x.cols)
    const dyXhat = alloc(op, x.rows, x.cols)
    encodeGroupNormBackward(recorder, kernel(op), { ...args, dyXhat: bind(dyXhat) }, placeholders)
    reduceInto(dyXhat, "rows", 1, bind(dgamma))
    reduceInto(dy, "rows", 1, bind(dbeta))
    pool.release(dyXhat.allocation)
    return { dx, dgamma, dbeta }
  }

  const pairRows = (
    op: "maxPool2" | "maxPool2Backward" | "upsample2" | "upsample2Backward",
    a: GpuTensor, b: GpuTensor | undefined, pairs: number, outRows: number
  ): Tensor => {
    const out = alloc(op, outRows, a.cols)
    encodePairRows(recorder, kernel("pairRows"), {
      entryPoint: op, pairs, cols: a.cols, a: bind(a), b: b && bind(b), out: bind(out)
    }, placeholders.read)
    return out
  }

  const maxPool2 = (xT: Tensor, length: number): Tensor => {
    const x = asGpu("maxPool2", xT)
    const s = Ops.maxPool2Shape("maxPool2", x, length)
    return pairRows("maxPool2", x, undefined, s.rows, s.rows)
  }

  const maxPool2Backward = (xT: Tensor, dyT: Tensor, length: number): Tensor => {
    const x = asGpu("maxPool2Backward", xT)
    const dy = asGpu("maxPool2Backward", dyT)
    Ops.sameShape("maxPool2Backward", dy, Ops.maxPool2Shape("maxPool2Backward", x, length))
    return pairRows("maxPool2Backward", x, dy, dy.rows, x.rows)
  }

  const upsample2 = (xT: Tensor): Tensor => {
    const x = asGpu("upsample2", xT)
    return pairRows("upsample2", x, undefined, x.rows, 2 * x.rows)
  }

  const upsample2Backward = (dyT: Tensor): Tensor => {
    const dy = asGpu("upsample2Backward", dyT)
    Ops.evenRows("upsample2Backward", "dy", dy)
    return pairRows("upsample2Backward", dy, undefined, dy.rows / 2, dy.rows / 2)
  }

  // ---- losses ----------------------------------------------------------------------------------

  const lossWeight = (op: string, w: Tensor | undefined, rows: number): GpuTensor | undefined => {
    if (w === undefined) return undefined
    const wg = asGpu(op, w)
    Ops.columnVector(op, "weight", wg, rows)
    return wg
  }

  const lossValue = (op: string, loss: Loss, pred: GpuTensor, target: GpuTensor | undefined, w: GpuTensor | undefined, tau: number): Tensor => {
    const out = alloc(op, 1, 1)
    const scratch = scratchBindings()
    const terms = scratch.get(pred.size)
    encodeLoss(recorder, kernel("loss"), {
      entryPoint: "lossTerms", loss, rows: pred.rows, cols: pred.cols, tau, pred: bind(pred),
      target: target && bind(target), weight: w && bind(w), dLoss: undefined, out: terms
    }, placeholders.read)
    encodeReduce(recorder, kernel("reduce"), {
      outer: 1, inner: pred.size, outerStride: 0, innerStride: 1, scale: 1 / pred.rows, x: terms, out: bind(out)
    }, scratch.get)
    scratch.release()
    return out
  }

  const lossGradient = (
    op: string, loss: Loss, pred: GpuTensor, target: GpuTensor | undefined, w: GpuTensor | undefined,
    tau: number, dLossT: Tensor
  ): Tensor => {
    const dLoss = asGpu(op, dLossT)
    Ops.scalarShape(op, "dLoss", dLoss)
    const out = alloc(op, pred.rows, pred.cols)
    encodeLoss(recorder, kernel("loss"), {
      entryPoint: "lossBackward", loss, rows: pred.rows, cols: pred.cols, tau, pred: bind(pred),
      target: target && bind(target), weight: w && bind(w), dLoss: bind(dLoss), out: bind(out)
    }, placeholders.read)
    return out
  }

  const mseOperands = (op: string, predT: Tensor, targetT: Tensor, wT: Tensor | undefined) => {
    const pred = asGpu(op, predT)
    const target = asGpu(op, targetT)
    Ops.sameShape(op, pred, target)
    return { pred, target, w: lossWeight(op, wT, pred.rows) }
  }

  // ---- randomness and optimisation ----------------------------------------------------------------

  const random = (draw: Draw, rows: number, cols: number, key: RngKey, n: number): Tensor => {
    const out = alloc(draw, rows, cols)
    encodeRandom(recorder, kernel("random"), { draw, count: out.size, key, n, out: bind(out) })
    return out
  }

  const adamw = (paramT: Tensor, gradT: Tensor, mT: Tensor, vT: Tensor, hp: AdamWParams): void => {
    const [param, grad, m, v] = [paramT, gradT, mT, vT].map((t) => asGpu("adamw", t))
    for (const t of [grad, m, v]) Ops.sameShape("adamw", param, t)
    checkDisjoint("adamw", [param, m, v], [grad])
    encodeAdamw(recorder, kernel("adamw"), {
      n: param.size, hp, grad: bind4(grad), param: bind4(param), m: bind4(m), v: bind4(v)
    })
  }

  const ema = (targetT: Tensor, sourceT: Tensor, rate: number): void => {
    const target = asGpu("ema", targetT)
    const source = asGpu("ema", sourceT)
    Ops.sameShape("ema", target, source)
    checkDisjoint("ema", [target], [source])
    encodeEma(recorder, kernel("ema"), { n: target.size, rate, source: bind4(source), target: bind4(target) })
  }

  const stats = (): BackendStats => ({
    allocations: pool.created() + stagingCreated,
    liveBuffers: pool.live(),
    dispatches: recorder.counters.dispatches,
    submits: recorder.counters.submits + readSubmits
  })

  const backend: TensorBackend = {
    kind: "gpu",
    description: options.description,
    stats,
    zeros: (rows, cols) => fill(rows, cols, 0, "zeros"),
    fill: (rows, cols, value) => fill(rows, cols, value),
    upload: (data, rows, cols) => {
      if (data.length !== rows * cols) {
        throw new Ops.ShapeError({ op: "upload", detail: `${data.length} values for shape [${rows}, ${cols}]` })
      }
      const t = alloc("upload", rows, cols)
      writeInto("upload", t, data)
      return t
    },
    write: (dstT, data) => writeInto("write", asGpu("write", dstT), data),
    read,
    view,
    scope,
    dispose: (tT) => {
      if (tT instanceof GpuTensor && tT.owner) pool.release(tT.allocation)
    },
    flush: () => recorder.flush(),
    matmul,
    unary: (op: UnaryOp, x) => unaryPass(op, "unary", op, asGpu(op, x), undefined, 0, 0),
    unaryBackward: (op: UnaryOp, xT, dyT) => {
      const [x, dy] = unaryBackwardOf(`${op}Backward`, xT, dyT)
      return unaryPass(`${op}Backward`, "unaryBackward", op, x, dy, 0, 0)
    },
    affine: (x, scale, shift) => unaryPass("affine", "unary", "affine", asGpu("affine", x), undefined, scale, shift),
    clamp: (x, lo, hi) => unaryPass("clamp", "unary", "clamp", asGpu("clamp", x), undefined, lo, hi),
    clampBackward: (xT, lo, hi, dyT) => {
      const [x, dy] = unaryBackwardOf("clampBackward", xT, dyT)
      const [l, h] = clampWindow(lo, hi)
      return unaryPass("clampBackward", "unaryBackward", "clamp", x, dy, l, h)
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
    copyInto,
    copyIntoMany,
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
    mseLoss: (predT, targetT, wT) => {
      const { pred, target, w } = mseOperands("mseLoss", predT, targetT, wT)
      return lossValue("mseLoss", "mse", pred, target, w, 0)
    },
    mseLossBackward: (predT, targetT, wT, dLoss) => {
      const { pred, target, w } = mseOperands("mseLossBackward", predT, targetT, wT)
      return lossGradient("mseLossBackward", "mse", pred, target, w, 0, dLoss)
    },
    expectileLoss: (uT, tau) => lossValue("expectileLoss", "expectile", asGpu("expectileLoss", uT), undefined, undefined, tau),
    expectileLossBackward: (uT, tau, dLoss) =>
      lossGradient("expectileLossBackward", "expectile", asGpu("expectileLossBackward", uT), undefined, undefined, tau, dLoss),
    uniform: (rows, cols, key) => random("uniform", rows, cols, key, 0),
    normal: (rows, cols, key) => random("normal", rows, cols, key, 0),
    randint: (rows, cols, key, n) => random("randint", rows, cols, key, n),
    adamw,
    ema
  }
  return { backend, compilation }
}
