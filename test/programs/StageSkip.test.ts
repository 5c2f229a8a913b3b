/**
 * Every offline stage skips a finished checkpoint only when it was trained with the current config: with another
 * config it fails with ConfigChanged naming the checkpoint and the field, without loading data or retraining (the
 * dataset here does not exist, so any attempt to train would fail otherwise); with the same config, or one that
 * differs only in exempt fields (a larger step count in the checkpoint, an acting-only setting), it is skipped.
 */
import { mkdtemp, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { describe, expect } from "vitest"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import * as Offline from "../../src/programs/Offline.ts"
import * as OfflinePgd from "../../src/programs/OfflinePgd.ts"
import type * as StageConfig from "../../src/programs/StageConfig.ts"
import * as StageInputs from "../../src/programs/StageInputs.ts"
import * as Agent from "../../src/services/Agent.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { Progress } from "../../src/services/Progress.ts"
import { tinyConfig } from "../fixtures/TinyRun.ts"

const layers = Layer.mergeAll(Backend.layerCpu, Checkpoints.layer, Progress.layerSilent, DatasetStore.layer)
const STEPS = 20

type Json = { readonly [key: string]: unknown }
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)
const merge = (base: unknown, patch: unknown): unknown =>
  isObject(base) && isObject(patch) ? { ...base, ...Object.fromEntries(Object.entries(patch).map(([k, v]) => [k, merge(base[k], v)])) } : patch

/** The config with `patch` merged into its encoded form. */
const patched = (c: Offline.OfflineConfig, patch: Json) =>
  Schema.decodeUnknownSync(Offline.OfflineConfig)(merge(Schema.encodeSync(Offline.OfflineConfig)(c), patch))

/**
 * A finished checkpoint (no tensors: a skip reads only the header) of `steps` steps trained with `stage`, from the
 * checkpoints at `inputs` as they are now (none recorded when undefined: a checkpoint from before inputs were).
 */
const writeCheckpoint = (path: string, stage: StageConfig.StageConfig, steps: number, inputs?: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const recorded = inputs === undefined ? {} : { inputs: yield* StageInputs.record(inputs) }
    yield* Checkpoints.use((checkpoints) =>
      checkpoints.save(path, {
        header: {
          format: "dgrl-checkpoint/1", architecture: {}, config: stage.encoded, step: steps, rng: { seed: 0, counter: steps }, createdBy: "test",
          ...recorded
        },
        tensors: []
      }))
  })

interface Case {
  readonly stage: string
  /** The stage's last checkpoint and its config. */
  readonly last: (c: Offline.OfflineConfig) => { readonly path: string; readonly config: StageConfig.StageConfig }
  readonly train: (c: Offline.OfflineConfig) => Effect.Effect<void, unknown, Checkpoints | Backend | Progress | DatasetStore>
  /** A change of a trained setting, and the field it names. */
  readonly change: Json
  readonly field: string
  /** A change the stage must not care about (exempt), and the checkpoint's steps beyond the config's. */
  readonly exempt: Json
}

const file = (name: string) => (c: Offline.OfflineConfig) => join(c.runDir, name)
const cases: ReadonlyArray<Case> = [
  { stage: "critic", last: (c) => ({ path: file("critic.safetensors")(c), config: Offline.criticStage(c) }), train: Offline.trainCritic,
    change: { critic: { valueLayerNorm: "hidden" } }, field: "valueLayerNorm", exempt: { evaluation: { episodes: 3 } } },
  { stage: "swg", last: (c) => ({ path: file("swg.safetensors")(c), config: Offline.swgStage(c) }), train: Offline.trainSwg,
    change: { swg: { lrDecaySteps: 7 } }, field: "lrDecaySteps", exempt: { swg: { weightClip: "data-range" } } },
  { stage: "iql", last: (c) => ({ path: file("iql-actor.safetensors")(c), config: Offline.iqlStage(c) }), train: Offline.trainIql,
    change: { iql: { beta: 10 } }, field: "beta", exempt: {} },
  { stage: "qgpo", last: (c) => ({ path: file("qgpo.safetensors")(c), config: Offline.qgpoEnergyStage(c) }), train: Offline.trainQgpo,
    change: { qgpo: { energyHiddenLayers: 4 } }, field: "energyHiddenLayers", exempt: { qgpo: { guidanceScale: 8, temperature: 0.5 } } },
  { stage: "d-dice", last: (c) => ({ path: file("dice-guidance.safetensors")(c), config: Offline.diceGuidanceStage(c) }), train: Offline.trainDice,
    change: { dice: { agent: { copies: 8 } } }, field: "copies", exempt: { dice: { candidates: 5, guidanceScale: 2 } } },
  { stage: "td3bc", last: (c) => ({ path: file("td3bc.safetensors")(c), config: Offline.td3bcStage(c) }), train: Offline.trainTd3Bc,
    change: { td3bc: { alpha: 1 } }, field: "alpha", exempt: {} },
  { stage: "trajectory", last: (c) => ({ path: OfflinePgd.trajectoryPath(c), config: OfflinePgd.trajectoryStage(c) }), train: OfflinePgd.trainTrajectory,
    change: { pgd: { model: { width: 64 } } }, field: "model.width", exempt: { pgd: { syntheticShare: 0.5, model: { edm: { steps: 8 } } } } },
  { stage: "td3bc-pgd", last: (c) => ({ path: Agent.runFiles(c.runDir).synthetic("td3bc-pgd"), config: OfflinePgd.syntheticStage(c, "td3bc") }),
    train: (c) => OfflinePgd.trainSynthetic(c, "td3bc", "pgd"), change: { pgd: { syntheticShare: 0.5 } }, field: "pgd.syntheticShare", exempt: {} },
  { stage: "iql-unguided", last: (c) => ({ path: Agent.runFiles(c.runDir).synthetic("iql-unguided"), config: OfflinePgd.syntheticStage(c, "iql") }),
    train: (c) => OfflinePgd.trainSynthetic(c, "iql", "unguided"), change: { critic: { tau: 0.9 } }, field: "critic.tau", exempt: {} }
]

