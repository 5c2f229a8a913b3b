/**
 * `npm run bench`: matmul throughput, SWG-size training steps/s and guided-sampling latency on
 * every backend available, as a table and (with --json) an array of results; then the same for
 * the offline table's cpu preset (BenchCpuPreset.ts: its SWG model, IQL critic and actor, and the
 * sampling calls of its evaluation). Medians of repeated runs; each timed region ends with a
 * readback so GPU work is included. `--profile` also profiles one step of each of the preset's
 * D-DICE and QGPO stages (BenchDiceQgpo.ts), with each matmul's row naming its product.
 */
import { Clock, Console, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import { median } from "../domain/Statistics.ts"
import * as ProfiledBackend from "../domain/ProfiledBackend.ts"
import * as BenchCpuPreset from "./BenchCpuPreset.ts"
import * as BenchDiceQgpo from "./BenchDiceQgpo.ts"
import * as BenchSwg from "./BenchSwg.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
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
  /** Dispatches (GPU) or ops (CPU, WASM) of one guided-sampling call at batch 1 divided by its 15 steps (setup included). */
  readonly dispatchesPerSampleStep: number
  readonly parameters: number
  readonly cpuPreset: CpuPresetResult
}

/** The offline cpu preset's networks (presets/offline-cpu.json) at their own batch sizes. */
export interface CpuPresetResult {
  readonly parameters: { readonly swg: number; readonly critic: number; readonly actor: number }
  readonly swgStepsPerSec: number
  readonly criticStepsPerSec: number
  readonly actorStepsPerSec: number
  /** One 15-step guided-sampling call at batch `episodes` (SWG) and `episodes × candidates` (SWG-R). */
  readonly guidedSampleMs: Record<string, number>
}

/** SWG's D4RL network on a 6-dim action, 17-dim state task (halfcheetah-like): see BenchSwg.ts. */
export const ACTION_DIM = BenchSwg.ACTION_DIM
export const STATE_DIM = BenchSwg.STATE_DIM

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
  const swg = BenchSwg.make(B)
  const network = swg.network
  const inputs = network.dataDim + network.conditionDim + network.timeHidden
  const shapes: Record<string, readonly [number, number, number]> = {
    "256x280x256 (input layer)": [256, inputs, 256],
    "256x256x1024 (block up)": [256, 256, 1024],
    "256x1024x256 (block down)": [256, 1024, 256],
    "1024x256x1024": [1024, 256, 1024]
  }
  const matmulShapesGflops: Record<string, number> = {}
  for (const [name, [m, k, n]] of Object.entries(shapes)) matmulShapesGflops[name] = yield* matmulGflops(m, k, n)

  const trainStep = (batch: number, X: TensorBackend = B) => () => swg.trainStep(batch, X)
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
  const sampleMs = (batch: number) =>
    Effect.gen(function*() {
      const condition = B.normal(batch, STATE_DIM, Rng.named(8, "state"))
      const ms = yield* time(() => swg.sample(condition))
      B.dispose(condition)
      return ms
    })
  const dispatchesPerSampleStep = yield* Effect.gen(function*() {
    const condition = B.normal(1, STATE_DIM, Rng.named(8, "state"))
    const start = B.stats().dispatches
    const z = swg.sample(condition)
    const count = B.stats().dispatches - start
    yield* backend.read(z)
    B.dispose(z)
    B.dispose(condition)
    return count / swg.samplingSteps
  })
  const cpuPreset = yield* cpuPresetRuns(B, time)
  const result: BenchResult = {
    backend: B.kind,
    adapter: B.description,
    matmul1024Gflops,
    matmulShapesGflops,
    trainStepsPerSec: { b256, b1024 },
    guidedSampleMs: { b1: yield* sampleMs(1), b32: yield* sampleMs(32), b1024: config.quick ? null : yield* sampleMs(1024) },
    dispatchesPerTrainStep,
    dispatchesPerSampleStep,
    parameters: swg.parameters,
    cpuPreset: cpuPreset.result
  }
  yield* Console.log(table(result))
  if (config.profile) {
    yield* profileRuns(B, trainStep, swg.sample)
    yield* profileCpuPreset(B, cpuPreset.workloads)
    yield* profileDiceQgpo(B)
  }
  cpuPreset.workloads.dispose()
  swg.dispose()
  return result
})

/** Sampling batches of the cpu preset's evaluation: SWG (one row per episode) and SWG-R (candidates per episode). */
const presetBatches = (s: BenchCpuPreset.CpuPresetSizes): ReadonlyArray<number> => [s.episodes, s.episodes * s.candidates]

const cpuPresetRuns = <E>(B: TensorBackend, time: (run: () => Tensor) => Effect.Effect<number, E>) =>
  Effect.gen(function*() {
    const workloads = BenchCpuPreset.make(B)
    // Steps per timed region: enough that one region is tens of milliseconds.
    const n = 10
    const stepsPerSec = (step: () => Tensor) =>
      Effect.map(time(() => {
        let out = step()
        for (let i = 1; i < n; i++) {
          B.dispose(out)
          out = step()
        }
        return out
      }), (ms) => (1000 * n) / ms)
    const swgStepsPerSec = yield* stepsPerSec(() => workloads.swgStep())
    const criticStepsPerSec = yield* stepsPerSec(() => workloads.criticStep())
    const actorStepsPerSec = yield* stepsPerSec(() => workloads.actorStep())
    const guidedSampleMs: Record<string, number> = {}
    for (const rows of presetBatches(workloads.sizes)) guidedSampleMs[`b${rows}`] = yield* time(() => workloads.sample(rows))
    const result: CpuPresetResult = { parameters: workloads.parameters, swgStepsPerSec, criticStepsPerSec, actorStepsPerSec, guidedSampleMs }
    return { result, workloads }
  })

