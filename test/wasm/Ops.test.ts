/**
 * Every op of the WASM backend other than matmul against the CPU reference over random shapes:
 * unary ops and their derivatives (the activations are SIMD kernels with their own exp), affine,
 * clamp, binary ops with every broadcast of either operand, reductions, data movement, layer
 * norm, losses, random draws and dropout (bit-identical streams), AdamW and EMA. The unary, affine/clamp and
 * binary properties are the GPU suite's too (test/fixtures/BackendParity.ts).
 */
import { describe, it } from "@effect/vitest"
import fc from "fast-check"
import type { BinaryOp } from "../../src/domain/Ops.ts"
import type { RngKey } from "../../src/domain/Rng.ts"
import type { Tensor, TensorBackend } from "../../src/domain/TensorBackend.ts"
import { adamwHyperparameters, affineClampMatch, binaryOpsMatch, operandShape, unaryOpsMatch } from "../fixtures/BackendParity.ts"
import { assertClose, assertIdentical, tolerances } from "../fixtures/Tolerance.ts"
import { compare, cpu, input, randomData, runs, wasm as B } from "./Parity.ts"

const dim = fc.integer({ min: 1, max: 150 })
const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 })

const indices = (s: number, n: number, limit: number): Float32Array =>
  randomData(s, n, 0, limit).map((v) => Math.min(limit - 1, Math.floor(v)))

describe("wasm elementwise", () => {
  // The activations are SIMD kernels with their own exp: over [-30, 30] to reach their saturated tails.
  it("every unary op and its derivative match the CPU", () => unaryOpsMatch(B, runs(120), [-30, 30]))

  it("affine, clamp and clampBackward match the CPU", () => affineClampMatch(B, runs(30)))

  it("every binary op with broadcasting of either operand, and its backward, match the CPU", () => binaryOpsMatch(B, runs(80)))
})

describe("wasm reductions and data movement", () => {
  it("sum and mean over rows, cols and all match the CPU", async () => {
    const shapes = fc.oneof(
      fc.tuple(dim, dim),
      fc.tuple(fc.integer({ min: 1000, max: 3000 }), fc.integer({ min: 1, max: 8 })),
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1000, max: 5000 }))
    )
    await fc.assert(
      fc.asyncProperty(shapes, fc.constantFrom("sum" as const, "mean" as const), seed, async ([rows, cols], op, s) => {
        for (const axis of ["rows", "cols", "all"] as const) {
          await compare(B, [input(s, rows, cols)], (X, [x]) => [X.reduce(op, axis, x)], tolerances.reductions,
            `${op} over ${axis} of [${rows}, ${cols}] seed ${s}`)
        }
      }),
      { numRuns: runs(25) }
    )
  })

  it("same-shape add, sub and mul (the SIMD path) are bit-identical to the CPU's f64 result rounded to f32", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("add", "sub", "mul") as fc.Arbitrary<BinaryOp>, dim, dim, seed, async (op, rows, cols, s) => {
        // Magnitudes spread over 2⁻²⁰…2²⁰, so that sums round and cancel.
        const spread = (k: number) => randomData(k, rows * cols).map((v, i) => v * 2 ** (((i * 7919 + k) % 41) - 20))
        const [a, b] = [spread(s), spread(s + 1)]
        const run = (X: TensorBackend) => X.binary(op, X.upload(a, rows, cols), X.upload(b, rows, cols))
        assertIdentical(await B.read(run(B)), await cpu.read(run(cpu)), `${op} [${rows}, ${cols}] seed ${s}`)
      }),
      { numRuns: runs(40) }
    )
  })

  it("affine, column sums and means and scatter-adds of rows (the f64 SIMD kernels) are bit-identical to the CPU", async () => {
    await fc.assert(
      fc.asyncProperty(dim, dim, seed, fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), async (rows, cols, s, p, q) => {
        const x = randomData(s, rows * cols).map((v, i) => v * 2 ** ((i % 29) - 14))
        const label = `[${rows}, ${cols}] seed ${s}`
        for (const [name, run] of [
          ["affine", (X: TensorBackend) => X.affine(X.upload(x, rows, cols), p, q)],
          ["sum over rows", (X: TensorBackend) => X.reduce("sum", "rows", X.upload(x, rows, cols))],
          ["mean over rows", (X: TensorBackend) => X.reduce("mean", "rows", X.upload(x, rows, cols))],
          // rows scattered onto ⌈rows/3⌉ targets, several onto each
          ["scatterAddRows", (X: TensorBackend) => {
            const targets = Math.ceil(rows / 3)
            const index = Float32Array.from({ length: rows }, (_, i) => (i * 7 + s) % targets)
            return X.scatterAddRows(X.upload(x, rows, cols), X.upload(index, rows, 1), targets)
          }]
        ] as const) {
          assertIdentical(await B.read(run(B)), await cpu.read(run(cpu)), `${name} ${label}`)
        }
      }),
      { numRuns: runs(40) }
    )
  })

  it("broadcastTo, concatCols, sliceCols, padCols, gatherRows and scatterAddRows match the CPU", async () => {
    await fc.assert(
      fc.asyncProperty(dim, dim, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 5 }), seed, async (rows, cols, kind, parts, s) => {
        const from = operandShape(rows, cols, kind)
        const label = `[${rows}, ${cols}] seed ${s}`
        await compare(B, [input(s, from.rows, from.cols)], (X, [x]) => [X.broadcastTo(x, rows, cols)],
          tolerances.elementwise, `broadcastTo [${from.rows}, ${from.cols}] → ${label}`)
        const widths = Array.from({ length: parts }, (_, i) => 1 + ((s >>> i) % 7))
        await compare(B, widths.map((w, i) => input(s + i, rows, w)), (X, xs) => [X.concatCols(xs)], tolerances.elementwise,
          `concatCols ${widths} ${label}`)
        const start = s % cols
        const width = 1 + ((s >>> 3) % (cols - start))
        await compare(B, [input(s, rows, cols)], (X, [x]) => [X.sliceCols(x, start, width), X.padCols(x, start, cols + start + 3)],
          tolerances.elementwise, `sliceCols/padCols at ${start} width ${width} ${label}`)
        const picks = { data: indices(s + 1, 2 * rows, rows), shape: { rows: 2 * rows, cols: 1 } }
        await compare(B, [input(s, rows, cols), picks], (X, [x, idx]) => [X.gatherRows(x, idx)], tolerances.elementwise,
          `gatherRows ${label}`)
        await compare(B, [input(s, 2 * rows, cols), picks], (X, [dy, idx]) => [X.scatterAddRows(dy, idx, rows)], tolerances.reductions,
          `scatterAddRows (repeated indices) ${label}`)
      }),
      { numRuns: runs(30) }
    )
  })
})

