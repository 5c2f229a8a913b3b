/**
 * The λ measurement of Policy-Guided Diffusion (`pgd-likelihood`) on the tiny Pendulum dataset (CPU backend, a
 * trajectory model and TD3+BC of a few dozen steps):
 *   - one row for the real windows and one per λ, each with its per-position means; metrics.json and metrics.md;
 *   - the real row is the mean of −½(a − μ(s))² − ½·log 2π over the picked windows' transitions, recomputed here on
 *     the host from TD3+BC's own actions;
 *   - λ = 0 is the paired baseline (difference exactly 0) and the guided rows raise the log-likelihood over it;
 *   - Pendulum has no simulator state: the dynamics error is left out (null), not an error; on a tiny hopper dataset
 *     (test/fixtures/TinyHopper.ts) the real windows' transitions are rebuilt by the simulator (error ≈ 0, none at the
 *     velocity clip) and the samples of a barely trained model are not;
 *   - typed errors: a missing checkpoint is `MissingStage` naming the file and the command that trains it, an unknown
 *     target `UnknownTargetPolicy`.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { describe, expect } from "vitest"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import * as Offline from "../../src/programs/Offline.ts"
import * as OfflinePgd from "../../src/programs/OfflinePgd.ts"
import * as PgdLikelihood from "../../src/programs/PgdLikelihood.ts"
import * as SyntheticExperience from "../../src/rl/SyntheticExperience.ts"
import * as Td3Bc from "../../src/rl/Td3Bc.ts"
import * as Agent from "../../src/services/Agent.ts"
import { Backend } from "../../src/services/Backend.ts"
import { trainHopperRun } from "../fixtures/TinyHopper.ts"
import { OBSERVATION_DIM, offlineLayers, pendulumDatasetByEpisode, tinyConfig } from "../fixtures/TinyRun.ts"

const STEPS = 30
const [TRAJECTORIES, ROLLOUT, WINDOW] = [24, 8, 16]

const configIn = (dir: string) =>
  Effect.map(tinyConfig(dir, STEPS), (c) =>
    new Offline.OfflineConfig({
      ...c, checkpointEvery: STEPS, logEvery: STEPS,
      pgd: SyntheticExperience.pgdConfig({
        model: { width: 8, depth: 2, groups: 4, steps: STEPS, batch: 8, edm: { steps: 6 } },
        windowLength: WINDOW, stride: 8, rolloutLength: ROLLOUT, sampleBatch: 8
      })
    }))

describe("pgd-likelihood", () => {
  it.effect("a row per λ and the real windows; real row recomputed by hand; guidance raises it; no simulator: no dynamics error; typed errors", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "pgd-likelihood-")))
      const c = yield* configIn(dir)
      yield* (yield* DatasetStore).write(c.dataset, pendulumDatasetByEpisode())
      const out = join(dir, "report")
      const p = Schema.decodeUnknownSync(PgdLikelihood.PgdLikelihoodConfig)({ trajectories: TRAJECTORIES, lambdas: [0, 0.3, 1], outDir: out })

      // Nothing trained: the target's checkpoint is named first, then the trajectory model's.
      const noTarget = yield* Effect.flip(PgdLikelihood.pgdLikelihood(c, p))
      expect(noTarget).toMatchObject({ _tag: "MissingStage", path: Agent.runFiles(c.runDir).td3bc })
      expect(noTarget.message).toContain("`npm run cli -- train-td3bc` and the same --task")
      yield* Offline.trainTd3Bc(c)
      const noModel = yield* Effect.flip(PgdLikelihood.pgdLikelihood(c, p))
      expect(noModel).toMatchObject({ _tag: "MissingStage", path: OfflinePgd.trajectoryPath(c) })
      expect(noModel.message).toContain("`npm run cli -- train-trajectory`")
      const noCritic = yield* Effect.flip(PgdLikelihood.pgdLikelihood(c, new PgdLikelihood.PgdLikelihoodConfig({ ...p, target: "iql" })))
      expect(noCritic).toMatchObject({ _tag: "MissingStage", path: Agent.runFiles(c.runDir).critic })
      expect(noCritic.message).toContain("`npm run cli -- train-critic`")
      expect(PgdLikelihood.stageCommand(c, Agent.runFiles(c.runDir).synthetic("iql-pgd"))).toBe("train-synthetic --agent iql --data pgd")
      const unknown = yield* Effect.flip(PgdLikelihood.pgdLikelihood(c, new PgdLikelihood.PgdLikelihoodConfig({ ...p, target: "sac" })))
      expect(unknown).toMatchObject({ _tag: "UnknownTargetPolicy", target: "sac" })

      yield* OfflinePgd.trainTrajectory(c)
      const rows = yield* PgdLikelihood.pgdLikelihood(c, p)
      expect(rows.map((r) => [r.source, r.lambda])).toEqual([["real data", null], ["generated", 0], ["generated", 0.3], ["generated", 1]])
      for (const r of rows) {
        expect(r.dynamicsError).toBeNull()
        expect(r.logLikelihood.count).toBe(TRAJECTORIES)
        expect(r.byPosition).toHaveLength((r.source === "real data" ? WINDOW : ROLLOUT) - 1)
        expect(r.logLikelihood.mean).toBeCloseTo(r.byPosition.reduce((a, b) => a + b, 0) / r.byPosition.length, 9)
      }
      const [real, unguided, ...guided] = rows

      // The real row by hand: the same evenly spaced windows, μ(s) from TD3+BC's act, rows t < WINDOW − 1.
      const { raw, data } = yield* OfflinePgd.trajectoryData(c)
      const run = yield* Agent.loadRun(c.runDir, ["td3bc"])
      const picked = PgdLikelihood.spacedWindows(data.train.count, TRAJECTORIES)
      expect(new Set(picked).size).toBe(TRAJECTORIES)
      expect(picked[TRAJECTORIES - 1]).toBeGreaterThan(data.train.count / 2)
      const indices = picked.flatMap((w) => Array.from({ length: WINDOW - 1 }, (_, t) => data.train.starts[w] + t))
      const observations = Float64Array.from(indices.flatMap((i) => Array.from(raw.observations.subarray(i * OBSERVATION_DIM, (i + 1) * OBSERVATION_DIM))))
      const mu = yield* Td3Bc.act(yield* Backend, run.td3bc!.agent, observations)
      const byHand = indices.reduce((s, i, j) => s - 0.5 * (raw.actions[i] - mu[j]) ** 2 - 0.5 * Math.log(2 * Math.PI), 0) / indices.length
      expect(real.logLikelihood.mean).toBeCloseTo(byHand, 5)

      // λ = 0 is its own baseline; guidance towards the target raises the target's log-likelihood of the same trajectories.
      expect(real.differenceFromUnguided).toBeNull()
      expect(unguided.differenceFromUnguided).toEqual({ mean: 0, standardError: 0, count: TRAJECTORIES })
      for (const g of guided) {
        const d = g.differenceFromUnguided!
        expect(d.mean).toBeCloseTo(g.logLikelihood.mean - unguided.logLikelihood.mean, 9)
        expect(d.mean, `λ = ${g.lambda}`).toBeGreaterThan(3 * d.standardError)
      }

      expect((yield* Effect.promise(() => readdir(out))).sort()).toEqual(["metrics.json", "metrics.md"])
      const json = JSON.parse(yield* Effect.promise(() => readFile(join(out, "metrics.json"), "utf8")))
      expect(json).toMatchObject({ task: "pendulum-noisy", target: "td3bc", trajectories: TRAJECTORIES, length: ROLLOUT })
      expect(json.rows).toHaveLength(4)
      const markdown = yield* Effect.promise(() => readFile(join(out, "metrics.md"), "utf8"))
      expect(markdown).toBe(PgdLikelihood.table(rows, "td3bc"))
      const lines = markdown.trim().split("\n")
      expect(lines).toHaveLength(2 + rows.length)
      for (const line of lines) expect(line.split(" | ")).toHaveLength(7)
    }).pipe(Effect.provide(offlineLayers)), 120_000)

  it.effect("hopper: the dynamics error of the same transitions, ≈ 0 for the real windows", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "pgd-likelihood-hopper-")))
      const c = yield* trainHopperRun(dir)
      const p = Schema.decodeUnknownSync(PgdLikelihood.PgdLikelihoodConfig)({ trajectories: 6, lambdas: [0, 0.5], outDir: join(dir, "report") })
      const [real, ...generated] = yield* PgdLikelihood.pgdLikelihood(c, p)
      // float32 observations: rounding only (DynamicsError's own test bounds it by 1e-9 per transition).
      expect(real.dynamicsError).toMatchObject({ atVelocityBound: 0, count: 6 })
      expect(real.dynamicsError!.mean).toBeLessThan(1e-9)
      expect(real.dynamicsError!.offBoundMean / real.dynamicsError!.mean).toBeCloseTo(1, 12)
      for (const g of generated) expect(g.dynamicsError!.mean).toBeGreaterThan(1e3 * Math.max(real.dynamicsError!.mean, 1e-12))
      const without = yield* PgdLikelihood.pgdLikelihood(c, new PgdLikelihood.PgdLikelihoodConfig({ ...p, withoutDynamics: true }))
      expect(without.map((r) => r.dynamicsError)).toEqual([null, null, null])
      expect(without.map((r) => r.logLikelihood)).toEqual([real, ...generated].map((r) => r.logLikelihood))
    }).pipe(Effect.provide(offlineLayers)), 120_000)
})
