/**
 * The temporal U-Net's sequence ops against the CPU backend over random shapes (sizes that are not
 * multiples of any workgroup or tile): conv1d (kernels 1, 2, 3; with and without bias) and its
 * backward, group norm (groups holding fewer and more values than a workgroup's 64 invocations) and
 * its backward, max-pool by 2 on data with ties and upsample by 2, each with its backward; the temporal
 * residual block (output and parameter gradients), which also allocates nothing after its first step. The properties
 * and the block are the WASM suite's too (test/fixtures/BackendParity.ts), here with the dx-only conv1d backward.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { Gpu } from "../../src/services/Gpu.ts"
import { conv1dMatches, groupNormMatches, poolingMatches, residualBlockInputs, residualBlockStep } from "../fixtures/BackendParity.ts"
import { compare, describeGpu, runs } from "../fixtures/GpuTest.ts"
import { tolerances } from "../fixtures/Tolerance.ts"

describeGpu("sequence ops", (it) => {
  it.effect("conv1d and its backward (dx, dw, db) match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() => conv1dMatches(B, runs(25), { dxOnly: true }))
    }))

  it.effect("groupNorm and its backward match the CPU, with and without γ, β and the affine gradients", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() => groupNormMatches(B, runs(30)))
    }))

  it.effect("maxPool2 (with ties), upsample2 and their backward match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() => poolingMatches(B, runs(30)))
    }))

  it.effect("the temporal residual block's output and parameter gradients match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() => compare(B, residualBlockInputs, residualBlockStep, tolerances.matmul, "residual block"))
    }))

  it.effect("repeated block steps inside scope allocate nothing after the first and leave no buffer live", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const inputs = residualBlockInputs.map((i) => B.upload(i.data, i.shape.rows, i.shape.cols))
      const live: Array<number | undefined> = []
      const allocations: Array<number> = []
      for (let step = 0; step < 4; step++) {
        const grads = B.scope(() => residualBlockStep(B, inputs)[1])
        yield* Effect.promise(() => B.read(grads))
        B.dispose(grads)
        live.push(B.stats().liveBuffers)
        allocations.push(B.stats().allocations)
      }
      assert.deepStrictEqual(live.slice(1), live.slice(1).map(() => live[0]), `live buffers per step: ${live}`)
      assert.deepStrictEqual(allocations.slice(1), allocations.slice(1).map(() => allocations[0]), `allocations per step: ${allocations}`)
      inputs.forEach((t) => B.dispose(t))
    }))
})
