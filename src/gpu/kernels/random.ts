/** Host side of the random kernel. */
import type { RngKey } from "../../domain/Rng.ts"
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { randomWgsl } from "./random.wgsl.ts"

const WORKGROUP_SIZE = 256

export const randomSpec: KernelSpec = {
  name: "random",
  code: randomWgsl,
  entryPoints: ["random"],
  bindings: ["write"],
  constants: { WORKGROUP_SIZE }
}

export interface RandomArgs {
  /** RANDOM_UNIFORM, RANDOM_NORMAL or RANDOM_INT. */
  readonly op: number
  readonly count: number
  readonly key: RngKey
  /** Exclusive bound of RANDOM_INT. */
  readonly n: number
  readonly out: Binding
}

export const encodeRandom = (rec: Recorder, kernel: Kernel, a: RandomArgs): void =>
  rec.dispatch(
    kernel,
    "random",
    [a.out],
    (p) => p.u32(a.count).u32(a.op).u32(a.key.seed).u32(a.key.stream).u32(a.key.offset).u32(a.n),
    grid1d(a.count, WORKGROUP_SIZE)
  )