describe("wasm layer norm and losses", () => {
  it("layerNorm forward and backward match the CPU, with and without γ, β and affine gradients", async () => {
    await fc.assert(
      fc.asyncProperty(dim, dim, seed, fc.boolean(), fc.boolean(), fc.boolean(), async (rows, cols, s, withGamma, withBeta, affine) => {
        const inputs = [input(s, rows, cols, -3, 5), input(s + 1, 1, cols, 0.5, 1.5), input(s + 2, 1, cols), input(s + 3, rows, cols)]
        const label = `[${rows}, ${cols}] γ ${withGamma} β ${withBeta} affine ${affine} seed ${s}`
        await compare(B, inputs, (X, [x, gamma, beta, dy]) => {
          const g = withGamma ? gamma : undefined
          const f = X.layerNorm(x, g, withBeta ? beta : undefined, 1e-5)
          const r = X.layerNormBackward(dy, x, g, f.mean, f.rstd, affine)
          return [f.out, f.mean, f.rstd, r.dx, ...(r.dgamma && r.dbeta ? [r.dgamma, r.dbeta] : [])]
        }, tolerances.layernorm, `layerNorm ${label}`)
      }),
      { numRuns: runs(30) }
    )
  })

  it("the layer-norm SIMD kernels (widths a multiple of 4, f64 arithmetic) agree with the reference to f32 rounding, with and without γ, β", async () => {
    for (const cols of [4, 8, 12, 64, 256]) {
      for (const [withGamma, withBeta] of [[true, true], [false, false], [true, false], [false, true]] as const) {
        const rows = 9
        const inputs = [input(cols, rows, cols, -3, 5), input(cols + 1, 1, cols, 0.5, 1.5), input(cols + 2, 1, cols), input(cols + 3, rows, cols)]
        await compare(B, inputs, (X, [x, gamma, beta, dy]) => {
          const g = withGamma ? gamma : undefined
          const f = X.layerNorm(x, g, withBeta ? beta : undefined, 1e-5)
          const r = X.layerNormBackward(dy, x, g, f.mean, f.rstd, true)
          return [f.out, f.mean, f.rstd, r.dx, r.dgamma!, r.dbeta!]
        }, { atol: 1e-6, rtol: 1e-6 }, `layerNorm [${rows}, ${cols}] γ ${withGamma} β ${withBeta}`)
      }
    }
  })

  it("mse (weighted or not) and expectile losses and their backward passes match the CPU", async () => {
    await fc.assert(
      fc.asyncProperty(dim, dim, seed, fc.boolean(), fc.double({ min: 0.01, max: 0.99, noNaN: true }), async (rows, cols, s, weighted, tau) => {
        const inputs = [input(s, rows, cols), input(s + 1, rows, cols), input(s + 2, rows, 1, 0, 2), input(s + 3, 1, 1)]
        const label = `[${rows}, ${cols}] weighted ${weighted} τ ${tau} seed ${s}`
        await compare(B, inputs, (X, [pred, target, w, dLoss]) => [
          X.mseLoss(pred, target, weighted ? w : undefined),
          X.mseLossBackward(pred, target, weighted ? w : undefined, dLoss),
          X.expectileLoss(pred, tau),
          X.expectileLossBackward(pred, tau, dLoss)
        ], tolerances.losses, label)
      }),
      { numRuns: runs(30) }
    )
  })
})

