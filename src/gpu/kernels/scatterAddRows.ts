/** Host side of the scatterAddRows kernel. */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { scatterAddRowsWgsl } from "./scatterAddRows.wgsl.ts"

const WORKGROUP_SIZE = 64

/** The scatterAddRows kernel: its WGSL, bindings and pipelines. */
export const scatterAddRowsSpec: KernelSpec = {
  name: "scatterAddRows",
  code: scatterAddRowsWgsl,
  bindings: ["read", "read", "write", "write"],
  pipelines: singlePipeline("scatterAddRows", { WORKGROUP_SIZE })
}

/** What one scatterAddRows dispatch needs. */
export interface ScatterAddRowsArgs {
  /** Number of indices (rows of dy). */
  readonly n: number
  /** Rows of the output. */
  readonly rows: number
  readonly cols: number
  readonly dy: Binding
  readonly indices: Binding
  readonly out: Binding
  /** The backend's index-fault record (`wgsl/indexFault.wgsl.ts`). */
  readonly indexFault: Binding
}

/** Records one scatterAddRows dispatch into the pending pass. */
export const encodeScatterAddRows = (rec: Recorder, kernel: Kernel, a: ScatterAddRowsArgs): void =>
  rec.dispatch(
    kernel,
    "scatterAddRows",
    [a.dy, a.indices, a.out, a.indexFault],
    (p) => p.u32(a.n).u32(a.rows).u32(a.cols),
    grid1d(a.rows, WORKGROUP_SIZE)
  )
