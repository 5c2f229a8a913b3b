/**
 * Every op's backward against central finite differences, in f64 on the CPU backend, through
 * the tape: loss = Σ (op(inputs) ⊙ R) for a random projection R, d loss / d input compared.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import { Activations, BinaryOps, UnaryOps, type UnaryOp } from "../../src/domain/Ops.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type { Tensor } from "../../src/domain/TensorBackend.ts"
import { Tape, type Var } from "../../src/nn/Tape.ts"
import { closeness, numericGradient, valuesOf } from "../fixtures/FiniteDifference.ts"

const B = CpuBackend.make({ precision: "f64" })

/** Values in [lo, hi] kept at least `gap` away from the points in `avoid` (kinks, poles). */
const tensor = (seed: number, rows: number, cols: number, lo = -2, hi = 2, avoid: ReadonlyArray<number> = [], gap = 0.05): Tensor => {
  const u = new Float64Array(rows * cols)
  Rng.fillUniform(Rng.named(seed, `t${rows}x${cols}`), u)
  const data = new Float32Array(rows * cols)
  for (let i = 0; i < u.length; i++) {
    let v = lo + (hi - lo) * u[i]
    for (const a of avoid) if (Math.abs(v - a) < gap) v = a + (v >= a ? gap : -gap)
    data[i] = v
  }
  return B.upload(data, rows, cols)
}

/** Asserts the tape's gradients of Σ(f(leaves) ⊙ R) match finite differences for every input. */
const checkGradients = (label: string, inputs: ReadonlyArray<Tensor>, f: (t: Tape, xs: ReadonlyArray<Var>) => Var, tol = 1e-6) => {
  const evaluate = (): { tape: Tape; leaves: Array<Var>; loss: Var } => {
    const tape = new Tape(B, { training: true, rng: Rng.named(1, "dropout") })
    const leaves = inputs.map((x) => tape.leaf(x))
    const out = f(tape, leaves)
    const r = tape.leaf(tensor(99, out.rows, out.cols))
    const loss = tape.reduce("sum", "all", tape.mul(out, r))
    return { tape, leaves, loss }
  }
  const { tape, leaves, loss } = evaluate()
  const grads = tape.grad(loss, leaves)
  inputs.forEach((x, i) => {
    const numeric = numericGradient(() => valuesOf(evaluate().loss.value)[0], x)
    const c = closeness(valuesOf(grads[i]), numeric, tol, 1e-5)
    expect(c.worst, `${label}: input ${i} worst at ${c.at}: tape ${c.actual} vs numeric ${c.expected}`).toBeLessThanOrEqual(1)
  })
}

const dims = fc.record({ m: fc.integer({ min: 1, max: 6 }), k: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 1, max: 6 }), seed: fc.nat() })

