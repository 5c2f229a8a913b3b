import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as ProfiledBackend from "../../src/domain/ProfiledBackend.ts"

describe("ProfiledBackend", () => {
  it("counts calls and dispatches per op (labelled by kind), excludes nested calls from a scope's row, and times reads", async () => {
    const inner = CpuBackend.make()
    const { backend: B, report, reset } = ProfiledBackend.profile(inner)
    const x = B.upload(Float32Array.from([1, -2, 3, -4]), 2, 2)
    reset()
    const y = B.scope(() => B.unary("relu", B.unary("exp", x)))
    B.matmul(y, y)
    expect(await B.read(y)).toEqual(Float32Array.from([Math.E, Math.exp(-2), Math.exp(3), Math.exp(-4)].map(Math.fround)))
    const rows = new Map(report().map((r) => [r.op, r]))
    expect(rows.get("unary relu")?.calls).toBe(1)
    expect(rows.get("unary exp")?.calls).toBe(1)
    expect(rows.get("matmul")?.calls).toBe(1)
    expect(rows.get("read")?.calls).toBe(1)
    // The scope's own row holds none of the dispatches of the ops inside it; the ops' rows hold theirs.
    expect(rows.get("scope")?.dispatches).toBe(0)
    expect(rows.get("unary relu")?.dispatches).toBe(1)
    const total = report().reduce((s, r) => s + r.dispatches, 0)
    expect(total).toBe(3)
    for (const r of report()) expect(r.ms).toBeGreaterThanOrEqual(0)
    expect(ProfiledBackend.markdown("t", report(), 1)).toContain("| total | 5 |")
  })

  it("with shapes, labels each matmul m×k×n by its transposes and epilogue", () => {
    const { backend: B, report, reset } = ProfiledBackend.profile(CpuBackend.make(), { shapes: true })
    const a = B.zeros(3, 2)
    const b = B.zeros(2, 5)
    const bias = B.zeros(1, 5)
    reset()
    B.matmul(a, b)
    B.matmul(a, b, { activation: "relu", bias })
    B.matmul(a, b, { bias })
    B.matmul(b, b, { transA: true })
    B.matmul(a, a, { transB: true, activation: "silu" })
    B.unary("exp", a)
    expect(report().map((r) => r.op).filter((op) => op.startsWith("matmul")).sort()).toEqual([
      "matmul 3x2x3 NT silu", "matmul 3x2x5 NN", "matmul 3x2x5 NN bias", "matmul 3x2x5 NN relu+bias", "matmul 5x2x5 TN"
    ])
    expect(report().some((r) => r.op === "unary exp")).toBe(true)
  })
})
