/**
 * Inference-time scaling (SWG paper §5.4, Figs. 4/5): the time of a T-step guided and unguided
 * sampling call as the ε-network's depth and width grow. Medians of repeated runs; a table and
 * two line charts (time vs depth, time vs width).
 */
import { Clock, Console, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Figure from "../domain/Figure.ts"
import * as NoiseSchedule from "../domain/NoiseSchedule.ts"
import * as Rng from "../domain/Rng.ts"
import * as SamplerSteps from "../domain/SamplerSteps.ts"
import { median } from "../domain/Statistics.ts"
import * as EpsNetwork from "../diffusion/EpsNetwork.ts"
import * as Sampler from "../diffusion/Sampler.ts"
import * as Swg from "../diffusion/Swg.ts"
import * as SwgPolicy from "../diffusion/SwgPolicy.ts"
import * as Model from "../nn/Model.ts"
import { Backend } from "../services/Backend.ts"
import { writeJsonAtomically, writeTextAtomically } from "../services/Files.ts"
import { Plots } from "../services/Plots.ts"

export class ScalingConfig extends Schema.Class<ScalingConfig>("ScalingConfig")({
  /** Depths (Dense layers) of the depth sweep, at width `depthWidth`. */
  depths: Schema.Array(Config.PositiveInt).pipe(Config.withDefault([1, 2, 3, 4, 5, 6, 7])),
  depthWidth: Config.PositiveInt.pipe(Config.withDefault(512)),
  /** Widths of the width sweep, at depth `widthDepth` (paper: 4 layers). */
  widths: Schema.Array(Config.PositiveInt).pipe(Config.withDefault([128, 256, 512, 1024, 2048])),
  widthDepth: Config.PositiveInt.pipe(Config.withDefault(4)),
  /** Diffusion steps per sampling call. */
  steps: Config.PositiveInt.pipe(Config.withDefault(15)),
  /** Samples per call (the paper times single actions). */
  batch: Config.PositiveInt.pipe(Config.withDefault(1)),
  repeats: Config.PositiveInt.pipe(Config.withDefault(5)),
  outDir: Schema.String.pipe(Config.withDefault("out/scaling"))
}) {}

export interface ScalingPoint {
  readonly sweep: "depth" | "width"
  readonly depth: number
  readonly width: number
  readonly parameters: number
  readonly guidedMs: number
  readonly unguidedMs: number
}

export const scaling = Effect.fn("scaling")(function*(c: ScalingConfig) {
  const backend = yield* Backend
  const plots = yield* Plots
  const B = backend.ops
  const schedule = NoiseSchedule.swg(c.steps)
  const grid = SamplerSteps.discreteGrid(schedule)
  const measure = (depth: number, width: number, sweep: "depth" | "width") =>
    Effect.gen(function*() {
      // A 6-d action + weight, 17-d state, as the D4RL locomotion networks.
      const network = new EpsNetwork.EpsNetworkConfig({
        dataDim: 7, conditionDim: 17, timeFeatures: 128, timeHidden: 256,
        body: new EpsNetwork.MlpBody({ hidden: width, layers: depth, activation: "mish" })
      })
      const model = yield* backend.run((ops) => Model.create(ops, EpsNetwork.specs(network), Rng.named(1, "scaling")))
      const condition = B.normal(c.batch, 17, Rng.named(2, "state"))
      const time = (scale: number) =>
        Effect.gen(function*() {
          const samples: Array<number> = []
          for (let r = 0; r <= c.repeats; r++) {
            const start = yield* Clock.currentTimeMillis
            const z = yield* backend.run((ops) =>
              SwgPolicy.sample({
                backend: ops, network, layout: model.layout, params: model.params, condition, rows: c.batch, grid,
                sampler: new Sampler.Ddpm({ temperature: 1 }), guidance: Swg.boundedWeights(scale), initialScale: 1,
                clip: undefined, key: Rng.named(3, "sample")
              }))
            yield* backend.read(z)
            B.dispose(z)
            if (r > 0) samples.push((yield* Clock.currentTimeMillis) - start)
          }
          return median(samples)
        })
      const point: ScalingPoint = {
        sweep, depth, width, parameters: model.layout.count, guidedMs: yield* time(1), unguidedMs: yield* time(0)
      }
      for (const t of [model.params, model.grads, model.adam.m, model.adam.v, condition]) B.dispose(t)
      yield* Console.log(`${sweep}: depth ${depth} width ${width} (${(point.parameters / 1e6).toFixed(2)}M) guided ${point.guidedMs.toFixed(1)} ms, unguided ${point.unguidedMs.toFixed(1)} ms`)
      return point
    })
  const points: Array<ScalingPoint> = []
  for (const depth of c.depths) points.push(yield* measure(depth, c.depthWidth, "depth"))
  for (const width of c.widths) points.push(yield* measure(c.widthDepth, width, "width"))
  const chart = (sweep: "depth" | "width", x: (p: ScalingPoint) => number, xLabel: string) => {
    const ps = points.filter((p) => p.sweep === sweep)
    return Figure.lineChart({
      series: [
        { name: "guided (SWG)", x: ps.map(x), y: ps.map((p) => p.guidedMs) },
        { name: "unguided", x: ps.map(x), y: ps.map((p) => p.unguidedMs), dashed: true }
      ],
      title: `${c.steps}-step sampling time vs ${sweep} (batch ${c.batch}, ${B.description.split(" (")[0]})`,
      xLabel,
      yLabel: "ms per sampling call",
      ...(sweep === "width" ? { xScale: "log" as const, yScale: "log" as const } : {})
    })
  }
  yield* plots.write(`${c.outDir}/depth`, chart("depth", (p) => p.depth, `layers (width ${c.depthWidth})`))
  yield* plots.write(`${c.outDir}/width`, chart("width", (p) => p.width, `width (${c.widthDepth} layers)`))
  const table = [
    "| sweep | depth | width | parameters | guided (ms) | unguided (ms) | ratio |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...points.map((p) => `| ${p.sweep} | ${p.depth} | ${p.width} | ${(p.parameters / 1e6).toFixed(2)}M | ${p.guidedMs.toFixed(1)} | ${p.unguidedMs.toFixed(1)} | ${(p.guidedMs / p.unguidedMs).toFixed(2)} |`)
  ].join("\n") + "\n"
  yield* writeJsonAtomically(`${c.outDir}/scaling.json`, points)
  yield* writeTextAtomically(`${c.outDir}/scaling.md`, table)
  yield* Console.log(table)
  return points
})
