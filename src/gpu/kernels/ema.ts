/** Host side of the ema kernel. */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { emaWgsl } from "./ema.wgsl.ts"

const WORKGROUP_SIZE = 256

/** The ema kernel: its WGSL, bindings and pipelines. */
export const emaSpec: KernelSpec = {
  name: "ema",
  code: emaWgsl,
  bindings: ["read", "write"],
  pipelines: singlePipeline("ema", { WORKGROUP_SIZE })
}

/** Records one ema dispatch into the pending pass. */
export const encodeEma = (
  rec: Recorder,
  kernel: Kernel,
  a: { readonly n: number; readonly rate: number; readonly source: Binding; readonly target: Binding }
): void =>
  rec.dispatch(kernel, "ema", [a.source, a.target], (p) => p.u32(a.n).f32(a.rate), grid1d(Math.ceil(a.n / 4), WORKGROUP_SIZE))
