/**
 * The temporal U-Net's sequence ops on the WASM backend against the CPU reference over random shapes:
 * conv1d (unfold, then the SIMD matmul) and its backward, group norm, max-pool by 2 on data with
 * ties, upsample by 2, each with its backward; the temporal residual block; and the shape errors.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as Parameters from "../../src/nn/Parameters.ts"
import { Tape } from "../../src/nn/Tape.ts"
import * as TemporalUnet from "../../src/nn/TemporalUnet.ts"
import { tolerances } from "../fixtures/Tolerance.ts"
import { compare, gridData, input, runs, wasm as B } from "./Parity.ts"

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 })
const batch = fc.integer({ min: 1, max: 4 })
const length = fc.integer({ min: 1, max: 40 })
const channels = fc.integer({ min: 1, max: 40 })

describe("wasm sequence ops", () => {
  it("conv1d and its backward (dx, dw, db) match the CPU", async () => {
    await fc.assert(
      fc.asyncProperty(batch, length, channels, channels, fc.constantFrom(1, 2, 3), fc.boolean(), seed, async (n, L, cin, cout, k, withBias, s) => {
        const inputs = [input(s, n * L, cin), input(s + 1, k * cin, cout), input(s + 2, 1, cout), input(s + 3, n * L, cout)]
        const label = `conv1d k=${k} [${n}·${L}, ${cin}] → ${cout} bias ${withBias} seed ${s}`
        await compare(B, inputs, (X, [x, w, b]) => [X.conv1d(x, w, withBias ? b : undefined, L)], tolerances.matmul, label)
        await compare(B, inputs, (X, [x, w, , dy]) => {
          const g = X.conv1dBackward(dy, x, w, L, { dx: true, dw: true, db: true })
          return [g.dx!, g.dw!, g.db!]
        }, tolerances.matmul, `${label} backward`)
      }),
      { numRuns: runs(60) }
    )
  })

  it("groupNorm and its backward match the CPU", async () => {
    await fc.assert(
      fc.asyncProperty(batch, length, fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 20 }), fc.boolean(), fc.boolean(), seed,
        async (n, L, groups, cg, withAffine, affineGrads, s) => {
          const C = groups * cg
          const inputs = [input(s, n * L, C, -3, 5), input(s + 1, 1, C, 0.5, 1.5), input(s + 2, 1, C), input(s + 3, n * L, C)]
          const label = `groupNorm [${n}·${L}, ${C}] groups ${groups} affine ${withAffine} seed ${s}`
          await compare(B, inputs, (X, [x, g, b]) => {
            const r = X.groupNorm(x, withAffine ? g : undefined, withAffine ? b : undefined, L, groups, 1e-5)
            return [r.out, r.mean, r.rstd]
          }, tolerances.layernorm, label)
          await compare(B, inputs, (X, [x, g, , dy]) => {
            const gamma = withAffine ? g : undefined
            const f = X.groupNorm(x, gamma, undefined, L, groups, 1e-5)
            const r = X.groupNormBackward(dy, x, gamma, f.mean, f.rstd, L, groups, affineGrads)
            return r.dgamma && r.dbeta ? [r.dx, r.dgamma, r.dbeta] : [r.dx]
          }, tolerances.layernorm, `${label} backward`)
        }),
      { numRuns: runs(60) }
    )
  })

  it("maxPool2 (with ties), upsample2 and their backward match the CPU", async () => {
    await fc.assert(
      fc.asyncProperty(batch, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 150 }), seed, async (n, half, C, s) => {
        const L = 2 * half
        const x = { data: gridData(s, n * L * C), shape: { rows: n * L, cols: C } }
        await compare(B, [x, input(s + 1, n * half, C), input(s + 2, n * L, C)], (X, [xt, d, du]) => [
          X.maxPool2(xt, L),
          X.maxPool2Backward(xt, d, L),
          X.upsample2(d),
          X.upsample2Backward(du)
        ], tolerances.elementwise, `[${n}·${L}, ${C}] seed ${s}`)
      }),
      { numRuns: runs(60) }
    )
  })

  it("the temporal residual block's output and parameter gradients match the CPU", async () => {
    const config: TemporalUnet.ResidualBlockConfig = { inputs: 5, outputs: 16, embedding: 7, kernel: 3, groups: 8, activation: "mish" }
    const layout = Parameters.layout(TemporalUnet.residualBlockSpecs("block", config))
    const [n, L] = [3, 12]
    const inputs = [input(1, 1, layout.size), input(2, n * L, config.inputs), input(3, n, config.embedding), input(4, n * L, config.outputs)]
    await compare(B, inputs, (X, [params, x, temb, r]) => {
      const tape = new Tape(X)
      const p = new Parameters.Bound(tape, layout, params)
      const out = TemporalUnet.residualBlock(p, "block", config, tape.leaf(x), tape.leaf(temb), TemporalUnet.sequenceOfRows(X, n, L), L)
      const grads = X.zeros(1, layout.size)
      p.gradInto(tape.reduce("sum", "all", tape.mul(out, tape.leaf(r))), grads)
      return [out.value, grads]
    }, tolerances.matmul, "residual block")
  })

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
