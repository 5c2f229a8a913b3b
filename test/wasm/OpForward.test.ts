/**
 * The forward table of `test/fixtures/ForwardTable.ts` on the WASM backend: every op's output
 * against the textbook scalar formulas directly (not through the CPU backend), at negative,
 * zero-crossing and large-magnitude points, under the f32 tolerances of `Tolerance.ts`; and the
 * random ops by their moments.
 */
import { describe, it } from "@effect/vitest"
import { cases, statistics } from "../fixtures/ForwardTable.ts"
import { assertClose, tolerances } from "../fixtures/Tolerance.ts"
import { wasm as B } from "./Parity.ts"

describe("wasm forward values against scalar formulas", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const checks = B.scope(() => c.checks(B))
      for (const check of checks) {
        assertClose(await B.read(check.got), check.want, tolerances[check.family], `${c.name}: ${check.label}`)
        B.dispose(check.got)
      }
    })
  }
  for (const s of statistics) it(s.name, () => s.run(B))
})
