/** Host side of matmulPack: the vec4, zero-padded operand layouts matmulRegister reads. */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { matmulPackWgsl } from "./matmulPack.wgsl.ts"

const WORKGROUP_SIZE = 256

/** The matmulPack kernel: its WGSL, bindings and pipelines. */
export const matmulPackSpec: KernelSpec = {
  name: "matmulPack",
  code: matmulPackWgsl,
  bindings: ["read", "write"],
  pipelines: singlePipeline("matmulPack", { WORKGROUP_SIZE })
}

/** What one matmulPack dispatch needs. */
export interface MatmulPackArgs {
  /** Rows of the packed output. */
  readonly rows: number
  /** Row length of the packed output in vec4. */
  readonly cols4: number
  /** Shape of op(X); elements beyond it are zero. */
  readonly srcRows: number
  readonly srcCols: number
  /** Row length of X as stored. */
  readonly ld: number
  readonly transposed: boolean
  readonly x: Binding
  readonly out: Binding
}

/** Records one matmulPack dispatch into the pending pass. */
export const encodeMatmulPack = (rec: Recorder, kernel: Kernel, a: MatmulPackArgs): void =>
  rec.dispatch(
    kernel,
    "matmulPack",
    [a.x, a.out],
    (p) => p.u32(a.rows).u32(a.cols4).u32(a.srcRows).u32(a.srcCols).u32(a.ld).u32(a.transposed ? 1 : 0),
    grid1d(a.rows * a.cols4, WORKGROUP_SIZE)
  )
