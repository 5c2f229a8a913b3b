/**
 * Policy-Guided Diffusion's offline stages end to end on the tiny Pendulum dataset (1600 transitions, CPU backend,
 * tiny networks, a few dozen steps):
 *   - `trainTrajectory` writes trajectory.safetensors; killed after its first checkpoint and resumed, it ends with
 *     the same tensors as a run in one go;
 *   - `trainSynthetic` for TD3+BC and IQL on PGD data, killed between two regenerations and resumed, ends with the
 *     same tensors (agent, critic, Adam moments and the guide copy) as a run in one go: the resumed run regenerates
 *     the same data;
 *   - all four agents train, `evaluate` runs td3bc-unguided, td3bc-pgd, iql-unguided and iql-pgd (none of them a
 *     default method) and writes their result files; the Agent service acts with each from the run directory;
 *   - a dataset too short for one window fails with `TrajectoriesTooShort`.
 */
import { mkdtemp, readdir } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { expect } from "vitest"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import * as Offline from "../../src/programs/Offline.ts"
import * as OfflinePgd from "../../src/programs/OfflinePgd.ts"
import * as SyntheticExperience from "../../src/rl/SyntheticExperience.ts"
import * as Agent from "../../src/services/Agent.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { Progress } from "../../src/services/Progress.ts"
import { OBSERVATION_DIM, offlineLayers, pendulumDatasetByEpisode, tinyConfig } from "../fixtures/TinyRun.ts"

/** A Progress whose tracker dies when a loop reports step `at`: a kill after the checkpoint before it. */
const killedAt = (at: number) =>
  Layer.succeed(Progress, Progress.of({
    start: () => Effect.succeed({ update: (done: number) => (done === at ? Effect.die(new Error(`killed at ${done}`)) : Effect.void) })
  }))

const STEPS = 30

const configIn = (dir: string) =>
  Effect.map(tinyConfig(dir, STEPS), (c) =>
    new Offline.OfflineConfig({
      ...c, checkpointEvery: 10, logEvery: 10,
      pgd: SyntheticExperience.pgdConfig({
        model: { width: 8, depth: 2, groups: 4, steps: STEPS, batch: 8, edm: { steps: 4 } },
        windowLength: 8, stride: 8, rolloutLength: 8, trajectories: 6, sampleBatch: 4,
        regenerateEvery: 7, syntheticShare: 0.5, guidance: { coefficient: 0.5 }
      }),
      evaluation: { ...c.evaluation, episodes: 2, methods: [...SyntheticExperience.SyntheticMethods] }
    }))

const tensors = (saved: { readonly tensors: ReadonlyArray<{ readonly name: string; readonly data: unknown }> }) =>
  new Map(saved.tensors.map((t) => [t.name, Array.from(t.data as Float32Array)]))

const sameCheckpoint = (path: string, other: string) =>
  Effect.gen(function*() {
    const checkpoints = yield* Checkpoints
    const [a, b] = [yield* checkpoints.load(path), yield* checkpoints.load(other)]
    expect(b.header.step).toBe(a.header.step)
    const [ta, tb] = [tensors(a), tensors(b)]
    expect([...tb.keys()].sort()).toEqual([...ta.keys()].sort())
    for (const [name, values] of ta) expect(tb.get(name), name).toEqual(values)
  })

