/**
 * matmulRegister and matmulTiled against Matmul.matmulInto (the CPU backend): random shapes that
 * are not multiples of any tile, every transpose / bias / activation / pre-activation combination,
 * and a few larger products. Both variants are built on the file's device, whatever the layer picked. The cases and
 * their check are the WASM suite's too (test/fixtures/BackendParity.ts).
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import * as GpuBackend from "../../src/gpu/GpuBackend.ts"
import type { MatmulVariant } from "../../src/gpu/GpuBackend.ts"
import { Gpu } from "../../src/services/Gpu.ts"
import { arbitraryMatmulCase, checkMatmulCase } from "../fixtures/BackendParity.ts"
import { describeGpu, runs } from "../fixtures/GpuTest.ts"

const variantsOf = (device: GPUDevice): ReadonlyArray<MatmulVariant> =>
  GpuBackend.supportsRegisterMatmul(device) ? ["register", "tiled"] : ["tiled"]

const backendFor = (device: GPUDevice, matmul: MatmulVariant) =>
  Effect.gen(function*() {
    const { backend, compilation } = GpuBackend.make(device, { matmul, description: `test ${matmul}` })
    assert.deepStrictEqual(yield* Effect.promise(() => compilation), [])
    return backend
  })

describeGpu("matmul", (it) => {
  it.effect("random shapes, transposes, bias, activations and pre-activations match the CPU", () =>
    Effect.gen(function*() {
      const gpu = yield* Gpu
      for (const variant of variantsOf(gpu.device)) {
        const B = yield* backendFor(gpu.device, variant)
        yield* Effect.promise(() =>
          fc.assert(fc.asyncProperty(arbitraryMatmulCase, (c) => checkMatmulCase(B, c, variant)), { numRuns: runs(40) })
        )
      }
    }))

  it.effect("larger products (257×129×65, every transpose) match the CPU", () =>
    Effect.gen(function*() {
      const gpu = yield* Gpu
      for (const variant of variantsOf(gpu.device)) {
        const B = yield* backendFor(gpu.device, variant)
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            yield* Effect.promise(() =>
              checkMatmulCase(B, {
                m: 257, k: 129, n: 65, transA, transB, bias: true, activation: "gelu", keepPre: true, seed: 7
              }, variant)
            )
          }
        }
        yield* Effect.promise(() =>
          checkMatmulCase(B, {
            m: 64, k: 1024, n: 96, transA: false, transB: false, bias: false, activation: "identity", keepPre: false, seed: 3
          }, variant)
        )
      }
    }))

  it.effect("the register variant records one dispatch for aligned operands, one more when packing", () =>
    Effect.gen(function*() {
      const gpu = yield* Gpu
      if (!GpuBackend.supportsRegisterMatmul(gpu.device)) return
      const B = yield* backendFor(gpu.device, "register")
      const count = (m: number, k: number, n: number, transA: boolean) =>
        B.scope(() => {
          const a = transA ? B.zeros(k, m) : B.zeros(m, k)
          const b = B.zeros(k, n)
          const before = B.stats().dispatches
          B.matmul(a, b, { transA })
          return B.stats().dispatches - before
        })
      assert.strictEqual(count(32, 64, 128, false), 1)
      assert.strictEqual(count(32, 64, 128, true), 2)
      assert.strictEqual(count(32, 63, 128, false), 2)
      assert.strictEqual(count(32, 64, 130, false), 2)
      B.flush()
    }))
})
