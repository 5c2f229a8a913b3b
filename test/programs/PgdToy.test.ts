/**
 * The point-mass task's exact sampler against its closed form, and the `pgd-toy` program end to end at a
 * tiny size on the CPU backend: it writes the figure and metrics, the exact family orders as it must (the
 * target's log-likelihood rises with the exponent), and guidance raises the target's log-likelihood of the
 * model's actions over the unguided samples.
 */
import { mkdtemp, readFile, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Console, Effect, Layer, Schema } from "effect"
import { describe, expect } from "vitest"
import * as PointMass from "../../src/datagen/PointMass.ts"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as PgdToy from "../../src/programs/PgdToy.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Plots } from "../../src/services/Plots.ts"

const task: PointMass.PointMassTask = {
  gain: 0.15, behaviourGoal: [2, 0], targetGoal: [0, 2], behaviourStd: 0.1, targetStd: 0.2, startStd: 0.05, horizon: 8
}

describe("PointMass", () => {
  it("π_λ is the normalised product π_off·π_target^λ (checked on a grid in a) and rollouts follow s' = s + a", () => {
    const s = [0.3, -0.4]
    for (const lambda of [0, 0.5, 3]) {
      const { mean, std } = PointMass.productPolicy(task, lambda, s)
      // log π_off + λ·log π_target − log π_λ must be the same constant for every a.
      const offsets = [[-0.5, 0.1], [0.2, 0.3], [0.9, -0.7], [0, 0]].map((a) => {
        const logLambda = [0, 1].reduce((acc, k) => acc - 0.5 * ((a[k] - mean[k]) / std) ** 2 - Math.log(std) - 0.5 * Math.log(2 * Math.PI), 0)
        return PointMass.logLikelihood(task, task.behaviourGoal, task.behaviourStd, s, a) +
          lambda * PointMass.logLikelihood(task, task.targetGoal, task.targetStd, s, a) - logLambda
      })
      for (const o of offsets) expect(o).toBeCloseTo(offsets[0], 10)
    }
    const r = PointMass.rollouts(task, 1, 5, Rng.named(0, "r"))
    for (let i = 0; i < 5; i++) {
      for (let t = 0; t < 8; t++) {
        for (let k = 0; k < 2; k++) {
          expect(r.positions[(i * 9 + t + 1) * 2 + k]).toBeCloseTo(r.positions[(i * 9 + t) * 2 + k] + r.actions[(i * 8 + t) * 2 + k], 12)
        }
      }
    }
  })

  it("behaviour data: one window per episode (horizon + 1 steps ending in a timeout)", () => {
    const ds = PointMass.behaviourDataset(task, 6, Rng.named(0, "d"))
    const episodes = OfflineDataset.episodes(ds)
    expect(episodes.length).toBe(6)
    expect(episodes.every((e) => e.end - e.start === 9 && e.timeout && !e.terminal)).toBe(true)
  })
})

const layers = Layer.mergeAll(Backend.layerCpu, Plots.layer)

it.effect("pgd-toy at a tiny size: outputs, the exact family's order, guidance raises the target's likelihood", () =>
  Effect.gen(function*() {
    const outDir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "pgd-toy-")))
    const config = yield* Schema.decodeUnknownEffect(PgdToy.PgdToyConfig)({
      outDir, horizon: 8, episodes: 60, samples: 24, lambdas: [0, 1], exponents: [0, 1, 4],
      model: { width: 8, depth: 2, groups: 4, residual: true, steps: 40, batch: 8, emaEvery: 1, emaDecay: 0.9, edm: { steps: 8 } },
      logEvery: 40
    })
    const summary = yield* PgdToy.pgdToy(config).pipe(Effect.provideService(Console.Console, { ...globalThis.console, log: () => {} }))
    expect((yield* Effect.promise(() => stat(summary.figure))).size).toBeGreaterThan(1000)
    const metrics = JSON.parse(yield* Effect.promise(() => readFile(join(outDir, "metrics.json"), "utf8")))
    expect(metrics.guided.length).toBe(4)
    const exact = summary.exact.map((r) => r.targetLogLikelihood)
    expect(exact[0]).toBeLessThan(exact[1])
    expect(exact[1]).toBeLessThan(exact[2])
    expect(summary.exact[0].dynamicsRmse).toBeLessThan(1e-12)
    // The shift moves the actions towards the target's: its log-likelihood rises even for an untrained model.
    const [model0, model1, fit0, fit1] = summary.guided
    expect([model0.denoiser, fit0.denoiser]).toEqual(["model", "gaussian fit"])
    expect(model1.targetLogLikelihood).toBeGreaterThan(model0.targetLogLikelihood)
    // The Gaussian fit of the behaviour windows is a near-exact behaviour model: unguided, its samples are nearest
    // to the exact behaviour distribution and obey the dynamics; guided, the target's likelihood rises.
    expect(fit0.bestExponent).toBe(0)
    expect(fit0.dynamicsRmse).toBeLessThan(0.02)
    expect(fit1.targetLogLikelihood).toBeGreaterThan(fit0.targetLogLikelihood)
  }).pipe(Effect.provide(layers)), 60_000)
