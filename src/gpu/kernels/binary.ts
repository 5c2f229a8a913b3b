/** Host side of the binary kernel: pipelines per op, operand strides for broadcasting, recording. */
import { type BinaryOp, BinaryOps, type Shape } from "../../domain/Ops.ts"
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { binaryOpCode, binaryWgsl } from "./binary.wgsl.ts"

const WORKGROUP_SIZE = 256

const ENTRY_POINTS = ["binary", "binaryBackward", "binarySame", "binaryBackwardSame"] as const

/** The binary kernel: its WGSL, bindings and pipelines. */
export const binarySpec: KernelSpec = {
  name: "binary",
  code: binaryWgsl,
  bindings: ["read", "read", "read", "write", "write"],
  pipelines: ENTRY_POINTS.flatMap((entryPoint) =>
    BinaryOps.map((op) => ({ key: `${entryPoint}/${op}`, entryPoint, constants: { OP: binaryOpCode(op), WORKGROUP_SIZE } }))
  )
}

/** Row and column strides that read a broadcast operand at output element (r, c). */
export const broadcastStrides = (operand: Shape): readonly [number, number] => [
  operand.rows === 1 ? 0 : operand.cols,
  operand.cols === 1 ? 0 : 1
]

/** What one binary dispatch needs. */
export interface BinaryArgs {
  readonly backward: boolean
  readonly op: BinaryOp
  /** The output shape. */
  readonly rows: number
  readonly cols: number
  /** Operand bindings; vec4 ranges (rounded up to 16 bytes) when neither operand broadcasts. */
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

/** True when neither operand broadcasts, so the vec4 entry points apply. */
export const sameShapes = (a: BinaryArgs): boolean =>
  a.aShape.rows === a.rows && a.aShape.cols === a.cols && a.bShape.rows === a.rows && a.bShape.cols === a.cols

/** Records one binary dispatch into the pending pass. */
export const encodeBinary = (rec: Recorder, kernel: Kernel, a: BinaryArgs): void => {
  const same = sameShapes(a)
  const entryPoint = `${a.backward ? "binaryBackward" : "binary"}${same ? "Same" : ""}`
  const [aRow, aCol] = broadcastStrides(a.aShape)
  const [bRow, bCol] = broadcastStrides(a.bShape)
  const n = a.rows * a.cols
  rec.dispatch(
    kernel,
    `${entryPoint}/${a.op}`,
    [a.a, a.b, a.dy, a.out, a.db],
    (p) => p.u32(a.rows).u32(a.cols).u32(aRow).u32(aCol).u32(bRow).u32(bCol),
    grid1d(same ? Math.ceil(n / 4) : n, WORKGROUP_SIZE)
  )
}
