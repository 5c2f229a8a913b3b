/** Host side of the layerNorm kernels (forward and backward, two modules with their own layouts). */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { layerNormBackwardWgsl, layerNormWgsl } from "./layerNorm.wgsl.ts"

const WORKGROUP_SIZE = 64

/** The layerNorm kernel: its WGSL, bindings and pipelines. */
export const layerNormSpec: KernelSpec = {
  name: "layerNorm",
  code: layerNormWgsl,
  bindings: ["read", "read", "read", "write", "write", "write"],
  pipelines: singlePipeline("layerNorm", { WORKGROUP_SIZE })
}

/** The layerNormBackward kernel: its WGSL, bindings and pipelines. */
export const layerNormBackwardSpec: KernelSpec = {
  name: "layerNormBackward",
  code: layerNormBackwardWgsl,
  bindings: ["read", "read", "read", "read", "read", "write", "write"],
  pipelines: singlePipeline("layerNormBackward", { WORKGROUP_SIZE })
}

/** What one layerNorm dispatch needs. */
export interface LayerNormArgs {
  readonly rows: number
  readonly cols: number
  readonly eps: number
  readonly x: Binding
  /** Absent: γ = 1 (a readable placeholder is bound). */
  readonly gamma: Binding | undefined
  readonly beta: Binding | undefined
  readonly out: Binding
  readonly mean: Binding
  readonly rstd: Binding
}

/** Records one layerNorm dispatch into the pending pass. */
export const encodeLayerNorm = (rec: Recorder, kernel: Kernel, a: LayerNormArgs, placeholder: Binding): void =>
  rec.dispatch(
    kernel,
    "layerNorm",
    [a.x, a.gamma ?? placeholder, a.beta ?? placeholder, a.out, a.mean, a.rstd],
    (p) => p.u32(a.rows).u32(a.cols).f32(a.eps).u32(a.gamma ? 1 : 0).u32(a.beta ? 1 : 0).u32(0),
    grid1d(a.rows, WORKGROUP_SIZE)
  )

/** What one layerNormBackward dispatch needs. */
export interface LayerNormBackwardArgs {
  readonly rows: number
  readonly cols: number
  readonly x: Binding
  readonly dy: Binding
  readonly gamma: Binding | undefined
  readonly mean: Binding
  readonly rstd: Binding
  readonly dx: Binding
  /** dy·x̂, written when present (for dγ). */
  readonly dyXhat: Binding | undefined
}

/** Records one layerNormBackward dispatch into the pending pass. */
export const encodeLayerNormBackward = (
  rec: Recorder,
  kernel: Kernel,
  a: LayerNormBackwardArgs,
  placeholders: { readonly read: Binding; readonly write: Binding }
): void =>
  rec.dispatch(
    kernel,
    "layerNormBackward",
    [a.x, a.dy, a.gamma ?? placeholders.read, a.mean, a.rstd, a.dx, a.dyXhat ?? placeholders.write],
    (p) => p.u32(a.rows).u32(a.cols).f32(0).u32(a.gamma ? 1 : 0).u32(0).u32(a.dyXhat ? 1 : 0),
    grid1d(a.rows, WORKGROUP_SIZE)
  )
