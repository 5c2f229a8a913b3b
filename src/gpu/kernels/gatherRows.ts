/** Host side of the gatherRows kernel. */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { gatherRowsWgsl } from "./gatherRows.wgsl.ts"

const WORKGROUP_SIZE = 256

/** The gatherRows kernel: its WGSL, bindings and pipelines. */
export const gatherRowsSpec: KernelSpec = {
  name: "gatherRows",
  code: gatherRowsWgsl,
  bindings: ["read", "read", "write", "write"],
  pipelines: singlePipeline("gatherRows", { WORKGROUP_SIZE })
}

/** What one gatherRows dispatch needs. */
export interface GatherRowsArgs {
  /** Number of indices (output rows). */
  readonly n: number
  readonly rows: number
  readonly cols: number
  readonly x: Binding
  readonly indices: Binding
  readonly out: Binding
  /** The backend's index-fault record (`wgsl/indexFault.wgsl.ts`). */
  readonly indexFault: Binding
}

/** Records one gatherRows dispatch into the pending pass. */
export const encodeGatherRows = (rec: Recorder, kernel: Kernel, a: GatherRowsArgs): void =>
  rec.dispatch(
    kernel,
    "gatherRows",
    [a.x, a.indices, a.out, a.indexFault],
    (p) => p.u32(a.n).u32(a.rows).u32(a.cols),
    grid1d(a.n * a.cols, WORKGROUP_SIZE)
  )
