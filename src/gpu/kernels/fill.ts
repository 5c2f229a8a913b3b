/** Host side of the fill kernel. */
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { fillWgsl } from "./fill.wgsl.ts"

const WORKGROUP_SIZE = 256

export const fillSpec: KernelSpec = {
  name: "fill",
  code: fillWgsl,
  entryPoints: ["fill"],
  bindings: ["write"],
  constants: { WORKGROUP_SIZE }
}

export const encodeFill = (rec: Recorder, kernel: Kernel, dst: Binding, n: number, value: number): void =>
  rec.dispatch(kernel, "fill", [dst], (p) => p.u32(n).f32(value), grid1d(n, WORKGROUP_SIZE))
