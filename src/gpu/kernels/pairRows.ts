/** Host side of the pairRows kernel: max-pool by 2 and nearest upsample by 2 along time, and their backward. */
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { pairRowsWgsl } from "./pairRows.wgsl.ts"

const WORKGROUP_SIZE = 256

export type PairRowsEntry = "maxPool2" | "maxPool2Backward" | "upsample2" | "upsample2Backward"

const entries: ReadonlyArray<PairRowsEntry> = ["maxPool2", "maxPool2Backward", "upsample2", "upsample2Backward"]

/** The pairRows kernel: its WGSL, bindings and pipelines (one per entry point). */
export const pairRowsSpec: KernelSpec = {
  name: "pairRows",
  code: pairRowsWgsl,
  bindings: ["read", "read", "write"],
  pipelines: entries.map((e) => ({ key: e, entryPoint: e, constants: { WORKGROUP_SIZE } }))
}

/** What one pairRows dispatch needs. */
export interface PairRowsArgs {
  readonly entryPoint: PairRowsEntry
  /** Number of row pairs: the rows of the pooled (or not yet upsampled) side. */
  readonly pairs: number
  readonly cols: number
  readonly a: Binding
  /** dy of maxPool2Backward; absent otherwise. */
  readonly b: Binding | undefined
  readonly out: Binding
}

/** Records one pairRows dispatch into the pending pass. */
export const encodePairRows = (rec: Recorder, kernel: Kernel, a: PairRowsArgs, placeholder: Binding): void => {
  const outRows = a.entryPoint === "maxPool2" || a.entryPoint === "upsample2Backward" ? a.pairs : 2 * a.pairs
  rec.dispatch(
    kernel,
    a.entryPoint,
    [a.a, a.b ?? placeholder, a.out],
    (p) => p.u32(a.pairs).u32(a.cols),
    grid1d(outRows * a.cols, WORKGROUP_SIZE)
  )
}
