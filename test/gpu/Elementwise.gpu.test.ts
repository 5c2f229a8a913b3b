/**
 * The unary kernel (every UnaryOp forward and backward, affine, clamp, clampBackward) and the binary
 * kernel (every BinaryOp with all four broadcast shapes of either operand, forward and backward)
 * against the CPU backend.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { BinaryOps, UnaryOps } from "../../src/domain/Ops.ts"
import type { BinaryOp, Shape, UnaryOp } from "../../src/domain/Ops.ts"
import { Gpu } from "../../src/services/Gpu.ts"
import { compare, describeGpu, gridData, randomData, runs } from "../fixtures/GpuTest.ts"
import { type Tolerance, tolerances } from "../fixtures/Tolerance.ts"

const dim = fc.integer({ min: 1, max: 150 })
const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 })

/** Inputs inside each op's domain, with the ranges where f32 and f64 agree to the tolerance. */
const inputFor = (op: UnaryOp, s: number, n: number): Float32Array => {
  switch (op) {
    case "log":
    case "sqrt":
      return randomData(s, n, 0.01, 10)
    case "exp":
      return randomData(s, n, -10, 10)
    case "finiteOrZero": {
      const x = randomData(s, n, -5, 5)
      const specials = [Number.NaN, Infinity, -Infinity, 0]
      for (let i = 0; i < n; i += 3) x[i] = specials[(i / 3) % specials.length]
      return x
    }
    default:
      return randomData(s, n, -8, 8)
  }
}

const toleranceFor = (op: UnaryOp): Tolerance =>
  op === "identity" || op === "relu" || op === "square" || op === "abs" || op === "finiteOrZero"
    ? tolerances.elementwise
    : tolerances.transcendental

/** A broadcast operand shape for an output of shape [rows, cols]: full, row, column or scalar. */
const operandShape = (rows: number, cols: number, kind: number): Shape =>
  [{ rows, cols }, { rows: 1, cols }, { rows, cols: 1 }, { rows: 1, cols: 1 }][kind]

describeGpu("unary", (it) => {
  it.effect("every unary op and its derivative match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.constantFrom(...UnaryOps), dim, dim, seed, async (op, rows, cols, s) => {
            const x = { data: inputFor(op, s, rows * cols), shape: { rows, cols } }
            const dy = { data: randomData(s + 1, rows * cols), shape: { rows, cols } }
            const label = `${op} [${rows}, ${cols}] seed ${s}`
            await compare(B, [x], (X, [t]) => [X.unary(op, t)], toleranceFor(op), label)
            await compare(B, [x, dy], (X, [t, d]) => [X.unaryBackward(op, t, d)], toleranceFor(op), `${label} backward`)
          }),
          { numRuns: runs(60) }
        )
      )
    }))

  it.effect("affine, clamp and clampBackward match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const scalar = fc.double({ min: -4, max: 4, noNaN: true })
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, dim, seed, scalar, scalar, async (rows, cols, s, p, q) => {
            const [lo, hi] = p <= q ? [p, q] : [q, p]
            const x = { data: gridData(s, rows * cols), shape: { rows, cols } }
            const dy = { data: randomData(s + 1, rows * cols), shape: { rows, cols } }
            const label = `[${rows}, ${cols}] seed ${s} (${p}, ${q})`
            await compare(B, [x], (X, [t]) => [X.affine(t, p, q)], tolerances.elementwise, `affine ${label}`)
            await compare(B, [x], (X, [t]) => [X.clamp(t, lo, hi)], tolerances.elementwise, `clamp ${label}`)
            await compare(B, [x, dy], (X, [t, d]) => [X.clampBackward(t, lo, hi, d)], tolerances.elementwise, `clampBackward ${label}`)
          }),
          { numRuns: runs(30) }
        )
      )
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
      const kind = fc.integer({ min: 0, max: 3 })
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...BinaryOps),
            dim,
            dim,
            kind,
            kind,
            seed,
            async (op: BinaryOp, rows, cols, ka, kb, s) => {
              const aShape = operandShape(rows, cols, ka)
              const bShape = operandShape(rows, cols, kb)
              const out = { rows: Math.max(aShape.rows, bShape.rows), cols: Math.max(aShape.cols, bShape.cols) }
              const a = { data: gridData(s, aShape.rows * aShape.cols), shape: aShape }
              const bData = op === "div"
                ? gridData(s + 1, bShape.rows * bShape.cols).map((v) => (v >= 0 ? v + 0.5 : v - 0.5))
                : gridData(s + 1, bShape.rows * bShape.cols)
              const b = { data: bData, shape: bShape }
              const dy = { data: randomData(s + 2, out.rows * out.cols), shape: out }
              const label = `${op} [${aShape.rows}, ${aShape.cols}] ∘ [${bShape.rows}, ${bShape.cols}] seed ${s}`
              await compare(B, [a, b], (X, [x, y]) => [X.binary(op, x, y)], tolerances.elementwise, label)
              await compare(B, [a, b, dy], (X, [x, y, d]) => {
                const { da, db } = X.binaryBackward(op, x, y, d)
                return [da, db]
              }, tolerances.elementwise, `${label} backward`)
            }
          ),
          { numRuns: runs(80) }
        )
      )
    }))
})
