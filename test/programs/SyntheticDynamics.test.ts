/**
 * The dynamics-error report of synthetic trajectories on a tiny hopper dataset (6 episodes of 24 steps of small
 * random actions recorded from mujoco-js, stored as float32 as D4RL files are; CPU backend, a trajectory model of a
 * few steps, TD3+BC of a few steps as the target, a dynamics ensemble of a few steps): the real windows give ≈ 0
 * error at every position (the state setter's check), the samples and rollouts of barely trained models far larger ones, the table has one row per
 * position and the plot and metrics are written. An unknown target is `UnknownTargetPolicy`; a task without a
 * simulator state is `NoSimulatorState`.
 */
import { mkdtemp, readdir } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { expect } from "vitest"
import * as Offline from "../../src/programs/Offline.ts"
import * as SyntheticDynamics from "../../src/programs/SyntheticDynamics.ts"
import * as SyntheticExperience from "../../src/rl/SyntheticExperience.ts"
import { Plots } from "../../src/services/Plots.ts"
import { trainHopperRun } from "../fixtures/TinyHopper.ts"
import { offlineLayers } from "../fixtures/TinyRun.ts"

const layers = Layer.mergeAll(offlineLayers, Plots.layer)

it.effect("dynamics error by position: real windows ≈ 0, synthetic ones not; typed errors", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "synthetic-dynamics-")))
    const c = yield* trainHopperRun(dir)
    const out = join(dir, "report")
    const config = Schema.decodeUnknownSync(SyntheticDynamics.SyntheticDynamicsConfig)({
      trajectories: 6, target: "td3bc", outDir: out, lambda: 0.5, ensemble: { members: 2, hidden: 16, steps: 20, batch: 32 }
    })
    const sources = yield* SyntheticDynamics.syntheticDynamics(c, config)
    expect(sources.map((s) => s.source)).toEqual(["real data", "unguided", "PGD", "MLP ensemble"])
    const [real, unguided, pgd, ensemble] = sources
    for (const s of sources) expect(s.byPosition).toHaveLength(7)
    // float32 observations: rounding only (DynamicsError's own test bounds it by 1e-9 per transition).
    for (const p of real.byPosition) expect(p.mean).toBeLessThan(1e-9)
    expect(unguided.mean).toBeGreaterThan(1e3 * Math.max(real.mean, 1e-12))
    expect(pgd.mean).toBeGreaterThan(1e3 * Math.max(real.mean, 1e-12))
    // The ensemble's rollouts start at the real windows' first states: a barely trained model errs from the first step.
    expect(ensemble.byPosition[0].mean).toBeGreaterThan(1e3 * Math.max(real.mean, 1e-12))
    expect((yield* Effect.promise(() => readdir(c.runDir))).sort()).toEqual(["dynamics-ensemble.safetensors", "td3bc.safetensors", "trajectory.safetensors"])
    expect((yield* Effect.promise(() => readdir(out))).sort()).toEqual(["dynamics-error.png", "dynamics-error.svg", "metrics.json", "metrics.md"])
    const markdown = SyntheticDynamics.table(sources)
    expect(markdown.split("\n").filter((l) => /^\| \d+ \|/.test(l))).toHaveLength(7)

    const unknown = yield* Effect.flip(SyntheticDynamics.syntheticDynamics(c, new SyntheticDynamics.SyntheticDynamicsConfig({ ...config, target: "sac" })))
    expect(unknown).toMatchObject({ _tag: "UnknownTargetPolicy", target: "sac" })
    expect(unknown.message).toContain("td3bc-pgd")
    const pendulum = new Offline.OfflineConfig({ ...c, task: "pendulum-noisy" })
    expect(yield* Effect.flip(SyntheticDynamics.syntheticDynamics(pendulum, config))).toMatchObject({ _tag: "NoSimulatorState" })
    expect(SyntheticExperience.SyntheticMethods.every((m) => (SyntheticDynamics.TargetPolicies as ReadonlyArray<string>).includes(m))).toBe(true)
  }).pipe(Effect.provide(layers)), 120_000)
