/**
 * QGPO's group reductions and contrastive energy prediction loss composed from engine ops (views, pairwise max,
 * indicator products) on the GPU against the CPU reference: group maxima, group softmaxes, the loss and its
 * gradient w.r.t. f, over group counts and sizes that are not multiples of any tile (odd sizes, sizes > 64).
 */
import { Effect } from "effect"
import fc from "fast-check"
import type { Tensor, TensorBackend } from "../../src/domain/TensorBackend.ts"
import * as Qgpo from "../../src/diffusion/Qgpo.ts"
import { Tape } from "../../src/nn/Tape.ts"
import { Gpu } from "../../src/services/Gpu.ts"
import { compare, describeGpu, input, runs } from "../fixtures/GpuTest.ts"
import { tolerances } from "../fixtures/Tolerance.ts"

describeGpu("QGPO's contrastive energy prediction", (it) => {
  it.effect("group max, group softmax, the CEP loss and its gradient match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 70 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (groups, size, s) => {
            const n = groups * size
            const inputs = [input(s, n, 1, -8, 8), input(s + 1, n, 1, -8, 8)]
            const label = `${groups} groups of ${size}, seed ${s}`
            const loss = (X: TensorBackend, f: Tensor, labels: Tensor) => {
              const g = Qgpo.grouping(groups, size)
              const tape = new Tape(X)
              const leaf = tape.leaf(f)
              const l = Qgpo.cepLoss(tape, leaf, labels, g)
              const [grad] = tape.grad(l, [leaf])
              return [Qgpo.groupMax(X, f, g), Qgpo.groupSoftmax(X, f, g), l.value, grad]
            }
            await compare(B, inputs, (X, [f, labels]) => loss(X, f, labels), tolerances.losses, `CEP ${label}`)
          }),
          { numRuns: runs(25) }
        )
      )
    }))
})
