/** Host side of the unary kernel: one pipeline per op and direction, and the recording of a pass. */
import { type UnaryOp, UnaryOps } from "../../domain/Ops.ts"
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { unaryOpCode } from "../wgsl/activation.wgsl.ts"
import { UNARY_AFFINE, UNARY_CLAMP, unaryWgsl } from "./unary.wgsl.ts"

const WORKGROUP_SIZE = 256

/** What a unary pass computes: a UnaryOp, or one of the parameterised maps. */
export type UnaryCode = UnaryOp | "affine" | "clamp"

const codeOf = (op: UnaryCode): number =>
  op === "affine" ? UNARY_AFFINE : op === "clamp" ? UNARY_CLAMP : unaryOpCode(op)

const forward: ReadonlyArray<UnaryCode> = [...UnaryOps, "affine", "clamp"]
const backward: ReadonlyArray<UnaryCode> = [...UnaryOps, "clamp"]

/** The unary kernel: its WGSL, bindings and pipelines. */
export const unarySpec: KernelSpec = {
  name: "unary",
  code: unaryWgsl,
  bindings: ["read", "read", "write"],
  pipelines: [
    ...forward.map((op) => ({ key: `unary/${op}`, entryPoint: "unary", constants: { OP: codeOf(op), WORKGROUP_SIZE } })),
    ...backward.map((op) => ({
      key: `unaryBackward/${op}`,
      entryPoint: "unaryBackward",
      constants: { OP: codeOf(op), WORKGROUP_SIZE }
    }))
  ]
}

const bits = new Float32Array(1)
const word = new Int32Array(bits.buffer)

/** The f32 next to `f` towards +∞ (`up`) or −∞. */
const nextF32 = (f: number, up: boolean): number => {
  if (f === 0) return up ? 2 ** -149 : -(2 ** -149)
  bits[0] = f
  word[0] += (f > 0) === up ? 1 : -1
  return bits[0]
}

/**
 * The f32 window [lo', hi'] holding exactly the f32 values x with lo ≤ x ≤ hi (in f64), so that
 * clampBackward on f32 bounds decides like the f64 reference even when lo or hi is not an f32.
 */
export const clampWindow = (lo: number, hi: number): readonly [number, number] => {
  const l = Math.fround(lo)
  const h = Math.fround(hi)
  return [l < lo ? nextF32(l, true) : l, h > hi ? nextF32(h, false) : h]
}

/** What one unary dispatch needs. */
export interface UnaryArgs {
  readonly entryPoint: "unary" | "unaryBackward"
  readonly op: UnaryCode
  readonly n: number
  readonly a: number
  readonly b: number
  /** vec4 bindings: ranges rounded up to a multiple of 16 bytes. */
  readonly x: Binding
  /** The upstream gradient (backward) or any readable binding (forward). */
  readonly dy: Binding
  readonly y: Binding
}

/** Records one unary dispatch into the pending pass. */
export const encodeUnary = (rec: Recorder, kernel: Kernel, a: UnaryArgs): void =>
  rec.dispatch(
    kernel,
    `${a.entryPoint}/${a.op}`,
    [a.x, a.dy, a.y],
    (p) => p.u32(a.n).f32(a.a).f32(a.b),
    grid1d(Math.ceil(a.n / 4), WORKGROUP_SIZE)
  )
