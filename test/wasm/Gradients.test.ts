/**
 * Gradients through the tape on the WASM backend (f32 SIMD forward and backward kernels) against
 * central finite differences of the same function on the f64 CPU backend, an independent
 * reference: loss = Σ(f(inputs) ⊙ R) for a fixed random R, d loss / d input for every input.
 * Shapes go past the 6×8 register tile and the 4-lane vectors so every edge path is used.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import { Activations } from "../../src/domain/Ops.ts"
import type { Tensor, TensorBackend } from "../../src/domain/TensorBackend.ts"
import { Tape, type Var } from "../../src/nn/Tape.ts"
import { closeness, numericGradient, valuesOf } from "../fixtures/FiniteDifference.ts"
import { randomData, runs, wasm } from "./Parity.ts"

const f64 = CpuBackend.make({ precision: "f64" })

/** |tape − numeric| ≤ atol + rtol·|numeric|: f32 products of ≤ 13 terms of size ~1. */
const tolerance = { atol: 2e-5, rtol: 2e-4 }

interface Leaf {
  readonly data: Float32Array
  readonly rows: number
  readonly cols: number
}

const leaf = (seed: number, rows: number, cols: number, lo = -1.5, hi = 1.5): Leaf => ({ data: randomData(seed, rows * cols, lo, hi), rows, cols })

/** Σ(f(leaves) ⊙ R) on backend X, with its tape and leaves. */
const evaluate = (X: TensorBackend, inputs: ReadonlyArray<Tensor>, f: (t: Tape, xs: ReadonlyArray<Var>) => Var) => {
  const tape = new Tape(X)
  const leaves = inputs.map((x) => tape.leaf(x))
  const out = f(tape, leaves)
  const r = tape.leaf(X.upload(randomData(99, out.rows * out.cols), out.rows, out.cols))
  return { tape, leaves, loss: tape.reduce("sum", "all", tape.mul(out, r)) }
}

const checkGradients = async (label: string, inputs: ReadonlyArray<Leaf>, f: (t: Tape, xs: ReadonlyArray<Var>) => Var): Promise<void> => {
  const { tape, leaves, loss } = evaluate(wasm, inputs.map((l) => wasm.upload(l.data, l.rows, l.cols)), f)
  const grads = tape.grad(loss, leaves)
  const reference = inputs.map((l) => f64.upload(l.data, l.rows, l.cols))
  for (let i = 0; i < inputs.length; i++) {
    const numeric = numericGradient(() => valuesOf(evaluate(f64, reference, f).loss.value)[0], reference[i])
    const c = closeness(await wasm.read(grads[i]), numeric, tolerance.atol, tolerance.rtol)
    expect(c.worst, `${label}: input ${i} worst at ${c.at}: tape ${c.actual} vs numeric ${c.expected}`).toBeLessThanOrEqual(1)
  }
}

const dims = fc.record({
  m: fc.integer({ min: 1, max: 13 }),
  k: fc.integer({ min: 1, max: 13 }),
  n: fc.integer({ min: 1, max: 13 }),
  seed: fc.nat()
})

describe("wasm gradients vs f64 finite differences", () => {
  it("matmul with every transpose combination", async () => {
    await fc.assert(fc.asyncProperty(dims, fc.boolean(), fc.boolean(), async ({ m, k, n, seed }, ta, tb) => {
      const a = ta ? leaf(seed, k, m) : leaf(seed, m, k)
      const b = tb ? leaf(seed + 1, n, k) : leaf(seed + 1, k, n)
      await checkGradients(`matmul [${m}, ${k}, ${n}] ta=${ta} tb=${tb}`, [a, b], (t, [x, y]) => t.matmul(x, y, ta, tb))
    }), { numRuns: runs(40) })
  })

  it("the fused linear layer (bias + activation epilogue) for every smooth activation", async () => {
    for (const act of Activations.filter((a) => a !== "relu")) {
      await fc.assert(fc.asyncProperty(dims, async ({ m, k, n, seed }) => {
        await checkGradients(`linear ${act} [${m}, ${k}, ${n}]`, [leaf(seed, m, k), leaf(seed + 1, k, n), leaf(seed + 2, 1, n)],
          (t, [x, w, b]) => t.linear(x, w, b, act))
      }), { numRuns: runs(8) })
    }
  })

  it("standalone activations (the SIMD forward and derivative kernels) away from relu's kink", async () => {
    for (const act of Activations) {
      await fc.assert(fc.asyncProperty(dims, async ({ m, n, seed }) => {
        const x = leaf(seed, m, n, -4, 4)
        for (let i = 0; i < x.data.length; i++) if (Math.abs(x.data[i]) < 0.05) x.data[i] = 0.5
        await checkGradients(`${act} [${m}, ${n}]`, [x], (t, [v]) => t.unary(act, v))
      }), { numRuns: runs(8) })
    }
  })

  it("sin and cos (the f64 SIMD kernels) over several periods", async () => {
    for (const op of ["sin", "cos"] as const) {
      await fc.assert(fc.asyncProperty(dims, async ({ m, n, seed }) => {
        await checkGradients(`${op} [${m}, ${n}]`, [leaf(seed, m, n, -12, 12)], (t, [v]) => t.unary(op, v))
      }), { numRuns: runs(8) })
    }
  })

  it("layer norm with γ and β (rows of ≥ 5 columns: on 2 columns x̂ = ±1 and dx is all cancellation)", async () => {
    await fc.assert(fc.asyncProperty(dims, async ({ m, n, seed }) => {
      const cols = n + 4
      await checkGradients(`layerNorm [${m}, ${cols}]`, [leaf(seed, m, cols), leaf(seed + 1, 1, cols, 0.5, 1.5), leaf(seed + 2, 1, cols)],
        (t, [x, g, b]) => t.layerNorm(x, g, b, 1e-5))
    }), { numRuns: runs(20) })
  })
})
