import { mkdtemp, readdir, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { expect } from "vitest"
import * as LearningCurves from "../../src/programs/LearningCurves.ts"
import { type CheckpointHeader, Checkpoints, type LossRecord } from "../../src/services/Checkpoints.ts"
import { Plots } from "../../src/services/Plots.ts"

const header = (step: number, losses?: ReadonlyArray<LossRecord>): CheckpointHeader => ({
  format: "dgrl-checkpoint/1", architecture: {}, config: {}, step, rng: { seed: 0, counter: step }, createdBy: "test",
  ...(losses === undefined ? {} : { losses })
})
const tensor = { name: "w", dtype: "F32" as const, shape: [1], data: new Float32Array([1]) }

it.effect("draws one figure per task and stage from the loss histories in the checkpoints", () =>
  Effect.gen(function*() {
    const checkpoints = yield* Checkpoints
    const runs = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "curves-")))
    const swg = (scale: number) => [1, 2, 3].map((k) => ({ step: 500 * k, values: { eps_loss: scale / k } }))
    yield* checkpoints.save(join(runs, "hopper-medium-v2", "seed0", "swg.safetensors"), { header: header(1500, swg(1)), tensors: [tensor] })
    yield* checkpoints.save(join(runs, "hopper-medium-v2", "seed1", "swg.safetensors"), { header: header(1500, swg(2)), tensors: [tensor] })
    // A non-finite loss was stored as null; AWR losses can be negative.
    yield* checkpoints.save(join(runs, "hopper-medium-v2", "seed1", "iql-actor.safetensors"), {
      header: header(1000, [{ step: 500, values: { awr_loss: -0.5 } }, { step: 1000, values: { awr_loss: null } }]), tensors: [tensor]
    })
    // A checkpoint from before histories were recorded has no curve.
    yield* checkpoints.save(join(runs, "hopper-medium-v2", "seed1", "critic.safetensors"), { header: header(1000), tensors: [tensor] })

    const curves = yield* LearningCurves.collect(runs)
    expect(curves.map((c) => `${c.stage}/${c.seed}`).sort()).toEqual(["iql-actor/1", "swg/0", "swg/1"])
    expect(curves.find((c) => c.stage === "swg" && c.seed === 1)?.losses.map((r) => r.values.eps_loss)).toEqual([2, 1, 2 / 3])

    const out = join(runs, "..", `${runs.split("/").pop()}-plots`)
    const written = yield* LearningCurves.plot(runs, out)
    expect(written.map((p) => p.split("/").pop()).sort()).toEqual(["hopper-medium-v2-iql-actor", "hopper-medium-v2-swg"])
    expect((yield* Effect.promise(() => readdir(out))).sort()).toEqual([
      "hopper-medium-v2-iql-actor.png", "hopper-medium-v2-iql-actor.svg", "hopper-medium-v2-swg.png", "hopper-medium-v2-swg.svg"
    ])
    const svg = yield* Effect.promise(() => readFile(join(out, "hopper-medium-v2-swg.svg"), "utf8"))
    expect(svg).toContain("eps_loss seed 0")
    expect(svg).toContain("eps_loss seed 1")
  }).pipe(Effect.provide(Layer.mergeAll(Checkpoints.layer, Plots.layer))))
