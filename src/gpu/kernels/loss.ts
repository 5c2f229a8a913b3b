/** Host side of the loss kernels (per-element terms and the gradient w.r.t. the prediction). */
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { lossWgsl } from "./loss.wgsl.ts"

const WORKGROUP_SIZE = 256

export const lossSpec: KernelSpec = {
  name: "loss",
  code: lossWgsl,
  entryPoints: ["lossTerms", "lossBackward"],
  bindings: ["read", "read", "read", "read", "write"],
  constants: { WORKGROUP_SIZE }
}

export interface LossArgs {
  readonly entryPoint: "lossTerms" | "lossBackward"
  /** LOSS_MSE or LOSS_EXPECTILE. */
  readonly op: number
  readonly rows: number
  readonly cols: number
  readonly tau: number
  readonly pred: Binding
  readonly target: Binding | undefined
  readonly weight: Binding | undefined
  readonly dLoss: Binding | undefined
  readonly out: Binding
}

export const encodeLoss = (rec: Recorder, kernel: Kernel, a: LossArgs, placeholder: Binding): void =>
  rec.dispatch(
    kernel,
    a.entryPoint,
    [a.pred, a.target ?? placeholder, a.weight ?? placeholder, a.dLoss ?? placeholder, a.out],
    (p) => p.u32(a.rows).u32(a.cols).u32(a.op).u32(a.weight ? 1 : 0).f32(a.tau),
    grid1d(a.rows * a.cols, WORKGROUP_SIZE)
  )
