/** Host side of the dropout kernel. */
import type { RngKey } from "../../domain/Rng.ts"
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { dropoutWgsl } from "./dropout.wgsl.ts"

const WORKGROUP_SIZE = 256

/** The dropout kernel: its WGSL, bindings and pipelines. */
export const dropoutSpec: KernelSpec = {
  name: "dropout",
  code: dropoutWgsl,
  bindings: ["read", "write"],
  pipelines: singlePipeline("dropout", { WORKGROUP_SIZE })
}

/** The smallest v = word >> 8 whose uniform (v + 0.5)·2⁻²⁴ is ≥ p (2²⁴ when none is). */
export const dropoutThreshold = (p: number): number =>
  Math.min(2 ** 24, Math.max(0, Math.ceil(p * 2 ** 24 - 0.5)))

/** What one dropout dispatch needs. */
export interface DropoutArgs {
  readonly n: number
  readonly p: number
  readonly key: RngKey
  readonly x: Binding
  readonly out: Binding
}

/** Records one dropout dispatch into the pending pass. */
export const encodeDropout = (rec: Recorder, kernel: Kernel, a: DropoutArgs): void =>
  rec.dispatch(
    kernel,
    "dropout",
    [a.x, a.out],
    (p) =>
      p.u32(a.n).u32(a.key.seed).u32(a.key.stream).u32(a.key.offset).u32(dropoutThreshold(a.p))
        .f32(1 / (1 - a.p)),
    grid1d(a.n, WORKGROUP_SIZE)
  )
