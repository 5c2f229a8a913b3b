/** Host side of the random kernel. */
import type { RngKey } from "../../domain/Rng.ts"
import { grid1d, type Kernel, type KernelSpec } from "../Kernel.ts"
import type { Binding, Recorder } from "../Recorder.ts"
import { RANDOM_INT, RANDOM_NORMAL, RANDOM_UNIFORM, randomWgsl } from "./random.wgsl.ts"

/** The distributions the kernel draws from. */
export type Draw = "uniform" | "normal" | "randint"

const DRAWS: Record<Draw, number> = { uniform: RANDOM_UNIFORM, normal: RANDOM_NORMAL, randint: RANDOM_INT }

const WORKGROUP_SIZE = 256

/** The random kernel: its WGSL, bindings and pipelines. */
export const randomSpec: KernelSpec = {
  name: "random",
  code: randomWgsl,
  bindings: ["write"],
  pipelines: (["uniform", "normal", "randint"] as const).map((draw) => ({
    key: `random/${draw}`,
    entryPoint: "random",
    constants: { OP: DRAWS[draw], WORKGROUP_SIZE }
  }))
}

/** What one random dispatch needs. */
export interface RandomArgs {
  readonly draw: Draw
  readonly count: number
  readonly key: RngKey
  /** Exclusive bound of RANDOM_INT. */
  readonly n: number
  readonly out: Binding
}

/** Records one random dispatch into the pending pass. */
export const encodeRandom = (rec: Recorder, kernel: Kernel, a: RandomArgs): void =>
  rec.dispatch(
    kernel,
    `random/${a.draw}`,
    [a.out],
    (p) => p.u32(a.count).u32(a.key.seed).u32(a.key.stream).u32(a.key.offset).u32(a.n),
    grid1d(a.count, WORKGROUP_SIZE)
  )
