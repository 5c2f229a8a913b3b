/**
 * The temporal U-Net's sequence ops on the WASM backend against the CPU reference over random shapes:
 * conv1d (unfold, then the SIMD matmul) and its backward, group norm, max-pool by 2 on data with
 * ties, upsample by 2, each with its backward; the temporal residual block; and the shape errors. The properties and
 * the block are the GPU suite's too (test/fixtures/BackendParity.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { conv1dMatches, groupNormMatches, poolingMatches, residualBlockInputs, residualBlockStep } from "../fixtures/BackendParity.ts"
import { tolerances } from "../fixtures/Tolerance.ts"
import { compare, runs, wasm as B } from "./Parity.ts"

describe("wasm sequence ops", () => {
  it("conv1d and its backward (dx, dw, db) match the CPU", () => conv1dMatches(B, runs(60)))

  it("groupNorm and its backward match the CPU", () => groupNormMatches(B, runs(60)))

  it("maxPool2 (with ties), upsample2 and their backward match the CPU", () => poolingMatches(B, runs(60)))

  it("the temporal residual block's output and parameter gradients match the CPU", () =>
    compare(B, residualBlockInputs, residualBlockStep, tolerances.matmul, "residual block"))

  it("shape errors name the op and what is wrong", () => {
    const x = B.zeros(6, 4)
    assert.throws(() => B.conv1d(x, B.zeros(9, 2), undefined, 4), /conv1d: 6 rows are not whole sequences of length 4/)
    assert.throws(() => B.conv1d(x, B.zeros(10, 2), undefined, 3), /conv1d: weight \[10, 2\] is not \[kernel·4, cout\]/)
    assert.throws(() => B.conv1d(x, B.zeros(8, 2), B.zeros(1, 3), 3), /conv1d: bias must be \[1, 2\]/)
    assert.throws(() => B.groupNorm(x, undefined, undefined, 3, 3, 1e-5), /groupNorm: 3 groups do not divide 4 channels/)
    assert.throws(() => B.maxPool2(x, 3), /maxPool2: length 3 is odd/)
    assert.throws(() => B.upsample2Backward(B.zeros(3, 2)), /upsample2Backward: dy \[3, 2\] has an odd number of rows/)
  })
})
