/**
 * How much of the critic's signal reaches SWG's weights? Reads a trained run directory's critic (nothing is written)
 * and the task's dataset, computes the advantages A = min Q_target − V of the training rows (as `train-swg` does),
 * and prints quantiles of A, then for each weight function (the hard expectile |τ − 1(A < 0)|, the smooth one
 * (1 − τ) + (2τ − 1)·sigmoid(κA) at κ = 1, 3, 10, 30) the weights' standard deviation, the share of rows within
 * 0.02 of the midpoint 1/2 (rows whose weight barely differs from an unweighted one) and the gap between the mean
 * weight of the top and bottom advantage deciles. The smooth weight's spread depends on A's scale (κ is in units of
 * 1/A); the hard one's does not.
 *
 *   node scripts/weight-spread.ts --run-dir runs/maze2d-umaze-v1/seed0 [--task maze2d-umaze-v1] [--seed 0]
 *     [--preset presets/offline-cpu.json]
 */
import { readFileSync } from "node:fs"
import { basename, dirname } from "node:path"
import { parseArgs } from "node:util"
import { Effect, Layer, Schema } from "effect"
import { DatasetStore } from "../src/data/DatasetStore.ts"
import * as WeightFunction from "../src/domain/WeightFunction.ts"
import * as Offline from "../src/programs/Offline.ts"
import { Backend } from "../src/services/Backend.ts"
import { Checkpoints } from "../src/services/Checkpoints.ts"

const { values } = parseArgs({
  options: {
    "run-dir": { type: "string" },
    "task": { type: "string" },
    "seed": { type: "string", default: "0" },
    "preset": { type: "string", default: "presets/offline-cpu.json" }
  }
})
if (values["run-dir"] === undefined) throw new Error("--run-dir is required")
const runDir = values["run-dir"]
const task = values.task ?? basename(dirname(runDir))
const preset = JSON.parse(readFileSync(values.preset, "utf8"))
const c = Schema.decodeUnknownSync(Offline.OfflineConfig)({
  ...preset, task, runDir, seed: Number(values.seed), dataset: `out/datasets/${task}.hdf5`
})

const quantile = (sorted: Float32Array, q: number) => sorted[Math.floor(q * (sorted.length - 1))]
const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(3))

const program = Effect.gen(function*() {
  const { prepared, device } = yield* Offline.loadData(c)
  const critic = yield* Offline.loadCritic(c, prepared.train)
  const a = yield* Offline.readAdvantages(critic, device.observations, device.actions)
  const sorted = Float32Array.from(a).sort()
  console.log(`${task} seed ${c.seed}: ${a.length} training rows`)
  console.log(`A quantiles (1 %, 10 %, 50 %, 90 %, 99 %): ${[0.01, 0.1, 0.5, 0.9, 0.99].map((q) => fmt(quantile(sorted, q))).join(", ")}`)
  const order = Array.from(a.keys()).sort((i, j) => a[i] - a[j])
  const decile = Math.floor(a.length / 10)
  const tau = c.critic.tau
  const functions: ReadonlyArray<readonly [string, WeightFunction.WeightFunction]> = [
    ["hard expectile", WeightFunction.expectile(tau)],
    ...[1, 3, 10, 30].map((kappa) => [`smooth expectile κ = ${kappa}`, WeightFunction.smoothExpectile(tau, kappa)] as const)
  ]
  console.log("| weight function | std of w | share within 0.02 of 1/2 | mean w, top decile of A − bottom decile |")
  console.log("| --- | --- | --- | --- |")
  for (const [name, f] of functions) {
    const w = WeightFunction.weights(f, a)
    const { std, nearMidpoint } = WeightFunction.spread(f, w) // within 0.02 of 1/2 for τ = 0.7
    const near = nearMidpoint ?? Number.NaN
    const meanOf = (rows: ReadonlyArray<number>) => rows.reduce((s, i) => s + w[i], 0) / rows.length
    const gap = meanOf(order.slice(-decile)) - meanOf(order.slice(0, decile))
    console.log(`| ${name} | ${fmt(std)} | ${(100 * near).toFixed(1)} % | ${fmt(gap)} |`)
  }
})

await Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(Layer.mergeAll(Backend.layerWasm, Checkpoints.layer, DatasetStore.layer)))))
