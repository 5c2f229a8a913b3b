/** Host side of matmulPack: the vec4, zero-padded operand layouts matmulRegister reads. */
import { grid1d, type Kernel, type KernelSpec, singlePipeline } from "../Kernel.ts"
import type { Binding, ParamWriter, Recorder } from "../Recorder.ts"
import { matmulPackWgsl } from "./matmulPack.wgsl.ts"

const WORKGROUP_SIZE = 256

/** The matmulPack kernel: its WGSL, bindings and pipelines. */
export const matmulPackSpec: KernelSpec = {
  name: "matmulPack",
  code: matmulPackWgsl,
  bindings: ["read", "read", "write", "write"],
  pipelines: singlePipeline("matmulPack", { WORKGROUP_SIZE })
}

/** One operand to pack. */
export interface PackOperand {
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
  /** A vec4 binding of rows·cols4 vec4. */
  readonly out: Binding
}

const writeOperand = (p: ParamWriter, o: PackOperand | undefined): void => {
  if (o === undefined) p.u32(0).u32(0).u32(0).u32(0).u32(0).u32(0)
  else p.u32(o.rows).u32(o.cols4).u32(o.srcRows).u32(o.srcCols).u32(o.ld).u32(o.transposed ? 1 : 0)
}

/** Records one matmulPack dispatch packing `first` and, when given, `second`. */
export const encodeMatmulPack = (
  rec: Recorder,
  kernel: Kernel,
  first: PackOperand,
  second: PackOperand | undefined,
  placeholders: { readonly read: Binding; readonly write: Binding }
): void =>
  rec.dispatch(
    kernel,
    "matmulPack",
    [first.x, second?.x ?? placeholders.read, first.out, second?.out ?? placeholders.write],
    (p) => {
      writeOperand(p, first)
      p.u32(0).u32(0) // `second` is @align(16): offset 32
      writeOperand(p, second)
    },
    grid1d(first.rows * first.cols4 + (second === undefined ? 0 : second.rows * second.cols4), WORKGROUP_SIZE)
  )
