import { it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { expect } from "vitest"
import { MemoryLimit, ShapeError } from "../../src/domain/Ops.ts"
import * as FailureReport from "../../src/programs/FailureReport.ts"
import { Backend } from "../../src/services/Backend.ts"

it.effect("a shape mismatch inside Backend.run is a typed ShapeError naming the op and shapes", () =>
  Effect.gen(function*() {
    const backend = yield* Backend
    const error = yield* Effect.flip(backend.run((B) => B.matmul(B.zeros(2, 3), B.zeros(4, 5))))
    expect(error).toBeInstanceOf(ShapeError)
    expect(error._tag).toBe("ShapeError")
    expect(error.message).toBe("matmul: inner dimensions differ: A[2, 3] · B[4, 5]")
  }).pipe(Effect.provide(Backend.layerCpu)))

it.effect("other exceptions inside Backend.run are defects, not typed failures", () =>
  Effect.gen(function*() {
    const backend = yield* Backend
    const exit = yield* Effect.exit(backend.run(() => {
      throw new RangeError("boom")
    }))
    expect(Exit.isFailure(exit) && exit.cause.toString().includes("boom")).toBe(true)
    expect(Exit.isFailure(exit) && Exit.findErrorOption(exit)._tag === "None").toBe(true)
  }).pipe(Effect.provide(Backend.layerCpu)))

it.effect("a WASM allocation past WebAssembly's 4 GiB is a typed MemoryLimit with the sizes, and the backend stays usable", () =>
  Effect.gen(function*() {
    const backend = yield* Backend
    // 40 000 × 32 768 f32 = 5.24 GB: refused before any memory grows
    const error = yield* Effect.flip(backend.run((B) => B.zeros(40_000, 32_768)))
    expect(error).toBeInstanceOf(MemoryLimit)
    const limit = error as MemoryLimit
    expect(limit.backend).toBe("wasm")
    expect(limit.limit).toBe(2 ** 32)
    expect(limit.bytes).toBeGreaterThanOrEqual(4 * 40_000 * 32_768)
    expect(limit.inUse).toBeLessThan(2 ** 32)
    expect(FailureReport.describe(error)).toContain("exceed its 4294967296-byte memory")
    expect(FailureReport.describe(error)).toContain("smaller batch")
    // a small tensor after the refusal still works
    const ok = yield* backend.run((B) => B.zeros(2, 2))
    expect(Array.from(yield* backend.read(ok))).toEqual([0, 0, 0, 0])
  }).pipe(Effect.provide(Backend.layerWasm)))