const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 })
const key: fc.Arbitrary<RngKey> = fc.record({ seed: u32, stream: u32, offset: u32 })

describe("wasm randomness", () => {
  it("uniform, randint and normal are bit-identical to the CPU streams; dropout keeps the same elements", async () => {
    await fc.assert(
      fc.asyncProperty(dim, dim, key, fc.integer({ min: 1, max: 2 ** 24 }), fc.double({ min: 0, max: 0.99, noNaN: true }), async (rows, cols, k, n, p) => {
        const label = `[${rows}, ${cols}] key ${JSON.stringify(k)}`
        const x = randomData(k.seed, rows * cols, 0.5, 1.5)
        const draws: ReadonlyArray<readonly [string, (X: TensorBackend) => Tensor]> = [
          ["uniform", (X) => X.uniform(rows, cols, k)],
          ["randint", (X) => X.randint(rows, cols, k, n)],
          ["normal", (X) => X.normal(rows, cols, k)],
          ["dropout", (X) => X.dropout(X.upload(x, rows, cols), p, k)]
        ]
        for (const [name, draw] of draws) {
          const got = draw(B)
          assertIdentical(await B.read(got), await cpu.read(draw(cpu)), `${name} ${label}`)
          B.dispose(got)
        }
      }),
      { numRuns: runs(30) }
    )
  })
})

describe("wasm optimisation", () => {
  it("adamw and ema update their buffers like the CPU", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5000 }), seed, adamwHyperparameters, fc.double({ min: 0, max: 1, noNaN: true }), async (n, s, hp, rate) => {
        const buffers = [randomData(s, n), randomData(s + 1, n), randomData(s + 2, n, -0.1, 0.1), randomData(s + 3, n, 0, 0.01), randomData(s + 4, n)]
        const run = (X: TensorBackend) => {
          const [param, grad, m, v, target] = buffers.map((d) => X.upload(d, 1, n))
          X.adamw(param, grad, m, v, hp)
          X.ema(target, param, rate)
          return [param, m, v, target]
        }
        const got = run(B)
        const want = run(cpu)
        for (let i = 0; i < got.length; i++) {
          assertClose(await B.read(got[i]), await cpu.read(want[i]), tolerances.optimizer, `adamw/ema n ${n} ${JSON.stringify(hp)} buffer ${i}`)
          B.dispose(got[i])
        }
      }),
      { numRuns: runs(30) }
    )
  })

  it("dropout again with the same key (the backward pass, from the stored mask), after other keys and past the mask store's size, equals the CPU", async () => {
    const [rows, cols, p] = [7, 13, 0.3]
    const keyAt = (i: number): RngKey => ({ seed: 5, stream: 6, offset: i })
    const check = async (x: Float32Array, k: RngKey, r: number, c: number, label: string) => {
      const run = (X: TensorBackend) => X.dropout(X.upload(x, r, c), p, k)
      const got = run(B)
      assertIdentical(await B.read(got), await cpu.read(run(cpu)), label)
      B.dispose(got)
    }
    // Forward then backward of one site (a stored mask), then a third call (recomputed).
    for (const [i, label] of [[0, "forward"], [1, "backward"], [2, "third call"]] as const) {
      await check(randomData(i, rows * cols, 0.5, 1.5), keyAt(0), rows, cols, `${label}, key 0`)
    }
    // The same key at another size, and 40 sites forward before their backward passes (the
    // oldest masks dropped from the store and recomputed).
    await check(randomData(3, 2 * rows * cols, 0.5, 1.5), keyAt(0), 2 * rows, cols, "another size")
    for (const pass of ["forward", "backward"]) {
      for (let i = 1; i <= 40; i++) await check(randomData(100 + i, rows * cols, 0.5, 1.5), keyAt(i), rows, cols, `${pass}, key ${i}`)
    }
  })
})
