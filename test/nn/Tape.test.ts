/**
 * Every op's backward against central finite differences, in f64 on the CPU backend, through
 * the tape: loss = Σ (op(inputs) ⊙ R) for a random projection R, d loss / d input compared.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import { CpuTensor } from "../../src/domain/cpu/CpuBackend.ts"
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

/**
 * A bias [1, n] for x·w that keeps every pre-activation x·w + b at least `gap` from relu's kink,
 * with at least one negative one: in each column the kink goes into the widest gap between the
 * column's sorted values when that gap is wider than 2·gap, else the whole column goes below it
 * (even columns) or above it (odd columns, and only when a negative value exists already).
 */
const biasAwayFromKink = (x: Tensor, w: Tensor, gap: number): Tensor => {
  const z = valuesOf(B.matmul(x, w).out)
  const [m, n] = [x.rows, w.cols]
  const b = new Float32Array(n)
  let negative = false
  for (let j = 0; j < n; j++) {
    const col = Array.from({ length: m }, (_, i) => z[i * n + j]).sort((p, q) => p - q)
    let split = -1
    for (let i = 0; i + 1 < m; i++) {
      if (col[i + 1] - col[i] > 2 * gap && (split < 0 || col[i + 1] - col[i] > col[split + 1] - col[split])) split = i
    }
    if (split >= 0) {
      b[j] = -(col[split] + col[split + 1]) / 2
      negative = true
    } else if (j % 2 === 1 && negative) {
      b[j] = -col[0] + 2 * gap
    } else {
      b[j] = -col[m - 1] - 2 * gap
      negative = true
    }
  }
  return B.upload(b, 1, n)
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

  it("linear with every smooth activation epilogue", () => {
    for (const act of Activations.filter((a) => a !== "relu")) {
      fc.assert(fc.property(dims, ({ m, k, n, seed }) => {
        checkGradients(`linear ${act}`, [tensor(seed, m, k), tensor(seed + 1, k, n), tensor(seed + 2, 1, n)], (t, [x, w, b]) => t.linear(x, w, b, act))
      }), { numRuns: 10 })
    }
  })

  it("linear with the relu epilogue: gradients w.r.t. x, w and b, pre-activations away from the kink, some negative", () => {
    fc.assert(fc.property(dims, ({ m, k, n, seed }) => {
      const x = tensor(seed, m, k)
      const w = tensor(seed + 1, k, n)
      const b = biasAwayFromKink(x, w, 0.1)
      const pre = valuesOf(B.matmul(x, w, { bias: b }).out)
      expect(pre.every((v) => Math.abs(v) >= 0.1 - 1e-9)).toBe(true)
      expect(pre.some((v) => v < 0)).toBe(true)
      checkGradients("linear relu", [x, w, b], (t, [xv, wv, bv]) => t.linear(xv, wv, bv, "relu"))
      // The case has teeth: the identity epilogue's gradients (what relu would give if its backward
      // passed dy through unmasked) differ from relu's finite differences wherever a pre-activation < 0.
      const loss = (act: "relu" | "identity") => {
        const t = new Tape(B)
        const leaves = [x, w, b].map((v) => t.leaf(v))
        const out = t.linear(leaves[0], leaves[1], leaves[2], act)
        return { t, leaves, value: t.reduce("sum", "all", t.mul(out, t.leaf(tensor(99, out.rows, out.cols)))) }
      }
      const identity = loss("identity")
      const [, , gb] = identity.t.grad(identity.value, identity.leaves)
      const numeric = numericGradient(() => valuesOf(loss("relu").value.value)[0], b)
      expect(closeness(valuesOf(gb), numeric, 1e-6, 1e-5).worst).toBeGreaterThan(1)
    }), { numRuns: 30 })
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

  it("concat, slice (columns and rows), gather and reshape", () => {
    fc.assert(fc.property(dims, fc.nat(), ({ m, k, n, seed }, s) => {
      checkGradients("concatCols", [tensor(seed, m, k), tensor(seed + 1, m, n)], (t, xs) => t.concatCols(xs))
      const start = s % (k + n)
      const width = 1 + (s % (k + n - start))
      checkGradients("sliceCols", [tensor(seed, m, k + n)], (t, [x]) => t.sliceCols(x, start, width))
      const idx = B.upload(Float32Array.from({ length: n + 2 }, (_, j) => (j * 7 + s) % m), n + 2, 1)
      checkGradients("gatherRows", [tensor(seed, m, k)], (t, [x]) => t.gatherRows(x, idx))
      checkGradients("reshape", [tensor(seed, m, k)], (t, [x]) => t.reshape(x, k, m))
      checkGradients("reshape to a column", [tensor(seed, m, k)], (t, [x]) => t.reshape(x, m * k, 1))
      const first = s % m
      checkGradients("sliceRows", [tensor(seed, m, k)], (t, [x]) => t.sliceRows(x, first, 1 + (s % (m - first))))
    }), { numRuns: 30 })
  })

  it("layer norm with and without affine parameters", () => {
    fc.assert(fc.property(dims, ({ m, n, seed }) => {
      const cols = n + 1
      checkGradients("layerNorm affine", [tensor(seed, m, cols), tensor(seed + 1, 1, cols), tensor(seed + 2, 1, cols)], (t, [x, g, b]) => t.layerNorm(x, g, b, 1e-5))
      checkGradients("layerNorm plain", [tensor(seed, m, cols)], (t, [x]) => t.layerNorm(x, undefined, undefined, 1e-5))
    }), { numRuns: 20 })
  })

  const sequences = fc.record({
    batch: fc.integer({ min: 1, max: 3 }),
    length: fc.integer({ min: 1, max: 6 }),
    cin: fc.integer({ min: 1, max: 4 }),
    cout: fc.integer({ min: 1, max: 4 }),
    seed: fc.nat()
  })

  it("conv1d, kernels 1, 2, 3: gradients w.r.t. input, weight and bias", () => {
    fc.assert(fc.property(sequences, fc.constantFrom(1, 2, 3), fc.boolean(), ({ batch, length, cin, cout, seed }, kernel, withBias) => {
      const x = tensor(seed, batch * length, cin)
      const w = tensor(seed + 1, kernel * cin, cout)
      const b = tensor(seed + 2, 1, cout)
      const label = `conv1d k=${kernel} [${batch}·${length}, ${cin}] → ${cout} bias ${withBias}`
      if (withBias) checkGradients(label, [x, w, b], (t, [xv, wv, bv]) => t.conv1d(xv, wv, bv, length))
      else checkGradients(label, [x, w], (t, [xv, wv]) => t.conv1d(xv, wv, undefined, length))
    }), { numRuns: 40 })
  })

  it("group norm with and without affine parameters", () => {
    fc.assert(fc.property(sequences, fc.integer({ min: 1, max: 3 }), ({ batch, length, cin, seed }, groups) => {
      const channels = cin * groups
      const x = tensor(seed, batch * length, channels)
      const label = `groupNorm [${batch}·${length}, ${channels}] groups ${groups}`
      checkGradients(`${label} affine`, [x, tensor(seed + 1, 1, channels), tensor(seed + 2, 1, channels)], (t, [xv, g, b]) => t.groupNorm(xv, g, b, length, groups, 1e-5))
      checkGradients(`${label} plain`, [x], (t, [xv]) => t.groupNorm(xv, undefined, undefined, length, groups, 1e-5))
    }), { numRuns: 30 })
  })

  it("max-pool by 2 (pairs at least 0.1 apart, away from ties) and upsample by 2", () => {
    fc.assert(fc.property(sequences, ({ batch, length, cin, seed }) => {
      const L = 2 * length
      const x = tensor(seed, batch * L, cin)
      const v = (x as CpuTensor).data
      for (let r = 0; r < batch * L; r += 2) {
        for (let c = 0; c < cin; c++) {
          const [i0, i1] = [r * cin + c, (r + 1) * cin + c]
          if (Math.abs(v[i0] - v[i1]) < 0.1) v[i1] = v[i0] + (v[i1] >= v[i0] ? 0.1 : -0.1)
        }
      }
      checkGradients(`maxPool2 [${batch}·${L}, ${cin}]`, [x], (t, [xv]) => t.maxPool2(xv, L))
      checkGradients(`upsample2 [${batch}·${length}, ${cin}]`, [tensor(seed, batch * length, cin)], (t, [xv]) => t.upsample2(xv))
    }), { numRuns: 30 })
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

  it("sliceRows and reshape keep the row-major order", () => {
    const t = new Tape(B)
    const x = t.leaf(B.upload(Float32Array.from({ length: 12 }, (_, i) => i), 4, 3))
    const rows = t.sliceRows(x, 1, 2)
    expect([rows.rows, rows.cols]).toEqual([2, 3])
    expect(Array.from(valuesOf(rows.value))).toEqual([3, 4, 5, 6, 7, 8])
    expect(Array.from(valuesOf(t.reshape(x, 2, 6).value))).toEqual(Array.from({ length: 12 }, (_, i) => i))
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
    expect(() => t.reshape(a, 4, 2)).toThrow(/reshape: \[2, 3\] has 6 elements, \[4, 2\] needs 8/)
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
