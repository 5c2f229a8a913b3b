/** Host side of the binary kernel: spec, operand strides for broadcasting, recording. */
import type { Shape } from "../../domain/Ops.ts"
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { binaryWgsl } from "./binary.wgsl.ts"

const WORKGROUP_SIZE = 256

export const binarySpec: KernelSpec = {
  name: "binary",
  code: binaryWgsl,
  entryPoints: ["binary", "binaryBackward"],
  bindings: ["read", "read", "read", "write", "write"],
  constants: { WORKGROUP_SIZE }
}

/** Row and column strides reading `operand` at every element of an output of shape `out`. */
export const broadcastStrides = (operand: Shape): readonly [number, number] => [
  operand.rows === 1 ? 0 : operand.cols,
  operand.cols === 1 ? 0 : 1
]

export interface BinaryArgs {
  readonly entryPoint: "binary" | "binaryBackward"
  /** An index in BinaryOps. */
  readonly op: number
  readonly rows: number
  readonly cols: number
  readonly a: Binding
  readonly aShape: Shape
  readonly b: Binding
  readonly bShape: Shape
  /** The upstream gradient (backward) or any readable binding (forward). */
  readonly dy: Binding
  /** The output (forward) or da (backward). */
  readonly out: Binding
  /** db (backward) or any writable binding not otherwise bound (forward). */
  readonly db: Binding
}

export const encodeBinary = (rec: Recorder, kernel: Kernel, args: BinaryArgs): void => {
  const [aRow, aCol] = broadcastStrides(args.aShape)
  const [bRow, bCol] = broadcastStrides(args.bShape)
  rec.dispatch(
    kernel,
    args.entryPoint,
    [args.a, args.b, args.dy, args.out, args.db],
    (p) => p.u32(args.rows).u32(args.cols).u32(args.op).u32(aRow).u32(aCol).u32(bRow).u32(bCol),
    grid1d(args.rows * args.cols, WORKGROUP_SIZE)
  )
}