/** One profiled case: its op table is the mean over `repeats` runs after one warm-up run. */
interface ProfileCase {
  readonly title: string
  /** Builds and records the work on the profiling backend; its result is read (so the device's work is counted) and freed. */
  readonly work: () => Tensor
  readonly repeats: number
}

/** Prints each case's op-by-op table (`ProfiledBackend.markdown`). */
const profileCases = (profiler: ProfiledBackend.Profiler, cases: ReadonlyArray<ProfileCase>) =>
  Effect.gen(function*() {
    const run = (work: () => Tensor) =>
      Effect.promise(async () => {
        const out = work()
        await profiler.backend.read(out)
        profiler.backend.dispose(out)
      })
    for (const c of cases) {
      yield* run(c.work)
      profiler.reset()
      for (let i = 0; i < c.repeats; i++) yield* run(c.work)
      yield* Console.log(`\n${ProfiledBackend.markdown(c.title, profiler.report(), c.repeats)}`)
    }
  })

/** Op by op for the cpu preset: one SWG, critic and actor step (means of 5) and the SWG-R sampling call. */
const profileCpuPreset = (B: TensorBackend, w: BenchCpuPreset.CpuPresetWorkloads) => {
  const profiler = ProfiledBackend.profile(B)
  const X = profiler.backend
  return profileCases(profiler, [
    { title: `cpu preset: SWG training step, batch ${w.sizes.swg.batch}`, work: () => w.swgStep(X), repeats: 5 },
    { title: `cpu preset: IQL critic step, batch ${w.sizes.critic.batch}`, work: () => w.criticStep(X), repeats: 5 },
    { title: `cpu preset: IQL actor step, batch ${w.sizes.iql.batch}`, work: () => w.actorStep(X), repeats: 5 },
    ...presetBatches(w.sizes).map((rows) => ({ title: `cpu preset: guided sampling (15 steps), batch ${rows}`, work: () => w.sample(rows, X), repeats: 1 }))
  ])
}

/** Op by op, matmuls by shape: one step of the DICE critic, D-DICE's behaviour model, QGPO's Q and its energy (means of 5). */
const profileDiceQgpo = (B: TensorBackend) =>
  Effect.suspend(() => {
    const w = BenchDiceQgpo.make(B)
    const profiler = ProfiledBackend.profile(B, { shapes: true })
    const X = profiler.backend
    const s = w.sizes
    return profileCases(profiler, [
      { title: `cpu preset: DICE critic step (ensemble ${s.diceCritic.ensemble ?? 0}), batch ${s.diceCritic.batch}`, work: () => w.diceCriticStep(X), repeats: 5 },
      { title: `cpu preset: D-DICE behaviour step, batch ${s.diceAgent.batch}`, work: () => w.diceBehaviourStep(X), repeats: 5 },
      { title: `cpu preset: QGPO Q step, ${s.qgpo.qBatch} states × ${s.qgpo.support} support actions`, work: () => w.qgpoQStep(X), repeats: 5 },
      { title: `cpu preset: QGPO energy step, ${s.qgpo.energyBatch} states × ${s.qgpo.support} support actions`, work: () => w.qgpoEnergyStep(X), repeats: 5 }
    ]).pipe(Effect.ensuring(Effect.sync(() => w.dispose())))
  })

/**
 * Op by op: one training step at batch 256 (the mean of 3, after a warm-up) and one guided-sampling
 * call at batch 1 and 32, each ended by a read so the device's work is in the table (the read row).
 */
const profileRuns = (
  B: TensorBackend,
  trainStep: (batch: number, X: TensorBackend) => () => Tensor,
  sample: (condition: Tensor, X: TensorBackend) => Tensor
) =>
  Effect.suspend(() => {
    const profiler = ProfiledBackend.profile(B)
    const X = profiler.backend
    const conditions = [1, 32].map((batch) => ({ batch, condition: B.normal(batch, STATE_DIM, Rng.named(8, "state")) }))
    return profileCases(profiler, [
      { title: "SWG training step, batch 256", work: () => trainStep(256, X)(), repeats: 3 },
      ...conditions.map(({ batch, condition }) => ({ title: `guided sampling (15 steps), batch ${batch}`, work: () => sample(condition, X), repeats: 1 }))
    ]).pipe(Effect.ensuring(Effect.sync(() => conditions.forEach(({ condition }) => B.dispose(condition)))))
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
    `| dispatches per guided-sampling step (batch 1) | ${fmt(r.dispatchesPerSampleStep)} |`,
    `| guided sampling, 15 steps, batch 1 (ms) | ${fmt(r.guidedSampleMs.b1)} |`,
    `| guided sampling, 15 steps, batch 32 (ms) | ${fmt(r.guidedSampleMs.b32)} |`,
    `| guided sampling, 15 steps, batch 1024 (ms) | ${fmt(r.guidedSampleMs.b1024)} |`,
    `| cpu preset: SWG train steps/s (${(r.cpuPreset.parameters.swg / 1e3).toFixed(0)}k params) | ${fmt(r.cpuPreset.swgStepsPerSec)} |`,
    `| cpu preset: IQL critic steps/s (${(r.cpuPreset.parameters.critic / 1e3).toFixed(0)}k params) | ${fmt(r.cpuPreset.criticStepsPerSec)} |`,
    `| cpu preset: IQL actor steps/s (${(r.cpuPreset.parameters.actor / 1e3).toFixed(0)}k params) | ${fmt(r.cpuPreset.actorStepsPerSec)} |`,
    ...Object.entries(r.cpuPreset.guidedSampleMs).map(([k, v]) => `| cpu preset: guided sampling, 15 steps, batch ${k.slice(1)} (ms) | ${fmt(v)} |`)
  ].join("\n")