describe("Tape gradients vs finite differences (f64 CPU)", () => {
  it("matmul with every transpose combination", () => {
    fc.assert(fc.property(dims, fc.boolean(), fc.boolean(), ({ m, k, n, seed }, ta, tb) => {
      const a = ta ? tensor(seed, k, m) : tensor(seed, m, k)
      const b = tb ? tensor(seed + 1, n, k) : tensor(seed + 1, k, n)
      checkGradients(`matmul ta=${ta} tb=${tb}`, [a, b], (t, [x, y]) => t.matmul(x, y, ta, tb))
    }), { numRuns: 40 })
  })

  it("linear with every activation epilogue", () => {
    for (const act of Activations) {
      fc.assert(fc.property(dims, ({ m, k, n, seed }) => {
        const x = tensor(seed, m, k)
        const w = tensor(seed + 1, k, n)
        const b = tensor(seed + 2, 1, n)
        // relu's kink at 0: keep pre-activations away from it by checking only smooth cases.
        checkGradients(`linear ${act}`, act === "relu" ? [w] : [x, w, b], (t, xs) =>
          act === "relu" ? t.linear(t.leaf(x), xs[0], undefined, "identity") : t.linear(xs[0], xs[1], xs[2], act))
      }), { numRuns: 10 })
    }
  })

  it("every unary op", () => {
    const domain: Record<UnaryOp, [number, number, Array<number>]> = {
      identity: [-2, 2, []], relu: [-2, 2, [0]], silu: [-3, 3, []], mish: [-3, 3, []], gelu: [-3, 3, []],
      tanh: [-2, 2, []], sigmoid: [-4, 4, []], softplus: [-4, 4, []], exp: [-2, 2, []], log: [0.2, 3, []],
      square: [-2, 2, []], sqrt: [0.2, 3, []], abs: [-2, 2, [0]], sin: [-3, 3, []], cos: [-3, 3, []],
      finiteOrZero: [-2, 2, []]
    }
    for (const op of UnaryOps) {
      const [lo, hi, avoid] = domain[op]
      fc.assert(fc.property(dims, ({ m, n, seed }) => {
        checkGradients(`unary ${op}`, [tensor(seed, m, n, lo, hi, avoid)], (t, [x]) => t.unary(op, x))
      }), { numRuns: 8 })
    }
  })

  it("affine and clamp", () => {
    fc.assert(fc.property(dims, fc.double({ min: -3, max: 3, noNaN: true }), ({ m, n, seed }, s) => {
      checkGradients("affine", [tensor(seed, m, n)], (t, [x]) => t.affine(x, s, 0.5))
      checkGradients("clamp", [tensor(seed, m, n, -2, 2, [-1, 1])], (t, [x]) => t.clamp(x, -1, 1))
    }), { numRuns: 20 })
  })

  it("every binary op under every broadcast pattern", () => {
    const shapes = (m: number, n: number): Array<[number, number]> => [[m, n], [1, n], [m, 1], [1, 1]]
    for (const op of BinaryOps) {
      fc.assert(fc.property(dims, fc.nat({ max: 3 }), fc.nat({ max: 3 }), ({ m, n, seed }, ia, ib) => {
        const [ar, ac] = shapes(m, n)[ia]
        const [br, bc] = shapes(m, n)[ib]
        // a in [−1, 1], |b| in [1.25, 4]: b stays away from 0 (div) and from a (max/min ties).
        const a = tensor(seed, ar, ac, -1, 1)
        const b = B.binary("mul", tensor(seed + 1, br, bc, 2.5, 4), tensor(seed + 2, br, bc, -1, 1, [0], 0.5))
        checkGradients(`${op} [${ar},${ac}] ∘ [${br},${bc}]`, [a, b], (t, [x, y]) => t.binary(op, x, y))
      }), { numRuns: 12 })
    }
  })

  it("reductions over rows, columns and all", () => {
    fc.assert(fc.property(dims, fc.constantFrom("sum" as const, "mean" as const), fc.constantFrom("rows" as const, "cols" as const, "all" as const), ({ m, n, seed }, op, axis) => {
      checkGradients(`${op} ${axis}`, [tensor(seed, m, n)], (t, [x]) => t.reduce(op, axis, x))
    }), { numRuns: 30 })
  })

  it("concat, slice and gather", () => {
    fc.assert(fc.property(dims, fc.nat(), ({ m, k, n, seed }, s) => {
      checkGradients("concatCols", [tensor(seed, m, k), tensor(seed + 1, m, n)], (t, xs) => t.concatCols(xs))
      const start = s % (k + n)
      const width = 1 + (s % (k + n - start))
      checkGradients("sliceCols", [tensor(seed, m, k + n)], (t, [x]) => t.sliceCols(x, start, width))
      const idx = B.upload(Float32Array.from({ length: n + 2 }, (_, j) => (j * 7 + s) % m), n + 2, 1)
      checkGradients("gatherRows", [tensor(seed, m, k)], (t, [x]) => t.gatherRows(x, idx))
    }), { numRuns: 30 })
  })

  it("layer norm with and without affine parameters", () => {
    fc.assert(fc.property(dims, ({ m, n, seed }) => {
      const cols = n + 1
      checkGradients("layerNorm affine", [tensor(seed, m, cols), tensor(seed + 1, 1, cols), tensor(seed + 2, 1, cols)], (t, [x, g, b]) => t.layerNorm(x, g, b, 1e-5))
      checkGradients("layerNorm plain", [tensor(seed, m, cols)], (t, [x]) => t.layerNorm(x, undefined, undefined, 1e-5))
    }), { numRuns: 20 })
  })

  it("dropout (fixed mask per key)", () => {
    fc.assert(fc.property(dims, fc.double({ min: 0, max: 0.9, noNaN: true }), ({ m, n, seed }, p) => {
      checkGradients("dropout", [tensor(seed, m, n)], (t, [x]) => t.dropout(x, p))
    }), { numRuns: 20 })
  })

  it("losses: mse, weighted mse, expectile", () => {
    fc.assert(fc.property(dims, fc.double({ min: 0.05, max: 0.95, noNaN: true }), ({ m, n, seed }, tau) => {
      const target = tensor(seed + 5, m, n)
      const weight = tensor(seed + 6, m, 1, 0.1, 2)
      checkGradients("mse", [tensor(seed, m, n)], (t, [x]) => t.mseLoss(x, target))
      checkGradients("weighted mse", [tensor(seed, m, n)], (t, [x]) => t.mseLoss(x, target, weight))
      checkGradients("expectile", [tensor(seed, m, n, -2, 2, [0])], (t, [x]) => t.expectileLoss(x, tau))
    }), { numRuns: 20 })
  })

  it("accumulates gradients of a variable used twice", () => {
    const x = tensor(1, 3, 4)
    checkGradients("x·x + x", [x], (t, [v]) => t.add(t.mul(v, v), v))
  })
})

