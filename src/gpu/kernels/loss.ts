/** Host side of the loss kernels (per-element terms and the gradient w.r.t. the prediction). */
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { LOSS_EXPECTILE, LOSS_MSE, lossWgsl } from "./loss.wgsl.ts"

/** The losses the kernel computes. */
export type Loss = "mse" | "expectile"

const LOSSES: Record<Loss, number> = { mse: LOSS_MSE, expectile: LOSS_EXPECTILE }

const WORKGROUP_SIZE = 256

/** The loss kernel: its WGSL, bindings and pipelines. */
export const lossSpec: KernelSpec = {
  name: "loss",
  code: lossWgsl,
  bindings: ["read", "read", "read", "read", "write"],
  pipelines: (["lossTerms", "lossBackward"] as const).flatMap((entryPoint) =>
    (["mse", "expectile"] as const).map((loss) => ({
      key: `${entryPoint}/${loss}`,
      entryPoint,
      constants: { OP: LOSSES[loss], WORKGROUP_SIZE }
    }))
  )
}

/** What one loss dispatch needs. */
export interface LossArgs {
  readonly entryPoint: "lossTerms" | "lossBackward"
  readonly loss: Loss
  readonly rows: number
  readonly cols: number
  readonly tau: number
  readonly pred: Binding
  readonly target: Binding | undefined
  readonly weight: Binding | undefined
  readonly dLoss: Binding | undefined
  readonly out: Binding
}

/** Records one loss dispatch into the pending pass. */
export const encodeLoss = (rec: Recorder, kernel: Kernel, a: LossArgs, placeholder: Binding): void =>
  rec.dispatch(
    kernel,
    `${a.entryPoint}/${a.loss}`,
    [a.pred, a.target ?? placeholder, a.weight ?? placeholder, a.dLoss ?? placeholder, a.out],
    (p) => p.u32(a.rows).u32(a.cols).u32(a.weight ? 1 : 0).f32(a.tau),
    grid1d(a.rows * a.cols, WORKGROUP_SIZE)
  )