describe("a finished stage", () => {
  for (const k of cases) {
    it.effect(`${k.stage}: another config is ConfigChanged naming the checkpoint and field; the same or an exempt change is skipped`, () =>
      Effect.gen(function*() {
        const tiny = yield* tinyConfig(yield* Effect.promise(() => mkdtemp(join(tmpdir(), "stage-skip-"))), STEPS)
        const c = patched(tiny, { pgd: { model: { steps: STEPS } } })
        const { path, config } = k.last(c)
        // the checkpoint holds more steps than asked: still finished (steps are exempt)
        yield* writeCheckpoint(path, config, STEPS + 5)
        const bytes = yield* Effect.promise(() => readFile(path))
        yield* k.train(c)
        yield* k.train(patched(c, k.exempt))
        const error = yield* Effect.flip(k.train(patched(c, k.change)))
        expect(error).toMatchObject({ _tag: "ConfigChanged", path, field: k.field })
        expect((error as Error).message).toContain("--fresh retrains the stage")
        // nothing was retrained or rewritten
        expect(yield* Effect.promise(() => readFile(path))).toEqual(bytes)
      }).pipe(Effect.provide(layers)))
  }

  it.effect("an earlier part of a stage (QGPO's Q, the D-DICE critic) trained with another config fails the skip too", () =>
    Effect.gen(function*() {
      const c = yield* tinyConfig(yield* Effect.promise(() => mkdtemp(join(tmpdir(), "stage-skip-"))), STEPS)
      yield* writeCheckpoint(join(c.runDir, "qgpo.safetensors"), Offline.qgpoEnergyStage(c), STEPS)
      yield* writeCheckpoint(join(c.runDir, "qgpo-q.safetensors"), Offline.qgpoQStage(patched(c, { qgpo: { qLr: 1e-3 } })), STEPS)
      expect(yield* Effect.flip(Offline.trainQgpo(c))).toMatchObject({ _tag: "ConfigChanged", path: join(c.runDir, "qgpo-q.safetensors"), field: "qLr" })
      // a Q trained before the energy network's depth was renamed (energyLayers → energyHiddenLayers) is still the Q asked for,
      // an energy network trained then is not (its depth meant another count)
      const q = Offline.qgpoQStage(c)
      const withOldKey = (stage: StageConfig.StageConfig) => ({ ...stage, encoded: { ...(stage.encoded as object), energyLayers: 4 } })
      yield* writeCheckpoint(join(c.runDir, "qgpo-q.safetensors"), withOldKey(q), STEPS)
      yield* Offline.trainQgpo(c)
      yield* writeCheckpoint(join(c.runDir, "qgpo.safetensors"), withOldKey(Offline.qgpoEnergyStage(c)), STEPS)
      expect(yield* Effect.flip(Offline.trainQgpo(c))).toMatchObject({ _tag: "ConfigChanged", path: join(c.runDir, "qgpo.safetensors"), field: "energyLayers" })
      yield* writeCheckpoint(join(c.runDir, "dice-guidance.safetensors"), Offline.diceGuidanceStage(c), STEPS)
      yield* writeCheckpoint(join(c.runDir, "dice-critic.safetensors"), Offline.diceCriticStage(patched(c, { dice: { critic: { valueLayerNorm: "input" } } })), STEPS)
      expect(yield* Effect.flip(Offline.trainDice(c))).toMatchObject({
        _tag: "ConfigChanged", path: join(c.runDir, "dice-critic.safetensors"), field: "valueLayerNorm", checkpoint: `"input"`, current: "absent"
      })
    }).pipe(Effect.provide(layers)))

  it.effect("a finished stage whose input checkpoint was retrained since is InputChanged naming both; unchanged or unrecorded inputs are skipped", () =>
    Effect.gen(function*() {
      const tiny = yield* tinyConfig(yield* Effect.promise(() => mkdtemp(join(tmpdir(), "stage-inputs-"))), STEPS)
      const c = patched(tiny, { pgd: { model: { steps: STEPS } } })
      const at = (name: string) => join(c.runDir, name)
      // each stage, the checkpoint it was trained from, and that input's own stage config
      const chains: ReadonlyArray<{
        readonly last: StageConfig.StageConfig & { readonly path: string }
        readonly input: string
        readonly inputStage: StageConfig.StageConfig
        readonly train: Effect.Effect<void, unknown, Checkpoints | Backend | Progress | DatasetStore>
        readonly others?: ReadonlyArray<readonly [string, StageConfig.StageConfig]>
      }> = [
        { last: { path: at("swg.safetensors"), ...Offline.swgStage(c) }, input: at("critic.safetensors"), inputStage: Offline.criticStage(c), train: Offline.trainSwg(c) },
        { last: { path: at("iql-actor.safetensors"), ...Offline.iqlStage(c) }, input: at("critic.safetensors"), inputStage: Offline.criticStage(c), train: Offline.trainIql(c) },
        {
          last: { path: at("qgpo.safetensors"), ...Offline.qgpoEnergyStage(c) }, input: at("swg.safetensors"), inputStage: Offline.swgStage(c), train: Offline.trainQgpo(c),
          others: [["qgpo-q.safetensors", Offline.qgpoQStage(c)]]
        },
        {
          last: { path: at("dice-guidance.safetensors"), ...Offline.diceGuidanceStage(c) }, input: at("dice-critic.safetensors"), inputStage: Offline.diceCriticStage(c),
          train: Offline.trainDice(c), others: [["dice-behaviour.safetensors", Offline.diceBehaviourStage(c)]]
        },
        {
          last: { path: Agent.runFiles(c.runDir).synthetic("td3bc-pgd"), ...OfflinePgd.syntheticStage(c, "td3bc") }, input: OfflinePgd.trajectoryPath(c),
          inputStage: OfflinePgd.trajectoryStage(c), train: OfflinePgd.trainSynthetic(c, "td3bc", "pgd")
        }
      ]
      for (const k of chains) {
        yield* writeCheckpoint(k.input, k.inputStage, STEPS)
        for (const [name, stage] of k.others ?? []) yield* writeCheckpoint(at(name), stage, STEPS, [k.input])
        yield* writeCheckpoint(k.last.path, k.last, STEPS, [k.input, ...(k.others ?? []).map(([name]) => at(name))])
        // the input as it was: skipped (the dataset does not exist, so any training would fail)
        yield* k.train
        // the input retrained since (here: one more step in its header): the stage is not skipped, and says why
        yield* writeCheckpoint(k.input, k.inputStage, STEPS + 1)
        const error = yield* Effect.flip(k.train)
        expect(error).toMatchObject({ _tag: "InputChanged", input: k.input })
        expect([k.last.path, ...(k.others ?? []).map(([name]) => at(name))]).toContain((error as StageInputs.InputChanged).path)
        expect((error as Error).message).toContain("--fresh retrains this stage")
        // a checkpoint from before inputs were recorded cannot be checked: skipped as before
        yield* writeCheckpoint(k.last.path, k.last, STEPS)
        for (const [name, stage] of k.others ?? []) yield* writeCheckpoint(at(name), stage, STEPS)
        yield* k.train
      }
    }).pipe(Effect.provide(layers)))

  it.effect("with resume off (--fresh) the checkpoint is not consulted: the stage trains (here: fails on the missing dataset)", () =>
    Effect.gen(function*() {
      const c = yield* tinyConfig(yield* Effect.promise(() => mkdtemp(join(tmpdir(), "stage-skip-"))), STEPS)
      yield* writeCheckpoint(join(c.runDir, "td3bc.safetensors"), Offline.td3bcStage(patched(c, { td3bc: { alpha: 1 } })), STEPS)
      expect(yield* Effect.flip(Offline.trainTd3Bc(patched(c, { resume: false })))).toMatchObject({ _tag: "DatasetError" })
    }).pipe(Effect.provide(layers)))
})
