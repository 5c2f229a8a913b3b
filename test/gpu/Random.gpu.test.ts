/**
 * The WGSL Philox twin against Rng.ts through the backends: uniform and randint bit-identical to
 * the CPU stream for random keys, normals within tolerance, and dropout keeping exactly the same
 * elements as the CPU.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import type { RngKey } from "../../src/domain/Rng.ts"
import { Gpu } from "../../src/services/Gpu.ts"
import { cpu, describeGpu, randomData, runs } from "../fixtures/GpuTest.ts"
import { assertClose, assertIdentical, tolerances } from "../fixtures/Tolerance.ts"

const dim = fc.integer({ min: 1, max: 150 })
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 })
const key: fc.Arbitrary<RngKey> = fc.record({ seed: u32, stream: u32, offset: u32 })

describeGpu("random", (it) => {
  it.effect("uniform and randint are bit-identical to the CPU stream; normal is within tolerance", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, dim, key, fc.integer({ min: 1, max: 2 ** 24 }), async (rows, cols, k, n) => {
            const label = `[${rows}, ${cols}] key ${JSON.stringify(k)}`
            const draws = [
              ["uniform", B.uniform(rows, cols, k), cpu.uniform(rows, cols, k)],
              ["randint", B.randint(rows, cols, k, n), cpu.randint(rows, cols, k, n)],
              ["normal", B.normal(rows, cols, k), cpu.normal(rows, cols, k)]
            ] as const
            for (const [name, g, c] of draws) {
              const got = await B.read(g)
              const want = await cpu.read(c)
              if (name === "normal") assertClose(got, want, tolerances.rngNormal, `${name} ${label}`)
              else assertIdentical(got, want, `${name} ${name === "randint" ? `n ${n} ` : ""}${label}`)
              B.dispose(g)
            }
          }),
          { numRuns: runs(40) }
        )
      )
    }))

  it.effect("a large draw (2^18 elements) is bit-identical too", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const k = { seed: 0xdeadbeef, stream: 0x12345678, offset: 7 }
      const g = B.uniform(512, 512, k)
      assertIdentical(yield* Effect.promise(() => B.read(g)), yield* Effect.promise(() => cpu.read(cpu.uniform(512, 512, k))), "uniform 512²")
      B.dispose(g)
    }))

  it.effect("dropout keeps exactly the CPU's elements and scales them by 1/(1 − p)", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const rate = fc.oneof(fc.constantFrom(0, 0.1, 0.5, 0.9), fc.double({ min: 0, max: 0.99, noNaN: true }))
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, dim, key, rate, fc.nat(), async (rows, cols, k, p, s) => {
            const data = randomData(s, rows * cols, 0.5, 1.5)
            const g = B.scope(() => B.dropout(B.upload(data, rows, cols), p, k))
            const got = await B.read(g)
            const want = await cpu.read(cpu.dropout(cpu.upload(data, rows, cols), p, k))
            const label = `dropout p ${p} [${rows}, ${cols}] key ${JSON.stringify(k)}`
            for (let i = 0; i < want.length; i++) {
              if ((got[i] === 0) !== (want[i] === 0)) assert.fail(`${label}: element ${i} kept on one side only`)
            }
            assertClose(got, want, tolerances.elementwise, label)
            B.dispose(g)
          }),
          { numRuns: runs(40) }
        )
      )
    }))
})
