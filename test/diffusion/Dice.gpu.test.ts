/**
 * Diffusion-DICE's device compositions on the GPU against the CPU reference: the batch maximum of the IGL loss
 * (pairwise maxima over a [1, N] view, N not a power of two), the stabilised IGL loss and its gradient, and the
 * continuous VP-SDE scales α(t), σ(t). They add no kernel; this checks the compositions (views, broadcasts).
 */
import { Effect } from "effect"
import fc from "fast-check"
import * as DiceBehaviour from "../../src/diffusion/DiceBehaviour.ts"
import * as DiceGuidance from "../../src/diffusion/DiceGuidance.ts"
import * as NoiseSchedule from "../../src/domain/NoiseSchedule.ts"
import { Tape } from "../../src/nn/Tape.ts"
import { Gpu } from "../../src/services/Gpu.ts"
import { compare, describeGpu, input, runs } from "../fixtures/GpuTest.ts"
import { tolerances } from "../fixtures/Tolerance.ts"

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 })

describeGpu("Diffusion-DICE compositions", (it) => {
  it.effect("columnMax, the IGL loss and its gradient, and α(t), σ(t) match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 700 }), seed, async (rows, s) => {
            const label = `rows ${rows} seed ${s}`
            const inputs = [input(s, rows, 1, -5, 5), input(s + 1, rows, 1, 0.01, 10), input(s + 2, rows, 1, 1e-3, 1)]
            await compare(B, inputs, (X, [g]) => [DiceGuidance.columnMax(X, g)], tolerances.losses, `columnMax ${label}`)
            await compare(B, inputs, (X, [g, w]) => {
              const tape = new Tape(X)
              const leaf = tape.leaf(g)
              const loss = DiceGuidance.iglLoss(tape, leaf, w)
              return [loss.value, tape.grad(loss, [leaf])[0]]
            }, tolerances.losses, `iglLoss ${label}`)
            await compare(B, inputs, (X, [, , t]) => {
              const { alpha, sigma } = DiceBehaviour.scalesAt(X, NoiseSchedule.vpContinuous(), t)
              return [alpha, sigma]
            }, tolerances.losses, `scalesAt ${label}`)
          }),
          { numRuns: runs(20) }
        )
      )
    }))
})
