/**
 * Diffusion-DICE in the offline pipeline on the tiny Pendulum dataset of test/fixtures/TinyRun.ts (CPU backend): `trainDice`
 * writes its three checkpoints, `evaluate` runs d-dice and both ablations and writes their result files; without
 * the D-DICE checkpoints evaluation fails with a CheckpointError naming the missing file.
 */
import { mkdtemp, readdir } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { expect } from "vitest"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import * as Offline from "../../src/programs/Offline.ts"
import { offlineLayers, pendulumDataset } from "../fixtures/TinyRun.ts"

const methods = ["d-dice", "d-dice-guide-only", "d-dice-select-only"] as const

it.effect("trains D-DICE on Pendulum data and evaluates it and its two ablations; a missing checkpoint is a typed failure", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "offline-dice-")))
    const dataset = join(dir, "pendulum.hdf5")
    yield* (yield* DatasetStore).write(dataset, pendulumDataset())
    const config = yield* Schema.decodeUnknownEffect(Offline.OfflineConfig)({
      task: "pendulum-noisy", dataset, runDir: join(dir, "run"), resultsDir: join(dir, "results"), seed: 0,
      dice: {
        // the reference's V (LayerNorm after each hidden layer) and AdamW decay, through the checkpoint header and back
        critic: { hidden: 16, batch: 64, valueLoss: "dice", ensemble: 2, valueLayerNorm: "hidden", weightDecay: 1e-4 }, criticSteps: 40, candidates: 3, guidanceScale: 1,
        agent: { hidden: 16, blocks: 1, behaviourSteps: 40, guidanceHidden: 16, guidanceLayers: 2, guidanceSteps: 40, copies: 4, batch: 64, lrDecaySteps: 40 }
      },
      evaluation: { episodes: 2, methods },
      checkpointEvery: 20, logEvery: 20
    })
    const missing = yield* Effect.flip(Offline.evaluate(config))
    expect(missing).toMatchObject({ _tag: "CheckpointError", path: join(dir, "run", "dice-critic.safetensors") })
    yield* Offline.trainDice(config)
    const files = yield* Effect.promise(() => readdir(join(dir, "run")))
    expect(files.filter((f) => f.endsWith(".safetensors")).sort()).toEqual(["dice-behaviour.safetensors", "dice-critic.safetensors", "dice-guidance.safetensors"])
    const results = yield* Offline.evaluate(config)
    expect(results.map((r) => r.method).sort()).toEqual(["d-dice", "d-dice-guide-only", "d-dice-select-only", "data"])
    for (const r of results) {
      expect(Number.isFinite(r.returnMean)).toBe(true)
      expect(r.returnMean).toBeLessThanOrEqual(0)
    }
    const written = yield* Effect.promise(() => readdir(join(dir, "results", "pendulum-noisy")))
    expect(written.sort()).toEqual(["d-dice-guide-only-seed0.json", "d-dice-seed0.json", "d-dice-select-only-seed0.json", "data-seed0.json"])
    // D-DICE methods are not in the default evaluation (the table does not train them unless asked)
    expect(Offline.DefaultMethods.some((m) => m.startsWith("d-dice"))).toBe(false)
  }).pipe(Effect.provide(offlineLayers)), 180_000)
