/**
 * sin and cos and their derivatives on the WASM backend (SIMD kernels in f64: a Cody–Waite reduction by π/2 and
 * fdlibm's polynomials, Kernels.ts) against the CPU reference, which evaluates Math.sin/Math.cos in f64 and rounds
 * once: bit for bit, signed zeros included, over small and large arguments, arguments next to multiples of π/2
 * (where the reduction cancels), denormals and NaN, at every length mod 4 (the kernels' vector tail). Arguments
 * beyond Kernels.TRIG_MAX (and ±∞), where the reduction is not accurate, must come out of the reference's loops.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Rng from "../../src/domain/Rng.ts"
import type { Tensor, TensorBackend } from "../../src/domain/TensorBackend.ts"
import { TRIG_MAX } from "../../src/wasm/Kernels.ts"
import { cpu, wasm } from "./Parity.ts"

/** n arguments of every kind above, from `seed`. */
const argumentsOf = (seed: number, n: number): Float32Array => {
  const u = new Float64Array(2 * n)
  Rng.fillUniform(Rng.named(seed, "trig"), u)
  const specials = [0, -0, 1e-40, -1e-40, Number.NaN, Math.fround(Math.PI), -Math.fround(Math.PI / 2), TRIG_MAX, -TRIG_MAX]
  return Float32Array.from({ length: n }, (_, i) => {
    if (i < specials.length) return specials[i]
    switch (i % 4) {
      case 0: return 40 * (u[i] - 0.5)
      case 1: return 2 * TRIG_MAX * (u[i] - 0.5)
      case 2: return Math.round(400 * (u[i] - 0.5)) * (Math.PI / 2) * (1 + 1e-7 * (u[n + i] - 0.5))
      default: return 1e-3 * (u[i] - 0.5)
    }
  })
}

/** Elements where a and b differ as values (NaN equals NaN, −0 differs from +0). */
const differences = (a: Float32Array, b: Float32Array): Array<number> =>
  Array.from(a.keys()).filter((i) => !Object.is(a[i], b[i]))

const run = async (X: TensorBackend, x: Float32Array, dy: Float32Array, op: "sin" | "cos") => {
  const xt = X.upload(x, x.length, 1)
  const dt = X.upload(dy, dy.length, 1)
  const outs: Array<Tensor> = [X.unary(op, xt), X.unaryBackward(op, xt, dt)]
  const [value, grad] = [await X.read(outs[0]), await X.read(outs[1])]
  for (const t of [xt, dt, ...outs]) X.dispose(t)
  return { value, grad }
}

describe("wasm sin and cos", () => {
  for (const op of ["sin", "cos"] as const) {
    it(`${op} and its derivative equal the f64 reference rounded once, bit for bit, at lengths 1 … 9 and 40 000`, async () => {
      for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 40_000]) {
        const x = argumentsOf(n, n)
        const dy = Float32Array.from(argumentsOf(n + 1, n), (v, i) => (i % 5) - 2 + (Number.isNaN(v) ? 0 : v / 1e6))
        const [got, want] = [await run(wasm, x, dy, op), await run(cpu, x, dy, op)]
        expect(differences(got.value, want.value).map((i) => [x[i], got.value[i], want.value[i]]), `${op} at n = ${n}`).toEqual([])
        expect(differences(got.grad, want.grad).map((i) => [x[i], got.grad[i], want.grad[i]]), `${op}′ at n = ${n}`).toEqual([])
      }
    })

    it(`${op}: a tensor with arguments beyond TRIG_MAX or ±∞ is computed by the reference's loops`, async () => {
      const x = Float32Array.from([0.5, 3e10, -7.5e11, Infinity, -Infinity, 2, 1e5 + 16, -4])
      const dy = Float32Array.from(x, (_, i) => 1 - 0.25 * i)
      const [got, want] = [await run(wasm, x, dy, op), await run(cpu, x, dy, op)]
      expect(differences(got.value, want.value)).toEqual([])
      expect(differences(got.grad, want.grad)).toEqual([])
    })
  }
})
