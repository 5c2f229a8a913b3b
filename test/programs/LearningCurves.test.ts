import { mkdtemp, readdir, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { expect } from "vitest"
import * as LearningCurves from "../../src/programs/LearningCurves.ts"
import { type CheckpointHeader, Checkpoints, type LossRecord } from "../../src/services/Checkpoints.ts"
import { Plots } from "../../src/services/Plots.ts"
import { trainTinyRun } from "../fixtures/TinyRun.ts"

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

it.effect("finds the curves of every offline stage: critic, SWG, IQL's actor, TD3+BC, D-DICE's three stages, QGPO's two, PGD's six", () =>
  Effect.gen(function*() {
    const checkpoints = yield* Checkpoints
    const runs = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "curves-all-")))
    // The file each stage of Offline.ts writes, with the losses it logs.
    const files: Record<string, ReadonlyArray<string>> = {
      "critic.safetensors": ["v_loss", "q_loss"], "swg.safetensors": ["eps_loss"], "iql-actor.safetensors": ["awr_loss"],
      "td3bc.safetensors": ["critic_loss", "actor_loss"], "dice-critic.safetensors": ["v_loss", "q_loss"],
      "dice-behaviour.safetensors": ["score_loss"], "dice-guidance.safetensors": ["igl_loss"],
      "qgpo-q.safetensors": ["q_loss"], "qgpo.safetensors": ["cep_loss", "target_entropy", "kl_gap"], "trajectory.safetensors": ["edm_loss"],
      "td3bc-unguided.safetensors": ["critic_loss", "actor_loss"], "td3bc-pgd.safetensors": ["critic_loss", "actor_loss"],
      "iql-unguided.safetensors": ["v_loss", "q_loss", "awr_loss"], "iql-pgd.safetensors": ["v_loss", "q_loss", "awr_loss"],
      "dynamics-ensemble.safetensors": ["mse"]
    }
    for (const [file, names] of Object.entries(files)) {
      const losses = [1, 2].map((k) => ({ step: 100 * k, values: Object.fromEntries(names.map((n) => [n, 1 / k])) }))
      yield* checkpoints.save(join(runs, "walker2d-medium-v2", "seed2", file), { header: header(200, losses), tensors: [tensor] })
    }
    const curves = yield* LearningCurves.collect(runs)
    const expected = Object.keys(files).map((f) => f.replace(".safetensors", "")).sort()
    expect(curves.map((c) => c.stage).sort()).toEqual(expected)
    expect(curves.find((c) => c.stage === "qgpo")?.losses.map((r) => r.values.cep_loss)).toEqual([1, 0.5])
    const out = join(runs, "..", `${runs.split("/").pop()}-plots`)
    const written = yield* LearningCurves.plot(runs, out)
    expect(written.map((p) => p.split("/").pop()).sort()).toEqual(expected.map((s) => `walker2d-medium-v2-${s}`))
    const svg = yield* Effect.promise(() => readFile(join(out, "walker2d-medium-v2-dice-guidance.svg"), "utf8"))
    expect(svg).toContain("walker2d-medium-v2: dice-guidance training loss")
  }).pipe(Effect.provide(Layer.mergeAll(Checkpoints.layer, Plots.layer))))

it.effect("finds a curve for every stage the offline stages of a tiny run wrote, under the file names they wrote", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "curves-tiny-")))
    yield* trainTinyRun(dir, 20)
    const trained = (yield* Effect.promise(() => readdir(join(dir, "pendulum-noisy", "seed0")))).filter((f) => f.endsWith(".safetensors"))
    const curves = yield* LearningCurves.collect(dir)
    expect(curves.map((c) => LearningCurves.stages[c.stage]).sort()).toEqual(trained.sort())
    // Every stage but PGD's (test/programs/OfflinePgd.test.ts trains those).
    expect(curves.map((c) => c.stage).sort()).toEqual(Object.keys(LearningCurves.stages).filter((k) => !LearningCurves.pgdStages.includes(k as never)).sort())
  }).pipe(Effect.provide(Layer.mergeAll(Checkpoints.layer, Plots.layer))), 120_000)
