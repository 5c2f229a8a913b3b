/**
 * Generate end to end on tiny budgets: recipes beside the HDF5 files, medium-expert = medium + expert row for row,
 * medium-replay = ARS's training rollouts up to the medium checkpoint, reuse without retraining, regeneration from
 * the recipe alone, and `inspect`'s summary of the files.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { copyFile, mkdir, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, layer } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as Ars from "../../src/datagen/Ars.ts"
import * as Generate from "../../src/datagen/Generate.ts"
import * as JsonFile from "../../src/datagen/JsonFile.ts"
import * as Recipes from "../../src/datagen/Recipes.ts"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import type * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import { Environments } from "../../src/env/Environments.ts"
import { Progress } from "../../src/services/Progress.ts"

let outDir: string
beforeAll(() => {
  outDir = mkdtempSync(join(tmpdir(), "dgrl-datagen-"))
})
afterAll(() => rmSync(outDir, { recursive: true, force: true }))

const sameArray = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.prototype.every.call(a, (x: number, i: number) => Object.is(x, b[i]))

const sameRows = (a: OfflineDataset.OfflineDataset, b: OfflineDataset.OfflineDataset): boolean =>
  sameArray(a.observations, b.observations) && sameArray(a.actions, b.actions) && sameArray(a.rewards, b.rewards) &&
  sameArray(a.terminals, b.terminals) && sameArray(a.timeouts, b.timeouts) &&
  sameArray(a.nextObservations ?? [], b.nextObservations ?? [])

/** A tiny halfcheetah setup: ARS with 4 directions over 50-step rollouts, 6 iterations, a checkpoint each. */
const config = (name: string, fields: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(Generate.GenerateConfig)({
    name,
    outDir,
    size: 400,
    batch: 2,
    arsIterations: 6,
    ars: { directions: 4, topDirections: 2, horizon: 50, evalEvery: 1, evalEpisodes: 2 },
    ...fields
  })

describe("Recipes", () => {
  layer(Layer.empty)((it) => {
    it.effect("lists the D4RL names we support and rejects others", () =>
      Effect.gen(function*() {
        assert.include(Recipes.names, "maze2d-umaze-v1")
        assert.include(Recipes.names, "maze2d-large-dense-v1")
        assert.include(Recipes.names, "hopper-medium-replay-v2")
        assert.include(Recipes.names, "walker2d-medium-expert-v2")
        assert.strictEqual(Recipes.names.length, 6 + 15)
        const error = yield* Effect.flip(Generate.generate(config("ant-medium-v2")))
        assert.strictEqual(error._tag === "DatagenError" && error.reason._tag, "UnknownDataset")
      }).pipe(Effect.provide(Layer.mergeAll(Environments.layer, DatasetStore.layer, Progress.layerSilent))))

    it.effect("a recipe with a wrong field is Unreadable naming the file and the field; a missing one is no such file", () =>
      Effect.gen(function*() {
        const path = join(outDir, "broken.recipe.json")
        yield* Effect.promise(() => writeFile(path, JSON.stringify({ format: "dgrl-recipe/1", kind: "maze2d", name: 3 })))
        const error = yield* Effect.flip(Generate.regenerate(path))
        assert.strictEqual(error._tag === "DatagenError" && error.reason._tag, "Unreadable")
        assert.include(error.message, path)
        assert.include(error.message, "name")
        const missing = yield* Effect.flip(Generate.regenerate(join(outDir, "none.recipe.json")))
        assert.include(missing.message, "no such file")
      }).pipe(Effect.provide(Layer.mergeAll(Environments.layer, DatasetStore.layer, Progress.layerSilent))))
  })
})

describe("Generate", () => {
  layer(Layer.mergeAll(Environments.layer, DatasetStore.layer, Progress.layerSilent))((it) => {
    it.effect("maze2d: writes the D4RL layout and a recipe that regenerates the same file", () =>
      Effect.gen(function*() {
        const result = yield* Generate.generate(config("maze2d-umaze-v1", { size: 3000 }))
        const { summary } = result
        assert.strictEqual(summary.size, 3000)
        assert.strictEqual(summary.terminals, 0)
        assert.isAbove(summary.timeouts, 10)
        assert.isAbove(summary.behaviour?.normalizedScore ?? 0, 80)
        const inspected = yield* Generate.inspect(summary.path)
        const keys = new Map(inspected.keys.map((k) => [k.key, k]))
        assert.isFalse(keys.has("next_observations"))
        assert.deepStrictEqual(keys.get("observations")?.shape, [3000, 4])
        assert.deepStrictEqual(keys.get("infos/goal")?.shape, [3000, 2])
        assert.strictEqual(keys.get("rewards")?.dtype, "float32")
        assert.deepStrictEqual(inspected.behaviour, summary.behaviour)
        assert.isUndefined(inspected.normalizedScores)

        const store = yield* DatasetStore
        const original = yield* store.read(summary.path)
        const copy = join(outDir, "copy", "maze2d-umaze-v1.hdf5")
        yield* Generate.regenerate(result.recipePath, { outPath: copy })
        assert.isTrue(sameRows(original, yield* store.read(copy)))
        assert.isTrue((yield* Generate.generate(config("maze2d-umaze-v1", { size: 3000 }))).reused)
      }))

    it.effect("ensure: a pinned recipe wins over this machine's config; its file is kept while it matches, rebuilt when not", () =>
      Effect.gen(function*() {
        const store = yield* DatasetStore
        // Pin a 2000-row recipe; then ask for the same name with a config that would build 3000 rows.
        const pinnedDir = join(outDir, "pinned")
        const built = yield* Generate.generate(config("maze2d-umaze-v1", { size: 2000, outDir: join(outDir, "pin-src") }))
        yield* Effect.promise(() => mkdir(pinnedDir, { recursive: true }).then(() => copyFile(built.recipePath, join(pinnedDir, "maze2d-umaze-v1.recipe.json"))))
        const target = join(outDir, "ensured")
        const first = yield* Generate.ensure(config("maze2d-umaze-v1", { size: 3000, outDir: target }), pinnedDir)
        assert.isFalse(first.reused)
        assert.strictEqual(first.summary.size, 2000)
        assert.isTrue(sameRows(yield* store.read(built.summary.path), yield* store.read(join(target, "maze2d-umaze-v1.hdf5"))))
        assert.isTrue((yield* Generate.ensure(config("maze2d-umaze-v1", { size: 3000, outDir: target }), pinnedDir)).reused)
        // A file built from another recipe is not the pinned data: rebuilt.
        yield* Generate.generate(config("maze2d-umaze-v1", { size: 1000, outDir: target }))
        const again = yield* Generate.ensure(config("maze2d-umaze-v1", { outDir: target }), pinnedDir)
        assert.isFalse(again.reused)
        assert.strictEqual(again.summary.size, 2000)
        // No pinned recipe: generate as configured.
        assert.strictEqual((yield* Generate.ensure(config("maze2d-umaze-v1", { size: 1500, outDir: target }), join(outDir, "none"))).summary.size, 1500)
      }))

    it.effect("locomotion: medium-expert = medium then expert; files reused without retraining; recipes regenerate", () =>
      Effect.gen(function*() {
        const store = yield* DatasetStore
        // 1200 rows: one complete 1000-step episode and a cut one per half
        const medium = yield* Generate.generate(config("halfcheetah-medium-v2", { size: 1200 }))
        const expert = yield* Generate.generate(config("halfcheetah-expert-v2", { size: 1200 }))
        const mixed = yield* Generate.generate(config("halfcheetah-medium-expert-v2", { size: 1200 }))
        assert.strictEqual(mixed.summary.size, medium.summary.size + expert.summary.size)
        const [m, e, me] = [
          yield* store.read(medium.summary.path),
          yield* store.read(expert.summary.path),
          yield* store.read(mixed.summary.path)
        ]
        const head = { ...me, observations: me.observations.subarray(0, m.observations.length) }
        assert.isTrue(sameArray(head.observations, m.observations))
        assert.isTrue(sameArray(me.observations.subarray(m.observations.length), e.observations))
        assert.isTrue(sameArray(me.actions, [...m.actions, ...e.actions]))
        assert.isTrue(sameArray(me.timeouts, [...m.timeouts, ...e.timeouts]))
        assert.strictEqual(me.metadata["medium/iteration"], medium.ars?.medium.iteration)
        assert.strictEqual(me.metadata["expert/iteration"], medium.ars?.expert.iteration)
        // ARS trained once: every dataset names the same run and checkpoints
        assert.deepStrictEqual(expert.ars, medium.ars)
        const runPath = Generate.arsRunPath(config("x"), "halfcheetah")
        const run = yield* Ars.load(runPath)
        assert.strictEqual(run?.history.length, 6)

        const inspected = yield* Generate.inspect(mixed.summary.path)
        const keys = new Map(inspected.keys.map((k) => [k.key, k]))
        assert.deepStrictEqual(keys.get("next_observations")?.shape, [2400, 17])
        assert.deepStrictEqual(keys.get("infos/qpos")?.shape, [2400, 9])
        assert.deepStrictEqual(keys.get("metadata/expert/policy/weights")?.shape, [6, 17])
        assert.strictEqual(inspected.task, "halfcheetah-v2")
        assert.strictEqual(inspected.episodes, 2)
        assert.strictEqual(inspected.unfinishedSteps, 200)
        assert.isDefined(inspected.normalizedScores)

        const again = yield* Generate.generate(config("halfcheetah-medium-expert-v2", { size: 1200 }))
        assert.isTrue(again.reused)
        const copy = join(outDir, "copy", "halfcheetah-medium-expert-v2.hdf5")
        yield* Generate.regenerate(mixed.recipePath, { outPath: copy })
        assert.isTrue(sameRows(me, yield* store.read(copy)))
      }))

    it.effect("medium-replay: ARS's training rollouts before the medium checkpoint, all or a whole-rollout sample", () =>
      Effect.gen(function*() {
        const all = yield* Generate.generate(config("halfcheetah-medium-replay-v2", { size: 100_000 }))
        const m = all.ars?.medium.iteration ?? 0
        assert.isAbove(m, 0)
        // every rollout of iterations [0, m): 2N = 8 rollouts of 50 steps each, each ending in a (horizon) timeout
        assert.strictEqual(all.summary.size, 8 * 50 * m)
        assert.strictEqual(all.summary.episodes, 8 * m)
        assert.strictEqual(all.summary.timeouts, 8 * m)
        const recipe = yield* JsonFile.read(all.recipePath, Recipes.Recipe)
        assert.strictEqual(recipe?.kind === "locomotion" && recipe.parts[0].kind === "replay" && recipe.parts[0].iterations, m)
        const sample = yield* Generate.generate(config("halfcheetah-medium-replay-v2", { size: 120 }))
        assert.strictEqual(sample.summary.size, 100)
        assert.strictEqual(sample.summary.episodes, 2)
        const store = yield* DatasetStore
        const copy = join(outDir, "copy", "halfcheetah-medium-replay-v2.hdf5")
        yield* Generate.regenerate(sample.recipePath, { outPath: copy })
        assert.isTrue(sameRows(yield* store.read(sample.summary.path), yield* store.read(copy)))
      }))
  })
})
