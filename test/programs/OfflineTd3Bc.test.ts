/**
 * TD3+BC in the offline pipeline on the tiny Pendulum run of the fixture (CPU backend): `trainTd3Bc` writes
 * td3bc.safetensors, and a run stopped halfway and resumed ends bit-identical to one trained in one go (the
 * normaliser, both targets and the Adam moments travel in the checkpoint; batches and noise are keyed by the step);
 * `evaluate` runs method td3bc (not in the default methods) and writes its result file; the Agent service loads
 * it from the run directory alone and its actions are tanh(MLP((s − mean)/(std + 1e-3))) computed here in f64 from
 * the checkpoint's numbers and the dataset's own statistics. Without the checkpoint, evaluation fails with a
 * CheckpointError naming the file.
 */
import { mkdtemp, readdir } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { expect } from "vitest"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import * as Mlp from "../../src/nn/Mlp.ts"
import * as Parameters from "../../src/nn/Parameters.ts"
import * as Offline from "../../src/programs/Offline.ts"
import * as OfflineData from "../../src/rl/OfflineData.ts"
import * as Agent from "../../src/services/Agent.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { ACTION_DIM, OBSERVATION_DIM, offlineLayers, pendulumDataset, tinyConfig } from "../fixtures/TinyRun.ts"

const HIDDEN = 16
const STEPS = 40

const configIn = (dir: string, steps: number, checkpointEvery: number) =>
  Effect.map(tinyConfig(dir, steps), (c) =>
    new Offline.OfflineConfig({
      ...c, checkpointEvery, logEvery: 10,
      td3bc: { ...c.td3bc, steps },
      evaluation: { ...c.evaluation, episodes: 2, methods: ["td3bc"] }
    }))

const tensor = (saved: { readonly tensors: ReadonlyArray<{ readonly name: string; readonly data: unknown }> }, name: string) =>
  saved.tensors.find((t) => t.name === name)!.data as Float32Array

it.effect("trains TD3+BC (resumably), evaluates it and serves it through the Agent service", () =>
  Effect.gen(function*() {
    const store = yield* DatasetStore
    const checkpoints = yield* Checkpoints
    // In one go.
    const whole = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "offline-td3bc-")))
    const config = yield* configIn(whole, STEPS, STEPS)
    yield* store.write(config.dataset, pendulumDataset())
    const missing = yield* Effect.flip(Offline.evaluate(config))
    expect(missing).toMatchObject({ _tag: "CheckpointError", path: join(config.runDir, "td3bc.safetensors") })
    yield* Offline.trainTd3Bc(config)
    const files = yield* Effect.promise(() => readdir(config.runDir))
    expect(files).toEqual(["td3bc.safetensors"])

    // Stopped at step 20, then resumed to 40: the same checkpoint tensors as in one go.
    const split = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "offline-td3bc-")))
    const first = yield* configIn(split, STEPS / 2, 10)
    yield* store.write(first.dataset, pendulumDataset())
    yield* Offline.trainTd3Bc(first)
    yield* Offline.trainTd3Bc(yield* configIn(split, STEPS, 10))
    const a = yield* checkpoints.load(join(config.runDir, "td3bc.safetensors"))
    const b = yield* checkpoints.load(join(first.runDir, "td3bc.safetensors"))
    expect(b.header.step).toBe(STEPS)
    expect(b.tensors.map((t) => t.name).sort()).toEqual(a.tensors.map((t) => t.name).sort())
    for (const t of a.tensors) expect(tensor(b, t.name), t.name).toEqual(t.data)

    // Evaluation: method td3bc only when asked for.
    expect(Offline.DefaultMethods).not.toContain("td3bc")
    const results = yield* Offline.evaluate(config)
    expect(results.map((r) => r.method).sort()).toEqual(["data", "td3bc"])
    const td3bc = results.find((r) => r.method === "td3bc")!
    expect(td3bc.episodes).toBe(2)
    expect(td3bc.returnMean).toBeLessThanOrEqual(0)
    expect(td3bc.returnMean).toBeGreaterThan(-16.3 * 200)
    expect((yield* Effect.promise(() => readdir(join(config.resultsDir, config.task)))).sort()).toEqual(["data-seed0.json", "td3bc-seed0.json"])

    // The Agent service: actions from the checkpoint alone, against an f64 forward pass with the data's statistics.
    const observations = Float64Array.from([1, 0, 0, 0, 1, 2, -1, 0, -3, 0.6, -0.8, 5])
    const actions = yield* Effect.scoped(Effect.gen(function*() {
      const agent = yield* Agent.load({ runDir: config.runDir, method: "td3bc" })
      expect(agent.info).toMatchObject({ method: "td3bc", observationDim: OBSERVATION_DIM, actionDim: ACTION_DIM, checkpointStep: STEPS, generatesWeights: false })
      const invalid = yield* Effect.flip(agent.act(observations, { temperature: 1 }))
      expect(invalid.reason).toMatchObject({ _tag: "InvalidActOptions", detail: "td3bc takes no options, not temperature" })
      return yield* agent.act(observations)
    }))
    const train = OfflineData.prepare(pendulumDataset(), "none", 0).train
    const { mean, std } = OfflineDataset.observationStatistics(train)
    const flat = tensor(a, "actor/params")
    const layout = Parameters.layout(Mlp.specs("pi", { inputs: OBSERVATION_DIM, widths: [HIDDEN, HIDDEN, ACTION_DIM], activation: "relu" }))
    const at = (name: string) => layout.offsets[layout.specs.findIndex((s) => s.name === name)]
    const dense = (x: ReadonlyArray<number>, layer: number, rows: number, cols: number, relu: boolean) =>
      Array.from({ length: cols }, (_, j) => {
        let sum = flat[at(`pi.${layer}.b`) + j]
        for (let i = 0; i < rows; i++) sum += x[i] * flat[at(`pi.${layer}.w`) + i * cols + j]
        return relu ? Math.max(sum, 0) : sum
      })
    const forward = (normalise: boolean) =>
      Array.from({ length: observations.length / OBSERVATION_DIM }, (_, r) => {
        const s = Array.from({ length: OBSERVATION_DIM }, (_, j) => {
          const x = observations[r * OBSERVATION_DIM + j]
          return normalise ? (x - mean[j]) / (std[j] + 1e-3) : x
        })
        return dense(dense(dense(s, 0, OBSERVATION_DIM, HIDDEN, true), 1, HIDDEN, HIDDEN, true), 2, HIDDEN, ACTION_DIM, false).map(Math.tanh)
      }).flat()
    const expected = forward(true)
    actions.forEach((x, i) => expect(x).toBeCloseTo(expected[i], 5))
    // Trained, not the initialisation; and the normaliser matters: without it the actions differ.
    expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(1e-3)
    expect(Math.max(...forward(false).map((x, i) => Math.abs(x - expected[i])))).toBeGreaterThan(1e-3)
  }).pipe(Effect.provide(offlineLayers)), 120_000)
