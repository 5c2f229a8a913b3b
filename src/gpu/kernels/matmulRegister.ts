/** Host side of the register-blocked matmul (software adapters): spec, geometry, recording. */
import { type Activation, Activations } from "../../domain/Ops.ts"
import type { Kernel, KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { unaryOpCode } from "../wgsl/activation.wgsl.ts"
import { MATMUL_REGISTER_ROWS, matmulRegisterWgsl } from "./matmulRegister.wgsl.ts"

/** The matmulRegister kernel: its WGSL, bindings and pipelines. */
export const matmulRegisterSpec: KernelSpec = {
  name: "matmulRegister",
  code: matmulRegisterWgsl,
  bindings: ["read", "read", "read", "write", "write"],
  pipelines: Activations.map((activation) => ({
    key: `matmulRegister/${activation}`,
    entryPoint: "matmulRegister",
    constants: { ACTIVATION: unaryOpCode(activation) }
  }))
}

/** What one matmulRegister dispatch needs. */
export interface MatmulRegisterArgs {
  readonly m: number
  readonly n: number
  /** ⌈k/4⌉: vec4 steps along k (A and B zero-padded to 4·k4). */
  readonly k4: number
  /** Row length of B in vec4 (≥ ⌈n/4⌉). */
  readonly n4: number
  readonly activation: Activation
  readonly a: Binding
  readonly b: Binding
  readonly bias: Binding | undefined
  readonly out: Binding
  readonly pre: Binding | undefined
}

/** Column blocks per workgroup: enough subgroups across n4, the rest stacked along rows. */
const columnSubgroups = (n4: number): number => (n4 > 32 ? 8 : n4 > 16 ? 4 : n4 > 8 ? 2 : 1)

/** Records one matmulRegister dispatch into the pending pass. */
export const encodeMatmulRegister = (
  rec: Recorder,
  kernel: Kernel,
  a: MatmulRegisterArgs,
  placeholders: { readonly read: Binding; readonly write: Binding }
): void => {
  const colSubs = columnSubgroups(Math.ceil(a.n / 4))
  rec.dispatch(
    kernel,
    `matmulRegister/${a.activation}`,
    [a.a, a.b, a.bias ?? placeholders.read, a.out, a.pre ?? placeholders.write],
    (p) =>
      p.u32(a.m).u32(a.n).u32(a.k4).u32(a.n4).u32(colSubs).u32(a.bias ? 1 : 0)
        .u32(a.pre ? 1 : 0),
    [Math.ceil(Math.ceil(a.n / 4) / (8 * colSubs)), Math.ceil(a.m / ((MATMUL_REGISTER_ROWS * 8) / colSubs))]
  )
}
