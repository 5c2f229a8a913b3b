/**
 * The config check of resumed and skipped stages: a checkpoint's header config against the current one, after
 * the header went through the stage's Schema (so keys added later with defaults are no difference).
 */
import { it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { describe, expect } from "vitest"
import * as StageConfig from "../../src/programs/StageConfig.ts"
import * as Critic from "../../src/rl/Critic.ts"
import * as SwgAgent from "../../src/rl/SwgAgent.ts"

describe("firstDifference", () => {
  it("names the first differing leaf by its path, in arrays too, and skips exempt subtrees", () => {
    const a = { x: 1, inner: { y: [1, 2, 3], z: "a" } }
    expect(StageConfig.firstDifference(a, structuredClone(a), [])).toBeUndefined()
    expect(StageConfig.firstDifference(a, { ...a, inner: { y: [1, 5, 3], z: "b" } }, [])).toEqual({ field: "inner.y[1]", checkpoint: 2, current: 5 })
    expect(StageConfig.firstDifference(a, { ...a, inner: { y: [1, 2], z: "a" } }, [])).toEqual({ field: "inner.y", checkpoint: [1, 2, 3], current: [1, 2] })
    expect(StageConfig.firstDifference(a, { ...a, inner: { ...a.inner, w: true } }, [])).toEqual({ field: "inner.w", checkpoint: undefined, current: true })
    expect(StageConfig.firstDifference(a, { x: 2, inner: { y: [0], z: "b" } }, ["x", "inner"])).toBeUndefined()
    expect(StageConfig.firstDifference(a, { x: 2, inner: { y: [0], z: "b" } }, ["inner.y"])).toEqual({ field: "x", checkpoint: 1, current: 2 })
  })
})

describe("check", () => {
  const current = StageConfig.make(SwgAgent.SwgAgentConfig, Schema.decodeUnknownSync(SwgAgent.SwgAgentConfig)({ hidden: 64 }), ["steps"])
  const header = current.encoded as Record<string, unknown>

  it.effect("agrees with its own header, and with one lacking a field added since (its default fills it)", () =>
    Effect.gen(function*() {
      yield* StageConfig.check("x.safetensors", current, header)
      const { emaRate: _, ...older } = header
      yield* StageConfig.check("x.safetensors", current, older)
      yield* StageConfig.check("x.safetensors", current, { ...header, steps: 7 })
    }))

  it.effect("a changed value, nested or not, is ConfigChanged naming the field and both values", () =>
    Effect.gen(function*() {
      const hidden = yield* Effect.flip(StageConfig.check("x.safetensors", current, { ...header, hidden: 128 }))
      expect(hidden).toMatchObject({ _tag: "ConfigChanged", path: "x.safetensors", field: "hidden", checkpoint: "128", current: "64" })
      expect(hidden.message).toBe(
        "checkpoint x.safetensors was trained with hidden = 128, the config now has 64; --fresh retrains the stage (or set hidden back to use the checkpoint)"
      )
      const tau = yield* Effect.flip(StageConfig.check("x.safetensors", current, { ...header, weightFunction: { _tag: "SmoothExpectile", tau: 0.9, kappa: 3 } }))
      expect(tau).toMatchObject({ field: "weightFunction.tau", checkpoint: "0.9", current: "0.7" })
      // the default left out of an old header is the default now: a changed default is a difference
      const { emaRate: _, ...older } = header
      const otherDefault = StageConfig.make(SwgAgent.SwgAgentConfig, Schema.decodeUnknownSync(SwgAgent.SwgAgentConfig)({ hidden: 64, emaRate: 0.01 }))
      expect(yield* Effect.flip(StageConfig.check("x.safetensors", otherDefault, older))).toMatchObject({ field: "emaRate", checkpoint: "0.001", current: "0.01" })
    }))

  it.effect("a header key no field reads (a renamed or removed setting) is a difference; a header that does not decode is a CheckpointError", () =>
    Effect.gen(function*() {
      const critic = StageConfig.make(Critic.CriticConfig, Schema.decodeUnknownSync(Critic.CriticConfig)({ hidden: 8 }))
      const unread = yield* Effect.flip(StageConfig.check("c.safetensors", critic, { ...(critic.encoded as object), valueLayernorm: "hidden" }))
      expect(unread).toMatchObject({ _tag: "ConfigChanged", field: "valueLayernorm", checkpoint: `"hidden"` })
      const invalid = yield* Effect.flip(StageConfig.check("c.safetensors", critic, { hidden: "wide" }))
      expect(invalid._tag).toBe("CheckpointError")
      expect(invalid.message).toContain("config.hidden")
    }))
})
