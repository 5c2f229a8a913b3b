/**
 * The unary kernel (every UnaryOp forward and backward, affine, clamp, clampBackward) and the binary
 * kernel (every BinaryOp with all four broadcast shapes of either operand, forward and backward)
 * against the CPU backend, with the properties of BackendParity.ts (activations over [-8, 8]).
 */
import { Effect } from "effect"
import { Gpu } from "../../src/services/Gpu.ts"
import { affineClampMatch, binaryOpsMatch, unaryOpsMatch } from "../fixtures/BackendParity.ts"
import { compare, describeGpu, runs } from "../fixtures/GpuTest.ts"
import { tolerances } from "../fixtures/Tolerance.ts"

describeGpu("unary", (it) => {
  it.effect("every unary op and its derivative match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() => unaryOpsMatch(B, runs(60), [-8, 8]))
    }))

  it.effect("affine, clamp and clampBackward match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() => affineClampMatch(B, runs(30)))
      // The clamp window includes its ends.
      yield* Effect.promise(() =>
        compare(B, [{ data: Float32Array.of(-1, -0.5, 0, 0.5, 1), shape: { rows: 1, cols: 5 } }, {
          data: Float32Array.of(1, 2, 3, 4, 5),
          shape: { rows: 1, cols: 5 }
        }], (X, [t, d]) => [X.clampBackward(t, -0.5, 0.5, d)], tolerances.elementwise, "clampBackward at the ends")
      )
    }))
})

describeGpu("binary", (it) => {
  it.effect("every binary op with broadcasting of either operand, and its backward, match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() => binaryOpsMatch(B, runs(80)))
    }))
})
