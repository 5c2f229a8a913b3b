/**
 * mseLoss (with and without row weights), expectileLoss and their backward passes against the CPU
 * backend: mean over rows of the sum over columns.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { Gpu } from "../../src/services/Gpu.ts"
import { compare, describeGpu, input, runs } from "../fixtures/GpuTest.ts"
import { tolerances } from "../fixtures/Tolerance.ts"

const dim = fc.integer({ min: 1, max: 150 })
const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 })

describeGpu("losses", (it) => {
  it.effect("mseLoss and mseLossBackward match the CPU, with and without weights", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, dim, seed, fc.boolean(), async (rows, cols, s, weighted) => {
            const inputs = [input(s, rows, cols), input(s + 1, rows, cols), input(s + 2, rows, 1, 0, 2), input(s + 3, 1, 1)]
            const label = `[${rows}, ${cols}] weighted ${weighted} seed ${s}`
            await compare(B, inputs, (X, [pred, target, w]) => [X.mseLoss(pred, target, weighted ? w : undefined)],
              tolerances.losses, `mseLoss ${label}`)
            await compare(B, inputs, (X, [pred, target, w, dLoss]) =>
              [X.mseLossBackward(pred, target, weighted ? w : undefined, dLoss)], tolerances.losses, `mseLossBackward ${label}`)
          }),
          { numRuns: runs(30) }
        )
      )
    }))

  it.effect("expectileLoss and expectileLossBackward match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, dim, seed, fc.double({ min: 0.01, max: 0.99, noNaN: true }), async (rows, cols, s, tau) => {
            const inputs = [input(s, rows, cols, -2, 2), input(s + 3, 1, 1)]
            const label = `[${rows}, ${cols}] τ ${tau} seed ${s}`
            await compare(B, inputs, (X, [u]) => [X.expectileLoss(u, tau)], tolerances.losses, `expectileLoss ${label}`)
            await compare(B, inputs, (X, [u, dLoss]) => [X.expectileLossBackward(u, tau, dLoss)], tolerances.losses,
              `expectileLossBackward ${label}`)
          }),
          { numRuns: runs(30) }
        )
      )
    }))
})
