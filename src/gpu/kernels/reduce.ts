/** Host side of the reduce kernel: plans the chain of chunked passes and records them. */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { reduceWgsl } from "./reduce.wgsl.ts"

const WORKGROUP_SIZE = 256
/** Inner lengths up to this are summed in one pass; longer ones in chunks of CHUNK. */
const SINGLE_PASS = 1024
const CHUNK = 256

/** The reduce kernel: its WGSL, bindings and pipelines. */
export const reduceSpec: KernelSpec = {
  name: "reduce",
  code: reduceWgsl,
  bindings: ["read", "write"],
  pipelines: singlePipeline("reduce", { WORKGROUP_SIZE })
}

/** A strided family of `outer` sums of `inner` elements each. */
export interface ReduceArgs {
  readonly outer: number
  readonly inner: number
  readonly outerStride: number
  readonly innerStride: number
  /** Multiplies the final sums (1/count for a mean). */
  readonly scale: number
  readonly x: Binding
  /** `outer` floats. */
  readonly out: Binding
}

/**
 * Records the passes. `scratch(floats)` provides partial buffers; they may be released as soon as
 * this returns (later commands run after these in queue order).
 */
export const encodeReduce = (
  rec: Recorder,
  kernel: Kernel,
  args: ReduceArgs,
  scratch: (floats: number) => Binding
): void => {
  let { inner, innerStride, outerStride } = args
  let x = args.x
  while (inner > SINGLE_PASS) {
    const chunks = Math.ceil(inner / CHUNK)
    const partial = scratch(chunks * args.outer)
    pass(rec, kernel, { ...args, inner, innerStride, outerStride, x, out: partial }, CHUNK, chunks, 1)
    x = partial
    inner = chunks
    innerStride = args.outer
    outerStride = 1
  }
  pass(rec, kernel, { ...args, inner, innerStride, outerStride, x }, inner, 1, args.scale)
}

const pass = (rec: Recorder, kernel: Kernel, a: ReduceArgs, chunk: number, chunks: number, scale: number): void =>
  rec.dispatch(
    kernel,
    "reduce",
    [a.x, a.out],
    (p) => p.u32(a.outer).u32(a.inner).u32(a.outerStride).u32(a.innerStride).u32(chunk).u32(chunks).f32(scale),
    grid1d(a.outer * chunks, WORKGROUP_SIZE)
  )