describe("Tape semantics", () => {
  it("gives zeros for variables the output does not depend on", () => {
    const t = new Tape(B)
    const x = t.leaf(tensor(1, 2, 3))
    const y = t.leaf(tensor(2, 2, 3))
    const loss = t.reduce("sum", "all", t.unary("square", x))
    const [, gy] = t.grad(loss, [x, y])
    expect([...valuesOf(gy)]).toEqual([0, 0, 0, 0, 0, 0])
  })

  it("rejects a non-scalar output without a seed, naming the op", () => {
    const t = new Tape(B)
    const x = t.leaf(tensor(1, 2, 3))
    expect(() => t.grad(x, [x])).toThrow(/grad: output must be \[1, 1\]/)
  })

  it("fails shape mismatches with a ShapeError naming the op and shapes", () => {
    const t = new Tape(B)
    const a = t.leaf(tensor(1, 2, 3))
    const b = t.leaf(tensor(2, 4, 5))
    expect(() => t.matmul(a, b)).toThrow(/matmul: inner dimensions differ: A\[2, 3\] · B\[4, 5\]/)
    expect(() => t.add(a, b)).toThrow(/add: cannot broadcast rows: \[2, 3\] and \[4, 5\]/)
  })
})

describe("AdamW and EMA kernels", () => {
  it("adamw matches the optax formula written out in scalars", () => {
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 1, max: 50 }), ({}, step) => {
      const p = tensor(step, 1, 8)
      const g = tensor(step + 1, 1, 8)
      const m = tensor(step + 2, 1, 8, 0, 0.1)
      const v = tensor(step + 3, 1, 8, 0, 0.1)
      const [p0, g0, m0, v0] = [p, g, m, v].map(valuesOf)
      const hp = { lr: 3e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4, step }
      B.adamw(p, g, m, v, hp)
      for (let i = 0; i < 8; i++) {
        const mi = 0.9 * m0[i] + 0.1 * g0[i]
        const vi = 0.999 * v0[i] + 0.001 * g0[i] ** 2
        const mhat = mi / (1 - 0.9 ** step)
        const vhat = vi / (1 - 0.999 ** step)
        const expected = p0[i] - 3e-4 * (mhat / (Math.sqrt(vhat) + 1e-8) + 1e-4 * p0[i])
        expect(valuesOf(p)[i]).toBeCloseTo(expected, 12)
      }
    }), { numRuns: 20 })
  })

  it("ema moves the target by rate towards the source", () => {
    const target = tensor(1, 2, 5)
    const source = tensor(2, 2, 5)
    const [t0, s0] = [valuesOf(target), valuesOf(source)]
    B.ema(target, source, 0.25)
    valuesOf(target).forEach((v, i) => expect(v).toBeCloseTo(t0[i] + 0.25 * (s0[i] - t0[i]), 12))
  })
})
