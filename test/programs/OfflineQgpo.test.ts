/**
 * QGPO as an offline method on the tiny Pendulum run (CPU backend): `trainQgpo` samples the support actions from the
 * run's SWG model, trains the softmax-backup Q and the energy network into the run directory (skipped when done),
 * its learning curve holding the CEP loss, its floor and their gap, and `evaluate` with method "qgpo" rolls it out and
 * writes its result file.
 */
import { mkdtemp, readdir, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { expect } from "vitest"
import * as Offline from "../../src/programs/Offline.ts"
import * as QgpoAgent from "../../src/rl/QgpoAgent.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { offlineLayers, tinyConfig, trainTinyRun } from "../fixtures/TinyRun.ts"

it.effect("trains QGPO on the SWG model of a tiny run and evaluates it as method qgpo", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "offline-qgpo-")))
    yield* trainTinyRun(dir, 60, { guided: false })
    const base = yield* tinyConfig(dir, 60)
    const config = new Offline.OfflineConfig({
      ...base,
      qgpo: Schema.decodeSync(QgpoAgent.QgpoAgentConfig)({
        support: 4, qHidden: 16, qSteps: 40, qBatch: 32, energyHidden: 32, energyHiddenLayers: 1, energySteps: 40, energyBatch: 16
      }),
      evaluation: new Offline.EvaluationConfig({ ...base.evaluation, episodes: 2, methods: ["qgpo"] }),
      checkpointEvery: 20, logEvery: 20
    })
    expect(base.evaluation.methods).not.toContain("qgpo") // not evaluated unless asked for
    yield* Offline.trainQgpo(config)
    const files = yield* Effect.promise(() => readdir(config.runDir))
    expect(files).toContain("qgpo-q.safetensors")
    expect(files).toContain("qgpo.safetensors")
    // the energy stage's learning curve: the CEP loss, its floor (the targets' entropy, in [0, ln K]) and their gap
    const curve = (yield* (yield* Checkpoints).load(join(config.runDir, "qgpo.safetensors"))).header.losses ?? []
    expect(curve.map((r) => r.step)).toEqual([20, 40])
    for (const { values } of curve) {
      expect(Object.keys(values)).toEqual(["cep_loss", "target_entropy", "kl_gap"])
      const [cep, entropy, gap] = [values.cep_loss!, values.target_entropy!, values.kl_gap!]
      expect(entropy).toBeGreaterThan(0)
      expect(entropy).toBeLessThanOrEqual(Math.log(4) + 1e-6)
      expect(gap).toBeGreaterThanOrEqual(0)
      expect(Math.abs(cep - entropy - gap)).toBeLessThan(1e-5)
    }
    const trained = (yield* Effect.promise(() => stat(join(config.runDir, "qgpo.safetensors")))).mtimeMs
    yield* Offline.trainQgpo(config) // done: skipped, the checkpoint untouched
    expect((yield* Effect.promise(() => stat(join(config.runDir, "qgpo.safetensors")))).mtimeMs).toBe(trained)
    const results = yield* Offline.evaluate(config)
    const qgpo = results.find((r) => r.method === "qgpo")!
    expect(qgpo).toMatchObject({ task: "pendulum-noisy", method: "qgpo", seed: 0, episodes: 2 })
    // Pendulum returns lie in [−16.27·200, 0]; every action is clipped to [−1, 1].
    expect(qgpo.returnMean).toBeLessThanOrEqual(0)
    expect(qgpo.returnMean).toBeGreaterThan(-16.3 * 200)
    expect(qgpo.clipShare).toBeGreaterThanOrEqual(0)
    expect(yield* Effect.promise(() => readdir(join(dir, "results", "pendulum-noisy")))).toContain("qgpo-seed0.json")
  }).pipe(Effect.provide(offlineLayers)), 300_000)
