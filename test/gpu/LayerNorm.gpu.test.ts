/**
 * layerNorm and layerNormBackward (with and without γ/β, with and without the affine gradients)
 * against the CPU backend.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { Gpu } from "../../src/services/Gpu.ts"
import { compare, describeGpu, input, runs } from "../fixtures/GpuTest.ts"
import { tolerances } from "../fixtures/Tolerance.ts"

const dim = fc.integer({ min: 1, max: 150 })
const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 })

describeGpu("layerNorm", (it) => {
  it.effect("forward (out, mean, rstd) matches the CPU, with and without γ and β", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, dim, seed, fc.boolean(), fc.boolean(), async (rows, cols, s, withGamma, withBeta) => {
            const inputs = [input(s, rows, cols, -3, 5), input(s + 1, 1, cols, 0.5, 1.5), input(s + 2, 1, cols)]
            await compare(B, inputs, (X, [x, gamma, beta]) => {
              const r = X.layerNorm(x, withGamma ? gamma : undefined, withBeta ? beta : undefined, 1e-5)
              return [r.out, r.mean, r.rstd]
            }, tolerances.layernorm, `layerNorm [${rows}, ${cols}] γ ${withGamma} β ${withBeta} seed ${s}`)
          }),
          { numRuns: runs(30) }
        )
      )
    }))

  it.effect("backward (dx, and dγ, dβ when affine) matches the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, dim, seed, fc.boolean(), fc.boolean(), async (rows, cols, s, withGamma, affine) => {
            const inputs = [input(s, rows, cols, -3, 5), input(s + 1, 1, cols, 0.5, 1.5), input(s + 2, rows, cols)]
            await compare(B, inputs, (X, [x, gamma, dy]) => {
              const g = withGamma ? gamma : undefined
              const f = X.layerNorm(x, g, undefined, 1e-5)
              const r = X.layerNormBackward(dy, x, g, f.mean, f.rstd, affine)
              return r.dgamma && r.dbeta ? [r.dx, r.dgamma, r.dbeta] : [r.dx]
            }, tolerances.layernorm, `layerNormBackward [${rows}, ${cols}] γ ${withGamma} affine ${affine} seed ${s}`)
          }),
          { numRuns: runs(30) }
        )
      )
    }))
})
