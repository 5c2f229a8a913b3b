/** Host side of the workgroup-tiled matmul (real GPUs): spec, geometry, recording. */
import type { Activation } from "../../domain/Ops.ts"
import { type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { unaryOpCode } from "../wgsl/activation.wgsl.ts"
import { MATMUL_TILE, matmulTiledWgsl } from "./matmulTiled.wgsl.ts"

/** The matmulTiled kernel: its WGSL, bindings and pipelines. */
export const matmulTiledSpec: KernelSpec = {
  name: "matmulTiled",
  code: matmulTiledWgsl,
  bindings: ["read", "read", "read", "write", "write"],
  pipelines: singlePipeline("matmulTiled")
}

/** What one matmulTiled dispatch needs. */
export interface MatmulTiledArgs {
  readonly m: number
  readonly n: number
  readonly k: number
  readonly transA: boolean
  readonly transB: boolean
  readonly activation: Activation
  readonly a: Binding
  readonly b: Binding
  readonly bias: Binding | undefined
  readonly out: Binding
  readonly pre: Binding | undefined
}

/** Records one matmulTiled dispatch into the pending pass. */
export const encodeMatmulTiled = (
  rec: Recorder,
  kernel: Kernel,
  a: MatmulTiledArgs,
  placeholders: { readonly read: Binding; readonly write: Binding }
): void =>
  rec.dispatch(
    kernel,
    "matmulTiled",
    [a.a, a.b, a.bias ?? placeholders.read, a.out, a.pre ?? placeholders.write],
    (p) =>
      p.u32(a.m).u32(a.n).u32(a.k).u32(a.transA ? 1 : 0).u32(a.transB ? 1 : 0).u32(unaryOpCode(a.activation))
        .u32(a.bias ? 1 : 0).u32(a.pre ? 1 : 0),
    [Math.ceil(a.n / MATMUL_TILE), Math.ceil(a.m / MATMUL_TILE)]
  )
