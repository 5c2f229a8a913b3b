/**
 * matmulRegister and matmulTiled against Matmul.matmulInto (the CPU backend): random shapes that
 * are not multiples of any tile, every transpose / bias / activation / pre-activation combination,
 * and a few larger products. Both variants are built on the file's device, whatever the layer picked.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { Activations } from "../../src/domain/Ops.ts"
import type { Activation } from "../../src/domain/Ops.ts"
import type { TensorBackend } from "../../src/domain/TensorBackend.ts"
import * as GpuBackend from "../../src/gpu/GpuBackend.ts"
import type { MatmulVariant } from "../../src/gpu/GpuBackend.ts"
import { Gpu } from "../../src/services/Gpu.ts"
import { cpu, describeGpu, randomData, runs } from "../fixtures/GpuTest.ts"
import { assertClose, tolerances } from "../fixtures/Tolerance.ts"

interface Case {
  readonly m: number
  readonly k: number
  readonly n: number
  readonly transA: boolean
  readonly transB: boolean
  readonly bias: boolean
  readonly activation: Activation
  readonly keepPre: boolean
  readonly seed: number
}

/** Runs one case on `B` and on the CPU and compares out (and pre). */
const checkCase = async (B: TensorBackend, c: Case, label: string): Promise<void> => {
  const [aRows, aCols] = c.transA ? [c.k, c.m] : [c.m, c.k]
  const [bRows, bCols] = c.transB ? [c.n, c.k] : [c.k, c.n]
  const aData = randomData(c.seed, aRows * aCols)
  const bData = randomData(c.seed + 1, bRows * bCols)
  const biasData = randomData(c.seed + 2, c.n)
  const run = (X: TensorBackend) =>
    X.scope(() =>
      X.matmul(X.upload(aData, aRows, aCols), X.upload(bData, bRows, bCols), {
        transA: c.transA,
        transB: c.transB,
        activation: c.activation,
        keepPreActivation: c.keepPre,
        ...(c.bias ? { bias: X.upload(biasData, 1, c.n) } : {})
      })
    )
  const got = run(B)
  const want = run(cpu)
  const name = `${label} ${JSON.stringify(c)}`
  assertClose(await B.read(got.out), await cpu.read(want.out), tolerances.matmul, `${name} out`)
  assert.strictEqual(got.pre === undefined, want.pre === undefined, `${name}: pre present`)
  if (got.pre !== undefined && want.pre !== undefined) {
    assertClose(await B.read(got.pre), await cpu.read(want.pre), tolerances.matmul, `${name} pre`)
    B.dispose(got.pre)
  }
  B.dispose(got.out)
}

const variantsOf = (device: GPUDevice): ReadonlyArray<MatmulVariant> =>
  GpuBackend.supportsRegisterMatmul(device) ? ["register", "tiled"] : ["tiled"]

const backendFor = (device: GPUDevice, matmul: MatmulVariant) =>
  Effect.gen(function*() {
    const { backend, compilation } = GpuBackend.make(device, { matmul, description: `test ${matmul}` })
    assert.deepStrictEqual(yield* Effect.promise(() => compilation), [])
    return backend
  })

const dim = fc.integer({ min: 1, max: 150 })

const arbitraryCase: fc.Arbitrary<Case> = fc.record({
  m: dim,
  k: dim,
  n: dim,
  transA: fc.boolean(),
  transB: fc.boolean(),
  bias: fc.boolean(),
  activation: fc.constantFrom(...Activations),
  keepPre: fc.boolean(),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 })
})

describeGpu("matmul", (it) => {
  it.effect("random shapes, transposes, bias, activations and pre-activations match the CPU", () =>
    Effect.gen(function*() {
      const gpu = yield* Gpu
      for (const variant of variantsOf(gpu.device)) {
        const B = yield* backendFor(gpu.device, variant)
        yield* Effect.promise(() =>
          fc.assert(fc.asyncProperty(arbitraryCase, (c) => checkCase(B, c, variant)), { numRuns: runs(40) })
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
              checkCase(B, {
                m: 257, k: 129, n: 65, transA, transB, bias: true, activation: "gelu", keepPre: true, seed: 7
              }, variant)
            )
          }
        }
        yield* Effect.promise(() =>
          checkCase(B, {
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
