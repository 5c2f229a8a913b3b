/**
 * The profiler's own time is a row of its own: one call per profiled backend call, no dispatches,
 * and outside the table's total and shares (so a `scope` full of cheap ops is not charged with it).
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as ProfiledBackend from "../../src/domain/ProfiledBackend.ts"

describe("ProfiledBackend bookkeeping", () => {
  it("is reported as its own row, one call per profiled call, left out of the total", () => {
    const { backend: B, report, reset } = ProfiledBackend.profile(CpuBackend.make())
    const x = B.upload(Float32Array.from([1, 2, 3, 4]), 2, 2)
    reset()
    B.scope(() => {
      for (let i = 0; i < 500; i++) B.affine(x, 2, 1)
      return undefined
    })
    const rows = new Map(report().map((r) => [r.op, r]))
    const own = rows.get(ProfiledBackend.PROFILER_ROW)
    expect(own?.calls).toBe(501)
    expect(own?.dispatches).toBe(0)
    const backendMs = report().filter((r) => r.op !== ProfiledBackend.PROFILER_ROW).reduce((s, r) => s + r.ms, 0)
    const table = ProfiledBackend.markdown("t", report(), 1)
    expect(table).toContain(`| total | 501 | ${backendMs.toFixed(3)} | 100 % |`)
    expect(table).toMatch(/\| \(profiler bookkeeping\) \| 501 \| [0-9.]+ \| — \| 0 \|/)
    reset()
    expect(report()).toEqual([])
  })
})
