import { it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { expect } from "vitest"
import { ShapeError } from "../../src/domain/Ops.ts"
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
