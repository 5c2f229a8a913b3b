/**
 * The offline pipeline end to end on a tiny Pendulum dataset (seconds, CPU backend): critic,
 * SWG diffusion model and IQL actor are trained, every method is evaluated in the environment,
 * and one result file per (task, method, seed) is written.
 */
import { createHash } from "node:crypto"
import { mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { expect } from "vitest"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import * as Offline from "../../src/programs/Offline.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { offlineLayers, pendulumDataset } from "../fixtures/TinyRun.ts"

it.effect("trains the critic, SWG and IQL on Pendulum data and evaluates every method", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "offline-")))
    const dataset = join(dir, "pendulum.hdf5")
    yield* (yield* DatasetStore).write(dataset, pendulumDataset())
    const config = yield* Schema.decodeUnknownEffect(Offline.OfflineConfig)({
      task: "pendulum-noisy", dataset, runDir: join(dir, "run"), resultsDir: join(dir, "results"), seed: 0,
      critic: { hidden: 32, batch: 128, lr: 1e-3 }, criticSteps: 150,
      swg: { hidden: 32, blocks: 3, steps: 150, batch: 128, lr: 1e-3, lrDecaySteps: 150, diffusionSteps: 5 },
      iql: { hidden: 32, steps: 100, batch: 128 },
      evaluation: { episodes: 2, candidates: 4, guidanceScale: 2 },
      checkpointEvery: 50, logEvery: 50
    })
    yield* Offline.trainCritic(config)
    yield* Offline.trainSwg(config)
    yield* Offline.trainIql(config)
    // The critic report covers every qlearning_dataset transition and every episode once. (This dataset
    // interleaves its 8 episodes row by row, so the observation-discontinuity rule splits it into
    // one-step episodes: 8·199 of them once the timeout steps are dropped.)
    const report = yield* Offline.criticReport(config, 4)
    expect(report.groups.map((g) => g.episodes)).toEqual([398, 398, 398, 398])
    expect(report.groups.reduce((n, g) => n + g.steps, 0)).toBe(8 * 199)
    expect(report.markdown.split("\n")).toHaveLength(6)
    const results = yield* Offline.evaluate(config)
    expect(results.map((r) => r.method).sort()).toEqual(["data", "diffusion-bc", "idql", "iql", "swg", "swg-r"])
    // The data's own result: the mean return of its 8 complete episodes, and its actions' clip share.
    const data = pendulumDataset()
    const data0 = results.find((r) => r.method === "data")!
    expect(data0.episodes).toBe(8)
    expect(data0.returnMean).toBeCloseTo(Array.from(data.rewards).reduce((a, b) => a + b, 0) / 8, 3)
    expect(data0.clipShare).toBeCloseTo(Array.from(data.actions).filter((a) => Math.abs(a) >= 0.999).length / data.actions.length, 12)
    for (const r of results) {
      // Every rolled-out method records the share of its actions at the ±1 bound.
      expect(r.clipShare).toBeGreaterThanOrEqual(0)
      expect(r.clipShare).toBeLessThanOrEqual(1)
      expect(Number.isFinite(r.returnMean)).toBe(true)
      // Pendulum returns lie in [−16.27·200, 0].
      expect(r.returnMean).toBeLessThanOrEqual(0)
      expect(r.returnMean).toBeGreaterThan(-16.3 * 200)
    }
    const files = yield* Effect.promise(() => readdir(join(dir, "results", "pendulum-noisy")))
    expect(files.sort()).toEqual(["data-seed0.json", "diffusion-bc-seed0.json", "idql-seed0.json", "iql-seed0.json", "swg-r-seed0.json", "swg-seed0.json"])
    const saved = JSON.parse(yield* Effect.promise(() => readFile(join(dir, "results", "pendulum-noisy", "swg-seed0.json"), "utf8")))
    expect(saved).toMatchObject({ task: "pendulum-noisy", method: "swg", seed: 0, episodes: 2, normalizedScore: null })

    // Run again: finished stages are skipped (their checkpoints stay untouched) and existing results
    // are kept; --fresh (resume: false) evaluates again and overwrites.
    const swgFile = join(dir, "results", "pendulum-noisy", "swg-seed0.json")
    yield* Effect.promise(() => writeFile(swgFile, JSON.stringify({ ...saved, returnMean: 12345 })))
    const criticTime = (yield* Effect.promise(() => stat(join(dir, "run", "critic.safetensors")))).mtimeMs
    yield* Offline.trainCritic(config)
    expect((yield* Effect.promise(() => stat(join(dir, "run", "critic.safetensors")))).mtimeMs).toBe(criticTime)
    const onlySwg = { ...config, evaluation: { ...config.evaluation, methods: ["swg" as const] } }
    const kept = yield* Offline.evaluate(new Offline.OfflineConfig(onlySwg))
    expect(kept.filter((r) => r.method === "swg").map((r) => r.returnMean)).toEqual([12345])
    const redone = yield* Offline.evaluate(new Offline.OfflineConfig({ ...onlySwg, resume: false }))
    expect(redone.find((r) => r.method === "swg")!.returnMean).toBe(saved.returnMean)
    expect(JSON.parse(yield* Effect.promise(() => readFile(swgFile, "utf8"))).returnMean).toBe(saved.returnMean)

    // A result records the checkpoints it acted with; once one is retrained the result is stale: evaluated again,
    // while a result whose checkpoints did not change is kept.
    const digestOf = (file: string) => Effect.promise(async () => createHash("sha256").update(await readFile(file)).digest("hex"))
    const swgCheckpointFile = join(dir, "run", "swg.safetensors")
    expect(JSON.parse(yield* Effect.promise(() => readFile(swgFile, "utf8"))).checkpoints)
      .toEqual([{ name: "swg.safetensors", sha256: yield* digestOf(swgCheckpointFile) }])
    const iqlFile = join(dir, "results", "pendulum-noisy", "iql-seed0.json")
    const iqlSaved = JSON.parse(yield* Effect.promise(() => readFile(iqlFile, "utf8")))
    expect(iqlSaved.checkpoints.map((r: { name: string }) => r.name)).toEqual(["critic.safetensors", "iql-actor.safetensors"])
    yield* Effect.promise(() => writeFile(iqlFile, JSON.stringify({ ...iqlSaved, returnMean: 777 })))
    yield* Effect.promise(() => writeFile(swgFile, JSON.stringify({ ...saved, returnMean: 12345, checkpoints: redone.find((r) => r.method === "swg")!.checkpoints })))
    const swgAndIql = new Offline.OfflineConfig({ ...config, evaluation: { ...config.evaluation, methods: ["swg", "iql"] } })
    expect(yield* Offline.evaluated(swgAndIql)).toBe(true)
    const swgModel = yield* (yield* Checkpoints).load(swgCheckpointFile)
    yield* (yield* Checkpoints).save(swgCheckpointFile, { ...swgModel, header: { ...swgModel.header, createdBy: "retrained" } })
    expect(yield* Offline.evaluated(swgAndIql)).toBe(false)
    const afterRetrain = yield* Offline.evaluate(swgAndIql)
    expect(afterRetrain.find((r) => r.method === "swg")!.returnMean).toBe(saved.returnMean)
    expect(afterRetrain.find((r) => r.method === "iql")!.returnMean).toBe(777)
    expect(yield* Offline.evaluated(swgAndIql)).toBe(true)

    // A corrupted result file is a typed failure naming the file and the field, not a silent re-evaluation.
    yield* Effect.promise(() => writeFile(swgFile, JSON.stringify({ ...saved, returnMean: "12345" })))
    const corrupted = yield* Effect.flip(Offline.evaluate(new Offline.OfflineConfig(onlySwg)))
    expect(corrupted).toMatchObject({ _tag: "FileError", path: swgFile, reason: { _tag: "Malformed", field: "returnMean" } })

    // An SWG checkpoint whose header lacks the weight range is a typed failure naming the header field.
    const checkpoints = yield* Checkpoints
    const swgCheckpoint = join(dir, "run", "swg.safetensors")
    const model = yield* checkpoints.load(swgCheckpoint)
    yield* checkpoints.save(swgCheckpoint, { ...model, header: { ...model.header, architecture: { models: { kind: "swg" } } } })
    const noRange = yield* Effect.flip(Offline.evaluate(new Offline.OfflineConfig({ ...onlySwg, resume: false })))
    expect(noRange).toMatchObject({ _tag: "CheckpointError", path: swgCheckpoint, reason: { _tag: "InvalidHeader" } })
    expect(noRange.message).toContain("architecture.models.weightRange")
  }).pipe(Effect.provide(offlineLayers)), 180_000)

it.effect("a task without an environment is a typed UnknownTask failure", () =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(Effect.scoped(Offline.environmentFor("ant-medium-v2", 2)))
    expect(error).toBeInstanceOf(Offline.UnknownTask)
    expect(error.message).toContain(`"ant-medium-v2"`)
  }).pipe(Effect.provide(offlineLayers)))
