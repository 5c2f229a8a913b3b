/** Host side of the conv1d kernel (unfold and fold; the products are matmuls). */
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { conv1dWgsl } from "./conv1d.wgsl.ts"

const WORKGROUP_SIZE = 256

/** The conv1d kernel: its WGSL, bindings and pipelines (one per entry point). */
export const conv1dSpec: KernelSpec = {
  name: "conv1d",
  code: conv1dWgsl,
  bindings: ["read", "write"],
  pipelines: [
    { key: "unfold", entryPoint: "unfold", constants: { WORKGROUP_SIZE } },
    { key: "fold", entryPoint: "fold", constants: { WORKGROUP_SIZE } }
  ]
}

/** What one unfold or fold dispatch needs. */
export interface Conv1dArgs {
  readonly entryPoint: "unfold" | "fold"
  /** batch·length. */
  readonly rows: number
  readonly channels: number
  readonly length: number
  readonly kernel: number
  readonly left: number
  readonly src: Binding
  readonly dst: Binding
}

/** Records one unfold (x → U) or fold (dU → dx) dispatch into the pending pass. */
export const encodeConv1d = (rec: Recorder, kernel: Kernel, a: Conv1dArgs): void =>
  rec.dispatch(
    kernel,
    a.entryPoint,
    [a.src, a.dst],
    (p) => p.u32(a.rows).u32(a.channels).u32(a.length).u32(a.kernel).u32(a.left),
    grid1d(a.rows * a.channels * (a.entryPoint === "unfold" ? a.kernel : 1), WORKGROUP_SIZE)
  )
