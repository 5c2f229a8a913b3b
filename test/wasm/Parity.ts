/**
 * WASM-backend tests share this: the backend under test, the CPU reference, deterministic data and
 * the comparison of one computation on both. Not a test file itself.
 */
import { assert } from "@effect/vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import type { Shape } from "../../src/domain/Ops.ts"
import type { Tensor, TensorBackend } from "../../src/domain/TensorBackend.ts"
import * as WasmBackend from "../../src/wasm/WasmBackend.ts"
import { assertClose, type Tolerance } from "../fixtures/Tolerance.ts"

/** The reference every op is compared with (f32 storage, f64 accumulation). */
export const cpu: TensorBackend = CpuBackend.make({ precision: "f32" })

/** A single-threaded WASM backend (the threaded matmul has its own tests). */
export const wasm = WasmBackend.make({ threads: 1 })

/** A WASM backend that splits every matmul over two threads, once its worker is up. */
export const threaded = async (): Promise<WasmBackend.WasmBackend> => {
  const B = WasmBackend.make({ threads: 2, parallelMinFlops: 0 })
  const start = Date.now()
  while (B.threads() < 2) {
    if (Date.now() - start > 30_000) throw new Error("the matmul worker did not start within 30 s")
    await new Promise((r) => setTimeout(r, 10))
  }
  return B
}

/** fast-check runs: `n` scaled by WASM_FC_RUNS_SCALE (default 1) for deeper runs. */
export const runs = (n: number): number => Math.max(1, Math.round(n * Number(process.env.WASM_FC_RUNS_SCALE ?? 1)))

/** Deterministic floats in [lo, hi) from `seed` (mulberry32), so fast-check can shrink over seeds. */
export const randomData = (seed: number, n: number, lo = -1, hi = 1): Float32Array => {
  let s = seed >>> 0
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 2 ** 32)
  }
  return out
}

/** Values on a grid of quarters in [-2, 2], so that ties (max/min) and zeros occur. */
export const gridData = (seed: number, n: number): Float32Array =>
  randomData(seed, n, 0, 17).map((v) => Math.floor(v) / 4 - 2)

export interface Input {
  readonly data: Float32Array
  readonly shape: Shape
}

export const input = (seed: number, rows: number, cols: number, lo = -1, hi = 1): Input => ({
  data: randomData(seed, rows * cols, lo, hi),
  shape: { rows, cols }
})

/**
 * Uploads `inputs` to `B` and to the CPU reference, applies `f` on each (inside a scope, so the
 * inputs are freed) and compares every output's shape and values.
 */
export const compare = async (
  B: TensorBackend,
  inputs: ReadonlyArray<Input>,
  f: (X: TensorBackend, xs: ReadonlyArray<Tensor>) => ReadonlyArray<Tensor>,
  tolerance: Tolerance,
  label: string
): Promise<void> => {
  const run = (X: TensorBackend) => X.scope(() => f(X, inputs.map((i) => X.upload(i.data, i.shape.rows, i.shape.cols))))
  const got = run(B)
  const want = run(cpu)
  assert.strictEqual(got.length, want.length, `${label}: number of outputs`)
  for (let i = 0; i < got.length; i++) {
    assert.deepStrictEqual([got[i].rows, got[i].cols], [want[i].rows, want[i].cols], `${label} output ${i} shape`)
    assertClose(await B.read(got[i]), await cpu.read(want[i]), tolerance, `${label} output ${i}`)
    B.dispose(got[i])
  }
}
