/**
 * The WASM matmul (packing, SIMD register tiles, epilogue; the one-column and inner-dimension-1 kernels) against the CPU reference: random
 * shapes that are not multiples of any block (MR×NR tiles, KC-deep slices, MC-row and NC-column
 * blocks), every transpose / bias / activation / pre-activation combination, on one thread and
 * split over two. The cases and their check are the GPU suite's too (test/fixtures/BackendParity.ts).
 */
import { describe, it } from "@effect/vitest"
import fc from "fast-check"
import { Activations } from "../../src/domain/Ops.ts"
import type { TensorBackend } from "../../src/domain/TensorBackend.ts"
import { KC, MC, NC } from "../../src/wasm/Gemm.ts"
import { arbitraryMatmulCase, checkMatmulCase, type MatmulCase } from "../fixtures/BackendParity.ts"
import { assertClose, tolerances } from "../fixtures/Tolerance.ts"
import { cpu, randomData, runs, threaded, wasm } from "./Parity.ts"

describe("wasm matmul", () => {
  it("random shapes, transposes, bias, activations and pre-activations match the CPU (one thread)", async () => {
    await fc.assert(fc.asyncProperty(arbitraryMatmulCase, (c) => checkMatmulCase(wasm, c, "1 thread")), { numRuns: runs(60) })
  })

  it("random shapes match the CPU when every product is split over two threads", async () => {
    const B = await threaded()
    try {
      await fc.assert(fc.asyncProperty(arbitraryMatmulCase, (c) => checkMatmulCase(B, c, "2 threads")), { numRuns: runs(40) })
    } finally {
      B.close()
    }
  })

  it("products crossing every block edge (m > MC, k > KC, n > NC), every transpose, match the CPU", async () => {
    const B = await threaded()
    try {
      const [m, k, n] = [MC + 7, 2 * KC + 45, NC + 13]
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const c: MatmulCase = { m, k, n, transA, transB, bias: true, activation: "mish", keepPre: true, seed: 11 }
          await checkMatmulCase(wasm, c, "1 thread")
          await checkMatmulCase(B, c, "2 threads")
        }
      }
      // A deep product: f32 accumulation over k = 2000 terms stays within the matmul tolerance.
      await checkMatmulCase(wasm, { m: 9, k: 2000, n: 21, transA: false, transB: false, bias: false, activation: "identity", keepPre: false, seed: 5 }, "deep")
    } finally {
      B.close()
    }
  })

  it("the vector packing paths (full 6-row panels of A and 8-column panels of a transposed B, four columns at a time) match the CPU at every depth mod 4", async () => {
    // m = 13: two full panels and a one-row edge panel; n = 19: two full panels and an edge; k from 1
    // (no whole group of four) past KC (a second slice whose depth is not a multiple of four).
    for (const k of [1, 3, 4, 5, 8, 11, KC + 6]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          await checkMatmulCase(wasm, { m: 13, k, n: 19, transA, transB, bias: false, activation: "identity", keepPre: false, seed: k }, "packing")
        }
      }
    }
  })

  it("products with one output column (gemv) or an inner dimension of 1 (outer) match the CPU: every transpose, bias, activation, pre-activation", async () => {
    // m and k past the kernels' four-row and four-lane unrolls and their tails
    const cases: Array<readonly [number, number, number]> = [
      ...[1, 2, 3, 4, 5, 7, 9, 37, 300].flatMap((m) => [1, 2, 3, 4, 5, 7, 8, 13, 300].map((k) => [m, k, 1] as const)),
      ...[1, 2, 3, 5, 8, 13, 300].flatMap((m) => [2, 3, 4, 5, 7, 9, 37, 130].map((n) => [m, 1, n] as const))
    ]
    let seed = 0
    for (const [m, k, n] of cases) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const activation = Activations[seed % Activations.length]
          const c: MatmulCase = { m, k, n, transA, transB, bias: seed % 3 !== 0, activation, keepPre: seed % 2 === 0, seed }
          await checkMatmulCase(wasm, c, "gemv/outer")
          seed++
        }
      }
    }
  })

  it("every row count below the 6-row tile (the narrow tiles) matches the CPU, every transpose", async () => {
    for (let m = 1; m <= 7; m++) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          await checkMatmulCase(wasm, { m, k: KC + 3, n: 37, transA, transB, bias: true, activation: "silu", keepPre: true, seed: m }, "narrow")
        }
      }
    }
  })

  it("activations at large magnitudes (exp clamping, mish and gelu saturation) match the CPU", async () => {
    // B = identity scaled by 60, so C = 60·A spans [-60, 60].
    const k = 37
    const eye = new Float32Array(k * k)
    for (let i = 0; i < k; i++) eye[i * k + i] = 60
    const a = randomData(3, 5 * k)
    for (const activation of Activations) {
      const run = (X: TensorBackend) => X.scope(() => X.matmul(X.upload(a, 5, k), X.upload(eye, k, k), { activation }).out)
      assertClose(await wasm.read(run(wasm)), await cpu.read(run(cpu)), tolerances.matmul, `${activation} at ±60`)
    }
  })
})
