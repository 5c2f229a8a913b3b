/**
 * `npm run bench`: matmul throughput, SWG-size training steps/s and guided-sampling latency on
 * every backend available, as a table and (with --json) an array of results. Medians of
 * repeated runs; each timed region ends with a readback so GPU work is included.
 */
import { Clock, Console, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as NoiseSchedule from "../domain/NoiseSchedule.ts"
import * as Rng from "../domain/Rng.ts"
import * as SamplerSteps from "../domain/SamplerSteps.ts"
import { median } from "../domain/Statistics.ts"
import * as ProfiledBackend from "../domain/ProfiledBackend.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as EpsNetwork from "../diffusion/EpsNetwork.ts"
import * as Sampler from "../diffusion/Sampler.ts"
import * as Swg from "../diffusion/Swg.ts"
import * as SwgPolicy from "../diffusion/SwgPolicy.ts"
import * as Training from "../diffusion/Training.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import { Backend } from "../services/Backend.ts"

export class BenchConfig extends Schema.Class<BenchConfig>("BenchConfig")({
  /** Timed repetitions per measurement (the median is reported). */
  repeats: Config.PositiveInt.pipe(Config.withDefault(5)),
  /** Skip the 1024³ matmul and batch-1024 training (quick runs). */
  quick: Schema.Boolean.pipe(Config.withDefault(false)),
  /** Also print where the time goes, op by op, in one training step and one guided-sampling call. */
  profile: Schema.Boolean.pipe(Config.withDefault(false))
}) {}

export interface BenchResult {
  readonly backend: string
  readonly adapter: string
  readonly matmul1024Gflops: number | null
  readonly matmulShapesGflops: Record<string, number>
  readonly trainStepsPerSec: { readonly b256: number; readonly b1024: number | null }
  readonly guidedSampleMs: { readonly b1: number; readonly b32: number; readonly b1024: number | null }
  readonly dispatchesPerTrainStep: number
  readonly parameters: number
}

/** SWG's D4RL network on a 6-dim action, 17-dim state task (halfcheetah-like). */
export const ACTION_DIM = 6
export const STATE_DIM = 17

export const bench = Effect.fn("bench")(function*(config: BenchConfig) {
  const backend = yield* Backend
  const B = backend.ops
  /** Milliseconds, sub-millisecond resolution: a GPU training step can take under 1 ms. */
  const now = Effect.map(Clock.currentTimeNanos, (ns) => Number(ns) / 1e6)
  /** Median milliseconds of `run` (which returns a tensor to read, forcing completion). */
  const time = (run: () => Tensor, repeats = config.repeats) =>
    Effect.gen(function*() {
      const warm = run()
      yield* backend.read(warm)
      B.dispose(warm)
      const samples: Array<number> = []
      for (let i = 0; i < repeats; i++) {
        const start = yield* now
        const out = run()
        yield* backend.read(out)
        samples.push((yield* now) - start)
        B.dispose(out)
      }
      return median(samples)
    })

  const matmulGflops = (m: number, k: number, n: number) =>
    Effect.gen(function*() {
      const a = B.normal(m, k, Rng.named(1, "a"))
      const b = B.normal(k, n, Rng.named(2, "b"))
      const ms = yield* time(() => B.matmul(a, b).out)
      B.dispose(a)
      B.dispose(b)
      return (2 * m * k * n) / (ms * 1e6)
    })

  yield* Console.log(`benchmarking ${B.description}`)
  const matmul1024Gflops = config.quick ? null : yield* matmulGflops(1024, 1024, 1024)
  // mish, as the PyTorch peer script (the same network in PyTorch) and IDQL's LN-ResNet use.
  const network = EpsNetwork.swgActor(ACTION_DIM, STATE_DIM, "mish")
  const inputs = network.dataDim + network.conditionDim + network.timeHidden
  const shapes: Record<string, readonly [number, number, number]> = {
    "256x280x256 (input layer)": [256, inputs, 256],
    "256x256x1024 (block up)": [256, 256, 1024],
    "256x1024x256 (block down)": [256, 1024, 256],
    "1024x256x1024": [1024, 256, 1024]
  }
  const matmulShapesGflops: Record<string, number> = {}
  for (const [name, [m, k, n]] of Object.entries(shapes)) matmulShapesGflops[name] = yield* matmulGflops(m, k, n)

  // Training: a random dataset of z = (a, w) and states, resident on the device.
  const rows = 4096
  const data: Training.DiffusionData = {
    z0: B.uniform(rows, network.dataDim, Rng.named(3, "z0")),
    condition: B.normal(rows, STATE_DIM, Rng.named(4, "states"))
  }
  const tables = Training.noiseTables(B, NoiseSchedule.swg(15))
  const model = Model.create(B, EpsNetwork.specs(network), Rng.named(5, "init"), { ema: true })
  let step = 0
  const trainStep = (batch: number, X: TensorBackend = B) => () => {
    step++
    return Model.trainStep(X, model, { lr: 3e-4, adamw: Optimizer.adamwDefaults, emaRate: 1e-3, rng: Rng.at(Rng.named(6, "dropout"), step) }, (p) =>
      Training.epsLoss(p, network, tables, data, batch, Rng.at(Rng.named(7, "batch"), step)))
  }
  const stepsPerSec = (batch: number) =>
    Effect.gen(function*() {
      const n = 3
      const ms = yield* time(() => {
        let loss = trainStep(batch)()
        for (let i = 1; i < n; i++) {
          B.dispose(loss)
          loss = trainStep(batch)()
        }
        return loss
      })
      return (1000 * n) / ms
    })
  const before = B.stats().dispatches
  B.dispose(trainStep(256)())
  const dispatchesPerTrainStep = B.stats().dispatches - before
  const b256 = yield* stepsPerSec(256)
  const b1024 = config.quick ? null : yield* stepsPerSec(1024)

  // Guided sampling: 15 DDPM steps with SWG guidance (forward + gradient w.r.t. z_t each step).
  const grid = SamplerSteps.discreteGrid(NoiseSchedule.swg(15))
  const clip: Sampler.Clip = {
    lo: B.upload(Float32Array.from([...Array(ACTION_DIM).fill(-1), 1e-4]), 1, network.dataDim),
    hi: B.upload(Float32Array.from([...Array(ACTION_DIM).fill(1), 1]), 1, network.dataDim)
  }
  const sample = (batch: number, condition: Tensor, X: TensorBackend = B) =>
    SwgPolicy.sample({
      backend: X, network, layout: model.layout, params: model.ema ?? model.params, condition, rows: batch, grid,
      sampler: new Sampler.Ddpm({ temperature: 0 }), guidance: Swg.boundedWeights(1), initialScale: 0, clip,
      key: Rng.named(9, "sample")
    })
  const sampleMs = (batch: number) =>
    Effect.gen(function*() {
      const condition = B.normal(batch, STATE_DIM, Rng.named(8, "state"))
      const ms = yield* time(() =>
        SwgPolicy.sample({
          backend: B, network, layout: model.layout, params: model.ema ?? model.params, condition, rows: batch, grid,
          sampler: new Sampler.Ddpm({ temperature: 0 }), guidance: Swg.boundedWeights(1), initialScale: 0, clip,
          key: Rng.named(9, "sample")
        })
      )
      B.dispose(condition)
      return ms
    })
  const result: BenchResult = {
    backend: B.kind,
    adapter: B.description,
    matmul1024Gflops,
    matmulShapesGflops,
    trainStepsPerSec: { b256, b1024 },
    guidedSampleMs: { b1: yield* sampleMs(1), b32: yield* sampleMs(32), b1024: config.quick ? null : yield* sampleMs(1024) },
    dispatchesPerTrainStep,
    parameters: model.layout.count
  }
  yield* Console.log(table(result))
  if (config.profile) yield* profileRuns(B, trainStep, sample)
  return result
})

/**
 * Op by op: one training step at batch 256 (the mean of 3, after a warm-up) and one guided-sampling
 * call at batch 1 and 32, each ended by a read so the device's work is in the table (the read row).
 */
const profileRuns = (
  B: TensorBackend,
  trainStep: (batch: number, X: TensorBackend) => () => Tensor,
  sample: (batch: number, condition: Tensor, X: TensorBackend) => Tensor
) =>
  Effect.gen(function*() {
    const profiler = ProfiledBackend.profile(B)
    const X = profiler.backend
    const run = (f: () => Tensor) =>
      Effect.promise(async () => {
        const out = f()
        await X.read(out)
        X.dispose(out)
      })
    yield* run(trainStep(256, X))
    profiler.reset()
    const steps = 3
    for (let i = 0; i < steps; i++) yield* run(trainStep(256, X))
    yield* Console.log(`\n${ProfiledBackend.markdown("SWG training step, batch 256", profiler.report(), steps)}`)
    for (const batch of [1, 32]) {
      const condition = B.normal(batch, STATE_DIM, Rng.named(8, "state"))
      yield* run(() => sample(batch, condition, X))
      profiler.reset()
      yield* run(() => sample(batch, condition, X))
      yield* Console.log(`\n${ProfiledBackend.markdown(`guided sampling (15 steps), batch ${batch}`, profiler.report(), 1)}`)
      B.dispose(condition)
    }
  })

const fmt = (x: number | null, digits = 1) => (x === null ? "—" : x.toFixed(digits))

export const table = (r: BenchResult): string =>
  [
    `| ${r.backend}: ${r.adapter} | value |`,
    "| --- | --- |",
    `| matmul 1024³ GFLOP/s | ${fmt(r.matmul1024Gflops)} |`,
    ...Object.entries(r.matmulShapesGflops).map(([k, v]) => `| matmul ${k} GFLOP/s | ${fmt(v)} |`),
    `| SWG train steps/s, batch 256 (${(r.parameters / 1e6).toFixed(2)}M params) | ${fmt(r.trainStepsPerSec.b256, 2)} |`,
    `| SWG train steps/s, batch 1024 | ${fmt(r.trainStepsPerSec.b1024, 2)} |`,
    `| dispatches per train step | ${r.dispatchesPerTrainStep} |`,
    `| guided sampling, 15 steps, batch 1 (ms) | ${fmt(r.guidedSampleMs.b1)} |`,
    `| guided sampling, 15 steps, batch 32 (ms) | ${fmt(r.guidedSampleMs.b32)} |`,
    `| guided sampling, 15 steps, batch 1024 (ms) | ${fmt(r.guidedSampleMs.b1024)} |`
  ].join("\n")
