/** Host side of the fill kernel. */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { fillWgsl } from "./fill.wgsl.ts"

const WORKGROUP_SIZE = 256

/** The fill kernel: its WGSL, bindings and pipelines. */
export const fillSpec: KernelSpec = {
  name: "fill",
  code: fillWgsl,
  bindings: ["write"],
  pipelines: singlePipeline("fill", { WORKGROUP_SIZE })
}

/** `dst` is a vec4 binding (range rounded up to 16 bytes) of at least n floats. */
export const encodeFill = (rec: Recorder, kernel: Kernel, dst: Binding, n: number, value: number): void =>
  rec.dispatch(kernel, "fill", [dst], (p) => p.u32(n).f32(value), grid1d(Math.ceil(n / 4), WORKGROUP_SIZE))
