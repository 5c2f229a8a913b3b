/**
 * Every op's forward on the CPU reference backend against the scalar formulas of
 * `test/fixtures/ForwardTable.ts` (textbook definitions evaluated in f64, independent of the
 * backend's own scalar code). The GPU tier compares its kernels with this backend, and the
 * gradient tests difference its forward, so this is what ties both to the definitions.
 *
 * Tolerances: with f32 storage the backend accumulates in f64 and rounds once, so its error is
 * an f32 rounding (≈ 6e-8 relative); 1e-6 relative is ~16 f32 ulps and far below any formula
 * error (gelu's tanh and erf forms differ by 1.5e-4 at x = 1; a biased against an unbiased
 * variance by 25 % on a 5-column row). With f64 storage only the evaluation order differs.
 */
import { describe, it } from "@effect/vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import { valuesOf } from "../fixtures/FiniteDifference.ts"
import { cases, statistics } from "../fixtures/ForwardTable.ts"
import { assertClose, type Tolerance } from "../fixtures/Tolerance.ts"

const precisions: ReadonlyArray<readonly ["f32" | "f64", Tolerance]> = [
  // atol covers sums that cancel (f64 order effects ≈ 1e-16 of the summands' magnitude).
  ["f32", { atol: 1e-12, rtol: 1e-6 }],
  ["f64", { atol: 1e-13, rtol: 1e-12 }]
]

for (const [precision, tolerance] of precisions) {
  describe(`CPU backend forward values (${precision} storage) against scalar formulas`, () => {
    const B = CpuBackend.make({ precision })
    for (const c of cases) {
      it(c.name, () => {
        // The storage itself: `read` would round f64 storage to f32.
        for (const check of c.checks(B)) assertClose(valuesOf(check.got), check.want, tolerance, `${c.name}: ${check.label}`)
      })
    }
  })
}

describe("CPU backend random ops by their moments", () => {
  const B = CpuBackend.make()
  for (const s of statistics) it(s.name, () => s.run(B))
})
