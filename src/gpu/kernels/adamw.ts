/** Host side of the adamw kernel. */
import type { AdamWParams } from "../../domain/Ops.ts"
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { adamwWgsl } from "./adamw.wgsl.ts"

const WORKGROUP_SIZE = 256

/** The adamw kernel: its WGSL, bindings and pipelines. */
export const adamwSpec: KernelSpec = {
  name: "adamw",
  code: adamwWgsl,
  bindings: ["read", "write", "write", "write"],
  pipelines: singlePipeline("adamw", { WORKGROUP_SIZE })
}

/** What one adamw dispatch needs. */
export interface AdamwArgs {
  readonly n: number
  readonly hp: AdamWParams
  readonly grad: Binding
  readonly param: Binding
  readonly m: Binding
  readonly v: Binding
}

/** Records one adamw dispatch into the pending pass. */
export const encodeAdamw = (rec: Recorder, kernel: Kernel, a: AdamwArgs): void => {
  const { hp } = a
  rec.dispatch(
    kernel,
    "adamw",
    [a.grad, a.param, a.m, a.v],
    (p) =>
      p.u32(a.n).f32(hp.lr).f32(hp.beta1).f32(hp.beta2).f32(1 - hp.beta1).f32(1 - hp.beta2).f32(hp.eps)
        .f32(hp.weightDecay).f32(1 - hp.beta1 ** hp.step).f32(1 - hp.beta2 ** hp.step),
    grid1d(Math.ceil(a.n / 4), WORKGROUP_SIZE)
  )
}
