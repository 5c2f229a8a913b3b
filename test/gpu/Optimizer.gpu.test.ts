/**
 * adamw and ema against the CPU backend, over whole flat buffers and while other ops read views of
 * the same buffer (how models keep their parameters).
 */
import { Effect } from "effect"
import fc from "fast-check"
import type { Tensor, TensorBackend } from "../../src/domain/TensorBackend.ts"
import { Gpu } from "../../src/services/Gpu.ts"
import { adamwHyperparameters } from "../fixtures/BackendParity.ts"
import { cpu, describeGpu, randomData, runs } from "../fixtures/GpuTest.ts"
import { assertClose, type Tolerance, tolerances } from "../fixtures/Tolerance.ts"

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 })

/**
 * Runs `f` on both backends with the same flat buffers and compares every buffer afterwards, with
 * `tolerance(i)` for buffer i (the optimizer's by default).
 */
const compareInPlace = async (
  B: TensorBackend,
  buffers: ReadonlyArray<Float32Array>,
  f: (X: TensorBackend, ts: ReadonlyArray<Tensor>) => ReadonlyArray<Tensor>,
  label: string,
  tolerance: (i: number) => Tolerance = () => tolerances.optimizer
): Promise<void> => {
  const run = (X: TensorBackend) => {
    const ts = buffers.map((d) => X.upload(d, 1, d.length))
    const extra = X.scope(() => f(X, ts))
    return [...ts, ...extra]
  }
  const got = run(B)
  const want = run(cpu)
  for (let i = 0; i < got.length; i++) {
    assertClose(await B.read(got[i]), await cpu.read(want[i]), tolerance(i), `${label} tensor ${i}`)
    B.dispose(got[i])
  }
}

describeGpu("optimisation", (it) => {
  it.effect("adamw updates param, m and v like the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 5000 }), seed, adamwHyperparameters, async (n, s, hp) => {
            const buffers = [randomData(s, n), randomData(s + 1, n), randomData(s + 2, n, -0.1, 0.1), randomData(s + 3, n, 0, 0.01)]
            await compareInPlace(B, buffers, (X, [param, grad, m, v]) => {
              X.adamw(param, grad, m, v, hp)
              return []
            }, `adamw n ${n} ${JSON.stringify(hp)}`)
          }),
          { numRuns: runs(30) }
        )
      )
    }))

  it.effect("ema moves the target towards the source like the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 5000 }), seed, fc.double({ min: 0, max: 1, noNaN: true }), async (n, s, rate) => {
            await compareInPlace(B, [randomData(s, n), randomData(s + 1, n)], (X, [target, source]) => {
              X.ema(target, source, rate)
              return []
            }, `ema n ${n} rate ${rate}`)
          }),
          { numRuns: runs(30) }
        )
      )
    }))

  it.effect("a linear layer kept as views of one flat buffer trains like the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 1, max: 40 }),
            fc.integer({ min: 1, max: 40 }),
            fc.integer({ min: 1, max: 70 }),
            seed,
            async (fanIn, fanOut, batch, s) => {
              // Parameters: W at 0, b at the next multiple of 64; grads and moments share the layout.
              // Everything is compared with the matmul tolerance: the gradients are products, and
              // Adam's normalisation turns their f32 noise near zero into steps of up to lr (kept small).
              const wSize = fanIn * fanOut
              const bOffset = Math.ceil(wSize / 64) * 64
              const total = bOffset + fanOut
              const hp = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4, step: 3 }
              const x = randomData(s + 1, batch * fanIn)
              const y = randomData(s + 2, batch * fanOut)
              await compareInPlace(B, [randomData(s, total), new Float32Array(total), new Float32Array(total), new Float32Array(total)],
                (X, [params, grads, m, v]) => {
                  for (let step = 0; step < 3; step++) {
                    const w = X.view(params, 0, fanIn, fanOut)
                    const b = X.view(params, bOffset, 1, fanOut)
                    const input = X.upload(x, batch, fanIn)
                    const z = X.matmul(input, w, { bias: b, activation: "tanh", keepPreActivation: true })
                    const dOut = X.mseLossBackward(z.out, X.upload(y, batch, fanOut), undefined, X.fill(1, 1, 1))
                    const dz = X.unaryBackward("tanh", z.pre!, dOut)
                    X.copyInto(X.view(grads, 0, fanIn, fanOut), X.matmul(input, dz, { transA: true }).out)
                    X.copyInto(X.view(grads, bOffset, 1, fanOut), X.reduce("sum", "rows", dz))
                    X.adamw(params, grads, m, v, { ...hp, step: step + 1 })
                  }
                  return []
                }, `views fanIn ${fanIn} fanOut ${fanOut} batch ${batch}`, () => tolerances.matmul)
            }
          ),
          { numRuns: runs(15) }
        )
      )
    }))
})
