/**
 * The temporal U-Net's sequence ops against the CPU backend over random shapes (sizes that are not
 * multiples of any workgroup or tile): conv1d (kernels 1, 2, 3; with and without bias) and its
 * backward, group norm (groups holding fewer and more values than a workgroup's 64 invocations) and
 * its backward, max-pool by 2 on data with ties and upsample by 2, each with its backward; the temporal
 * residual block (output and parameter gradients), which also allocates nothing after its first step.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import type { Tensor, TensorBackend } from "../../src/domain/TensorBackend.ts"
import * as Parameters from "../../src/nn/Parameters.ts"
import { Tape } from "../../src/nn/Tape.ts"
import * as TemporalUnet from "../../src/nn/TemporalUnet.ts"
import { Gpu } from "../../src/services/Gpu.ts"
import { compare, describeGpu, gridData, input, runs } from "../fixtures/GpuTest.ts"
import { tolerances } from "../fixtures/Tolerance.ts"

const blockConfig: TemporalUnet.ResidualBlockConfig = { inputs: 5, outputs: 16, embedding: 7, kernel: 3, groups: 8, activation: "mish" }
const blockLayout = Parameters.layout(TemporalUnet.residualBlockSpecs("block", blockConfig))
const [blockBatch, blockLength] = [3, 12]

/** The block's output and d Σ(out ⊙ r) / d θ as a flat buffer. */
const blockStep = (X: TensorBackend, [params, x, temb, r]: ReadonlyArray<Tensor>): Array<Tensor> => {
  const tape = new Tape(X)
  const p = new Parameters.Bound(tape, blockLayout, params)
  const rows = TemporalUnet.sequenceOfRows(X, blockBatch, blockLength)
  const out = TemporalUnet.residualBlock(p, "block", blockConfig, tape.leaf(x), tape.leaf(temb), rows, blockLength)
  const grads = X.zeros(1, blockLayout.size)
  p.gradInto(tape.reduce("sum", "all", tape.mul(out, tape.leaf(r))), grads)
  return [out.value, grads]
}

const blockInputs = [
  input(1, 1, blockLayout.size),
  input(2, blockBatch * blockLength, blockConfig.inputs),
  input(3, blockBatch, blockConfig.embedding),
  input(4, blockBatch * blockLength, blockConfig.outputs)
]

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

  it.effect("the temporal residual block's output and parameter gradients match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() => compare(B, blockInputs, blockStep, tolerances.matmul, "residual block"))
    }))

  it.effect("repeated block steps inside scope allocate nothing after the first and leave no buffer live", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const inputs = blockInputs.map((i) => B.upload(i.data, i.shape.rows, i.shape.cols))
      const live: Array<number | undefined> = []
      const allocations: Array<number> = []
      for (let step = 0; step < 4; step++) {
        const grads = B.scope(() => blockStep(B, inputs)[1])
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