it.effect("trains the trajectory model and PGD's agents resumably, evaluates and serves them", () =>
  Effect.gen(function*() {
    const store = yield* DatasetStore
    const whole = yield* configIn(yield* Effect.promise(() => mkdtemp(join(tmpdir(), "offline-pgd-"))))
    const split = yield* configIn(yield* Effect.promise(() => mkdtemp(join(tmpdir(), "offline-pgd-"))))
    for (const c of [whole, split]) yield* store.write(c.dataset, pendulumDatasetByEpisode())

    // The synthetic stage needs the trajectory model first: a CheckpointError naming it.
    const missing = yield* Effect.flip(OfflinePgd.trainSynthetic(whole, "td3bc", "pgd"))
    expect(missing).toMatchObject({ _tag: "CheckpointError", path: OfflinePgd.trajectoryPath(whole) })

    // In one go, and killed at step 20 (after the checkpoint at 10) then resumed.
    yield* OfflinePgd.trainTrajectory(whole)
    const killed = yield* Effect.exit(OfflinePgd.trainTrajectory(split).pipe(Effect.provide(killedAt(20))))
    expect(Exit.isFailure(killed)).toBe(true)
    expect((yield* (yield* Checkpoints).load(OfflinePgd.trajectoryPath(split))).header.step).toBe(10)
    yield* OfflinePgd.trainTrajectory(split)
    yield* sameCheckpoint(OfflinePgd.trajectoryPath(whole), OfflinePgd.trajectoryPath(split))

    // Synthetic runs: killed at 20 (checkpoint 10 lies inside generation 1, which began at step 7 guided by the
    // actor of step 7), resumed to 30: the same tensors as in one go.
    for (const agent of SyntheticExperience.SyntheticAgents) {
      const method = SyntheticExperience.methodOf(agent, "pgd")
      yield* OfflinePgd.trainSynthetic(whole, agent, "pgd")
      const stopped = yield* Effect.exit(OfflinePgd.trainSynthetic(split, agent, "pgd").pipe(Effect.provide(killedAt(20))))
      expect(Exit.isFailure(stopped), method).toBe(true)
      yield* OfflinePgd.trainSynthetic(split, agent, "pgd")
      const path = Agent.runFiles(whole.runDir).synthetic(method)
      yield* sameCheckpoint(path, Agent.runFiles(split.runDir).synthetic(method))
      const saved = tensors(yield* (yield* Checkpoints).load(path))
      // The guide is the actor of step 28 (generation 4 began there), not the final actor nor the initial one.
      expect(saved.get("guide/params")).not.toEqual(saved.get("actor/params"))
      yield* OfflinePgd.trainSynthetic(whole, agent, "unguided")
    }
    const files = (yield* Effect.promise(() => readdir(whole.runDir))).sort()
    expect(files).toEqual(["iql-pgd.safetensors", "iql-unguided.safetensors", "td3bc-pgd.safetensors", "td3bc-unguided.safetensors", "trajectory.safetensors"])
    // The PGD runs differ from the unguided ones (the guided generations differ), both started from the same generation 0.
    const checkpoints = yield* Checkpoints
    const pgd = tensors(yield* checkpoints.load(join(whole.runDir, "td3bc-pgd.safetensors")))
    const unguided = tensors(yield* checkpoints.load(join(whole.runDir, "td3bc-unguided.safetensors")))
    expect(pgd.get("actor/params")).not.toEqual(unguided.get("actor/params"))

    // Evaluation of the four methods, and acting through the Agent service.
    for (const m of SyntheticExperience.SyntheticMethods) expect(Offline.DefaultMethods).not.toContain(m)
    const results = yield* Offline.evaluate(whole)
    expect(results.map((r) => r.method).sort()).toEqual(["data", "iql-pgd", "iql-unguided", "td3bc-pgd", "td3bc-unguided"])
    for (const r of results) expect(Number.isFinite(r.returnMean)).toBe(true)
    for (const method of SyntheticExperience.SyntheticMethods) {
      const actions = yield* Effect.scoped(Effect.gen(function*() {
        const agent = yield* Agent.load({ runDir: whole.runDir, method })
        expect(agent.info).toMatchObject({ method, observationDim: OBSERVATION_DIM, actionDim: 1, checkpointStep: STEPS, generatesWeights: false })
        return yield* agent.act([1, 0, 0, 0, 1, 2])
      }))
      expect(actions.length).toBe(2)
      for (const a of actions) expect(Math.abs(a)).toBeLessThanOrEqual(1)
    }
  }).pipe(Effect.provide(offlineLayers)), 300_000)

it.effect("a dataset too short for one window is a TrajectoriesTooShort error", () =>
  Effect.gen(function*() {
    const c = yield* configIn(yield* Effect.promise(() => mkdtemp(join(tmpdir(), "offline-pgd-"))))
    yield* (yield* DatasetStore).write(c.dataset, pendulumDatasetByEpisode())
    const long = new Offline.OfflineConfig({ ...c, pgd: new SyntheticExperience.PgdConfig({ ...c.pgd, windowLength: 256 }) })
    const error = yield* Effect.flip(OfflinePgd.trainTrajectory(long))
    expect(error).toMatchObject({ _tag: "TrajectoriesTooShort", windowLength: 256, longestEpisode: 200 })
  }).pipe(Effect.provide(offlineLayers)))
