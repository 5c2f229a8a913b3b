/**
 * The temporal U-Net's sequence ops against the CPU backend over random shapes (sizes that are not
 * multiples of any workgroup or tile): conv1d (kernels 1, 2, 3; with and without bias) and its
 * backward, group norm (groups holding fewer and more values than a workgroup's 64 invocations) and
 * its backward, max-pool by 2 on data with ties and upsample by 2, each with its backward.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { Gpu } from "../../src/services/Gpu.ts"
import { compare, describeGpu, gridData, input, runs } from "../fixtures/GpuTest.ts"
import { tolerances } from "../fixtures/Tolerance.ts"

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 })
const batch = fc.integer({ min: 1, max: 4 })
const length = fc.integer({ min: 1, max: 40 })
const channels = fc.integer({ min: 1, max: 40 })

describeGpu("sequence ops", (it) => {
  it.effect("conv1d and its backward (dx, dw, db) match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(batch, length, channels, channels, fc.constantFrom(1, 2, 3), fc.boolean(), seed, async (n, L, cin, cout, k, withBias, s) => {
            const inputs = [input(s, n * L, cin), input(s + 1, k * cin, cout), input(s + 2, 1, cout), input(s + 3, n * L, cout)]
            const label = `conv1d k=${k} [${n}·${L}, ${cin}] → ${cout} bias ${withBias} seed ${s}`
            await compare(B, inputs, (X, [x, w, b]) => [X.conv1d(x, w, withBias ? b : undefined, L)], tolerances.matmul, label)
            await compare(B, inputs, (X, [x, w, , dy]) => {
              const g = X.conv1dBackward(dy, x, w, L, { dx: true, dw: true, db: true })
              return [g.dx!, g.dw!, g.db!]
            }, tolerances.matmul, `${label} backward`)
            await compare(B, inputs, (X, [x, w, , dy]) => {
              const g = X.conv1dBackward(dy, x, w, L, { dx: true, dw: false, db: false })
              return [g.dx!]
            }, tolerances.matmul, `${label} backward dx only`)
          }),
          { numRuns: runs(25) }
        )
      )
    }))

  it.effect("groupNorm and its backward match the CPU, with and without γ, β and the affine gradients", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            batch, length, fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 20 }), fc.boolean(), fc.boolean(), seed,
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
              }, tolerances.layernorm, `${label} backward (affine gradients ${affineGrads})`)
            }
          ),
          { numRuns: runs(30) }
        )
      )
    }))

  it.effect("maxPool2 (with ties), upsample2 and their backward match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(batch, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 150 }), seed, async (n, half, C, s) => {
            const L = 2 * half
            const x = { data: gridData(s, n * L * C), shape: { rows: n * L, cols: C } }
            const dy = input(s + 1, n * half, C)
            const dUp = input(s + 2, n * L, C)
            const label = `[${n}·${L}, ${C}] seed ${s}`
            await compare(B, [x, dy, dUp], (X, [xt, d, du]) => [
              X.maxPool2(xt, L),
              X.maxPool2Backward(xt, d, L),
              X.upsample2(d),
              X.upsample2Backward(du)
            ], tolerances.elementwise, label)
          }),
          { numRuns: runs(30) }
        )
      )
    }))
})
