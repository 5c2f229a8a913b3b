/**
 * The forward table of `test/fixtures/ForwardTable.ts` on the GPU: every kernel's output against
 * the scalar textbook formulas directly (not through the CPU backend), at the table's negative,
 * zero-crossing and large-magnitude points, under the f32 tolerances of `Tolerance.ts`; and the
 * random ops by their moments.
 */
import { Effect } from "effect"
import { Gpu } from "../../src/services/Gpu.ts"
import { cases, statistics } from "../fixtures/ForwardTable.ts"
import { describeGpu } from "../fixtures/GpuTest.ts"
import { assertClose, tolerances } from "../fixtures/Tolerance.ts"

describeGpu("GPU forward values against scalar formulas", (it) => {
  for (const c of cases) {
    it.effect(c.name, () =>
      Effect.gen(function*() {
        const { backend: B } = yield* Gpu
        // The inputs go back to the pool when the scope ends; the outputs after they are read.
        const checks = B.scope(() => c.checks(B))
        for (const check of checks) {
          const got = yield* Effect.promise(() => B.read(check.got))
          assertClose(got, check.want, tolerances[check.family], `${c.name}: ${check.label}`)
          B.dispose(check.got)
        }
      }))
  }
  for (const s of statistics) {
    it.effect(s.name, () =>
      Effect.gen(function*() {
        const { backend: B } = yield* Gpu
        yield* Effect.promise(() => s.run(B))
      }))
  }
})
