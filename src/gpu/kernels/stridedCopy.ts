/** Host side of the stridedCopy kernel. */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { stridedCopyWgsl } from "./stridedCopy.wgsl.ts"

const WORKGROUP_SIZE = 256

/** The stridedCopy kernel: its WGSL, bindings and pipelines. */
export const stridedCopySpec: KernelSpec = {
  name: "stridedCopy",
  code: stridedCopyWgsl,
  bindings: ["read", "write"],
  pipelines: singlePipeline("stridedCopy", { WORKGROUP_SIZE })
}

/** A rows × cols window; offsets and strides in elements of the bound ranges. */
export interface StridedCopyArgs {
  readonly rows: number
  readonly cols: number
  readonly src: Binding
  readonly srcOffset: number
  readonly srcRowStride: number
  readonly srcColStride: number
  readonly dst: Binding
  readonly dstOffset: number
  readonly dstRowStride: number
}

/** Records one stridedCopy dispatch into the pending pass. */
export const encodeStridedCopy = (rec: Recorder, kernel: Kernel, a: StridedCopyArgs): void =>
  rec.dispatch(
    kernel,
    "stridedCopy",
    [a.src, a.dst],
    (p) =>
      p.u32(a.rows).u32(a.cols).u32(a.srcOffset).u32(a.srcRowStride).u32(a.srcColStride).u32(a.dstOffset)
        .u32(a.dstRowStride),
    grid1d(a.rows * a.cols, WORKGROUP_SIZE)
  )
