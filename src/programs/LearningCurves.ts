/**
 * Learning curves of the offline runs: every training stage stores the losses it logged in its
 * checkpoint header (see `ResumableLoop`), so the curves of runs trained over several sittings can be
 * drawn afterwards from `runs/<task>/seed<k>/<stage>.safetensors`, one figure per task and stage with
 * one line per seed and loss.
 */
import { readdir } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import * as Figure from "../domain/Figure.ts"
import { type Checkpoint, Checkpoints, type LossRecord } from "../services/Checkpoints.ts"
import { Plots } from "../services/Plots.ts"

/**
 * The checkpoints of the offline stages (programs/Offline.ts), by file name. QGPO's Q stage (qgpo-q) logs the Q loss;
 * its energy stage (qgpo) saves Q beside the energy network and logs the CEP loss, its floor on the batch (the targets'
 * entropy) and the KL gap between them. PGD's trajectory model logs the EDM loss,
 * its TD3+BC runs TD3+BC's losses, its IQL runs the critic's and the actor's, the dynamics ensemble its MSE.
 */
export const stages = {
  "critic": "critic.safetensors",
  "swg": "swg.safetensors",
  "iql-actor": "iql-actor.safetensors",
  "td3bc": "td3bc.safetensors",
  "dice-critic": "dice-critic.safetensors",
  "dice-behaviour": "dice-behaviour.safetensors",
  "dice-guidance": "dice-guidance.safetensors",
  "qgpo-q": "qgpo-q.safetensors",
  "qgpo": "qgpo.safetensors",
  "trajectory": "trajectory.safetensors",
  "td3bc-unguided": "td3bc-unguided.safetensors",
  "td3bc-pgd": "td3bc-pgd.safetensors",
  "iql-unguided": "iql-unguided.safetensors",
  "iql-pgd": "iql-pgd.safetensors",
  "dynamics-ensemble": "dynamics-ensemble.safetensors"
} as const

/** The stages of Policy-Guided Diffusion (programs/OfflinePgd.ts, SyntheticDynamics.ts), which the tiny test run does not train. */
export const pgdStages: ReadonlyArray<keyof typeof stages> = ["trajectory", "td3bc-unguided", "td3bc-pgd", "iql-unguided", "iql-pgd", "dynamics-ensemble"]

/** One seed's curve of one stage. */
export interface Curve {
  readonly task: string
  readonly stage: keyof typeof stages
  readonly seed: number
  readonly losses: ReadonlyArray<LossRecord>
}

const listDir = (dir: string) => Effect.tryPromise(() => readdir(dir)).pipe(Effect.orElseSucceed(() => [] as Array<string>))

/** Every (task, stage, seed) under `runsDir` whose checkpoint holds a loss history. */
export const collect = Effect.fn("LearningCurves.collect")(function*(runsDir: string) {
  const checkpoints = yield* Checkpoints
  const curves: Array<Curve> = []
  for (const task of (yield* listDir(runsDir)).sort()) {
    for (const seedDir of (yield* listDir(join(runsDir, task))).sort()) {
      const seed = /^seed(\d+)$/.exec(seedDir)
      if (seed === null) continue
      for (const [stage, file] of Object.entries(stages) as Array<[keyof typeof stages, string]>) {
        // a stage not trained yet has no checkpoint; an unreadable one fails, naming the file
        const saved = yield* checkpoints.load(join(runsDir, task, seedDir, file)).pipe(
          Effect.map((checkpoint): Checkpoint | undefined => checkpoint),
          Effect.catchIf((e) => e.reason._tag === "NotFound", () => Effect.succeed(undefined))
        )
        if (saved === undefined) continue
        const losses = saved.header.losses ?? []
        if (losses.length > 0) curves.push({ task, stage, seed: Number(seed[1]), losses })
      }
    }
  }
  return curves
})

/**
 * A line chart of one task's stage: a line per (seed, loss); null (non-finite) losses are gaps. The
 * loss axis is logarithmic when every loss is positive (AWR's loss can be negative).
 */
export const figure = (task: string, stage: string, curves: ReadonlyArray<Curve>): string => {
  const positive = curves.every((c) => c.losses.every((r) => Object.values(r.values).every((v) => v === null || v > 0)))
  return Figure.lineChart({
    series: curves.flatMap((c) =>
      Object.keys(c.losses[0].values).map((name) => ({
        name: `${name} seed ${c.seed}`,
        x: c.losses.map((r) => r.step),
        y: c.losses.map((r) => r.values[name] ?? Number.NaN)
      }))),
    title: `${task}: ${stage} training loss`,
    xLabel: "step",
    yLabel: "loss",
    yScale: positive ? "log" : "linear"
  })
}

/** Writes `<outDir>/<task>-<stage>.svg/.png` for every task and stage with curves; returns the paths. */
export const plot = Effect.fn("LearningCurves.plot")(function*(runsDir: string, outDir: string) {
  const plots = yield* Plots
  const curves = yield* collect(runsDir)
  const written: Array<string> = []
  for (const task of new Set(curves.map((c) => c.task))) {
    for (const stage of Object.keys(stages)) {
      const mine = curves.filter((c) => c.task === task && c.stage === stage)
      if (mine.length === 0) continue
      const path = join(outDir, `${task}-${stage}`)
      yield* plots.write(path, figure(task, stage, mine))
      written.push(path)
    }
  }
  return written
})
