/** Host side of the unary kernel: spec and the recording of one elementwise pass. */
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { unaryWgsl } from "./unary.wgsl.ts"

const WORKGROUP_SIZE = 256

export const unarySpec: KernelSpec = {
  name: "unary",
  code: unaryWgsl,
  entryPoints: ["unary", "unaryBackward"],
  bindings: ["read", "read", "write"],
  constants: { WORKGROUP_SIZE }
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

export interface UnaryArgs {
  readonly entryPoint: "unary" | "unaryBackward"
  /** An index in UnaryOps, UNARY_AFFINE or UNARY_CLAMP. */
  readonly op: number
  readonly n: number
  readonly a: number
  readonly b: number
  readonly x: Binding
  /** The upstream gradient (backward) or any readable binding (forward). */
  readonly dy: Binding
  readonly y: Binding
}

export const encodeUnary = (rec: Recorder, kernel: Kernel, args: UnaryArgs): void =>
  rec.dispatch(
    kernel,
    args.entryPoint,
    [args.x, args.dy, args.y],
    (p) => p.u32(args.n).u32(args.op).f32(args.a).f32(args.b),
    grid1d(args.n, WORKGROUP_SIZE)
  )
