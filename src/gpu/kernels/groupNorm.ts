/** Host side of the groupNorm kernels (forward and backward, two modules with their own layouts). */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { groupNormBackwardWgsl, groupNormWgsl } from "./groupNorm.wgsl.ts"

/** Invocations per workgroup, one workgroup per group (fixed in the WGSL: it sizes workgroup memory). */
const WORKGROUP_SIZE = 64

/** The groupNorm kernel: its WGSL, bindings and pipelines. */
export const groupNormSpec: KernelSpec = {
  name: "groupNorm",
  code: groupNormWgsl,
  bindings: ["read", "read", "read", "write", "write", "write"],
  pipelines: singlePipeline("groupNorm")
}

/** The groupNormBackward kernel: its WGSL, bindings and pipelines. */
export const groupNormBackwardSpec: KernelSpec = {
  name: "groupNormBackward",
  code: groupNormBackwardWgsl,
  bindings: ["read", "read", "read", "read", "read", "write", "write"],
  pipelines: singlePipeline("groupNormBackward")
}

/** The shape of a group norm: x [rows = batch·length, cols] in `groups` groups of channels. */
export interface GroupNormDims {
  readonly rows: number
  readonly cols: number
  readonly length: number
  readonly groups: number
}

/** What one groupNorm dispatch needs. */
export interface GroupNormArgs extends GroupNormDims {
  readonly eps: number
  readonly x: Binding
  /** Absent: γ = 1 (a readable placeholder is bound). */
  readonly gamma: Binding | undefined
  readonly beta: Binding | undefined
  readonly out: Binding
  readonly mean: Binding
  readonly rstd: Binding
}

const grid = (d: GroupNormDims) => grid1d((d.rows / d.length) * d.groups * WORKGROUP_SIZE, WORKGROUP_SIZE)

/** Records one groupNorm dispatch into the pending pass. */
export const encodeGroupNorm = (rec: Recorder, kernel: Kernel, a: GroupNormArgs, placeholder: Binding): void =>
  rec.dispatch(
    kernel,
    "groupNorm",
    [a.x, a.gamma ?? placeholder, a.beta ?? placeholder, a.out, a.mean, a.rstd],
    (p) => p.u32(a.rows).u32(a.cols).u32(a.length).u32(a.groups).f32(a.eps).u32(a.gamma ? 1 : 0).u32(a.beta ? 1 : 0).u32(0),
    grid(a)
  )

/** What one groupNormBackward dispatch needs. */
export interface GroupNormBackwardArgs extends GroupNormDims {
  readonly x: Binding
  readonly dy: Binding
  readonly gamma: Binding | undefined
  readonly mean: Binding
  readonly rstd: Binding
  readonly dx: Binding
  /** dy·x̂, written when present (for dγ). */
  readonly dyXhat: Binding | undefined
}

/** Records one groupNormBackward dispatch into the pending pass. */
export const encodeGroupNormBackward = (
  rec: Recorder,
  kernel: Kernel,
  a: GroupNormBackwardArgs,
  placeholders: { readonly read: Binding; readonly write: Binding }
): void =>
  rec.dispatch(
    kernel,
    "groupNormBackward",
    [a.x, a.dy, a.gamma ?? placeholders.read, a.mean, a.rstd, a.dx, a.dyXhat ?? placeholders.write],
    (p) => p.u32(a.rows).u32(a.cols).u32(a.length).u32(a.groups).f32(0).u32(a.gamma ? 1 : 0).u32(0).u32(a.dyXhat ? 1 : 0),
    grid(a)
  )
