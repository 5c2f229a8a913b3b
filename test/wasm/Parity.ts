/**
 * WASM-backend tests share this: the backend under test, and from test/fixtures/BackendParity.ts the CPU reference,
 * deterministic data and the comparison of one computation on both. Not a test file itself.
 */
import * as WasmBackend from "../../src/wasm/WasmBackend.ts"

export { compare, cpu, gridData, type Input, input, randomData } from "../fixtures/BackendParity.ts"

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
