/**
 * Diffusion-DICE in the offline pipeline on the tiny Pendulum dataset of Offline.test.ts (CPU backend): `trainDice`
 * writes its three checkpoints, `evaluate` runs d-dice and both ablations and writes their result files; without
 * the D-DICE checkpoints evaluation fails with a CheckpointError naming the missing file.
 */
import { mkdtemp, readdir } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { expect } from "vitest"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import * as Rng from "../../src/domain/Rng.ts"
import { Environments } from "../../src/env/Environments.ts"
import * as Pendulum from "../../src/env/Pendulum.ts"
import * as Offline from "../../src/programs/Offline.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { Progress } from "../../src/services/Progress.ts"

const layers = Layer.mergeAll(Backend.layerCpu, Checkpoints.layer, Progress.layerSilent, DatasetStore.layer, Environments.layer)

/** 8 episodes of a noisy proportional controller on Pendulum, in the D4RL layout. */
const pendulumDataset = (): OfflineDataset.OfflineDataset => {
  const env = Pendulum.make({ batch: 8 })
  const obs: Array<number> = []
  const actions: Array<number> = []
  const rewards: Array<number> = []
  const next: Array<number> = []
  const timeouts: Array<number> = []
  let o = env.reset(3)
  const noise = new Float64Array(8)
  for (let t = 0; t < env.maxEpisodeSteps; t++) {
    Rng.fillUniform(Rng.at(Rng.named(4, "behaviour"), t), noise)
    const a = Float64Array.from({ length: 8 }, (_, i) => Math.max(-1, Math.min(1, -0.5 * o[3 * i + 2] + (2 * noise[i] - 1))))
    const r = env.step(a)
    for (let i = 0; i < 8; i++) {
      obs.push(o[3 * i], o[3 * i + 1], o[3 * i + 2])
      next.push(r.observations[3 * i], r.observations[3 * i + 1], r.observations[3 * i + 2])
      actions.push(a[i])
      rewards.push(r.rewards[i])
      timeouts.push(t === env.maxEpisodeSteps - 1 ? 1 : 0)
    }
    o = r.observations
  }
  const n = rewards.length
  return OfflineDataset.make({
    observations: Float32Array.from(obs), actions: Float32Array.from(actions), rewards: Float32Array.from(rewards),
    terminals: new Uint8Array(n), timeouts: Uint8Array.from(timeouts), nextObservations: Float32Array.from(next),
    observationDim: 3, actionDim: 1
  })
}

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
  }).pipe(Effect.provide(layers)), 180_000)
