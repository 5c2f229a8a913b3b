/**
 * The bench's GPU workloads (matmul at 1024³ and at the SWG network's shapes, the SWG training step,
 * guided sampling: src/programs/BenchSwg.ts; the cpu preset's SWG step and evaluation sampling:
 * BenchCpuPreset.ts) on several GPU engines in one process, interleaved, so
 * that a shared, loaded machine's swings hit every engine alike: each repetition times every
 * workload on every engine, the engines taking turns at going first. Prints the medians and the
 * dispatches per call as a markdown table, once for wall time and once for CPU time (lavapipe's
 * threads run in this process, so `process.cpuUsage` counts them; steadier than wall time when
 * other processes share the cores).
 *
 * An engine is a source tree and Gpu.layerWith options (src/services/Gpu.ts), each on its own Dawn
 * instance and device. To compare commits, export each one's tree:
 *   git archive <commit> src presets package.json | tar -x -C /tmp/a && ln -s "$PWD/node_modules" /tmp/a/
 * (a commit older than BenchSwg.ts needs that file copied in), then
 *   node scripts/gpu-side-by-side.ts --roots /tmp/a,. --labels before,after --reps 7
 *   node scripts/gpu-side-by-side.ts --roots .,. --labels default,toggles --opts '[{},{"toggles":["skip_validation"]}]'
 */
import { parseArgs } from "node:util"
import { resolve } from "node:path"
import { loadavg } from "node:os"
import { median } from "../src/domain/Statistics.ts"
import { ManagedRuntime } from "effect"

const { values } = parseArgs({
  options: {
    roots: { type: "string", default: "." },
    labels: { type: "string" },
    opts: { type: "string" },
    reps: { type: "string", default: "7" },
    only: { type: "string", default: "mm1024,mm256x280x256,mm256x256x1024,mm256x1024x256,mm1024x256x1024,train256,sample1,sample32" }
  }
})
const roots = values.roots.split(",").map((r) => resolve(r))
const labels = values.labels?.split(",") ?? roots
const options: Array<Record<string, unknown>> = values.opts ? JSON.parse(values.opts) : roots.map(() => ({}))

// The modules of another tree: typed loosely on purpose (their types are that tree's).
interface Backend {
  readonly description: string
  readonly stats: () => { readonly dispatches: number }
  readonly read: (t: unknown) => Promise<unknown>
  readonly dispose: (t: unknown) => void
  readonly normal: (rows: number, cols: number, key: unknown) => unknown
  readonly matmul: (a: unknown, b: unknown) => { readonly out: unknown }
  readonly view: (t: unknown, offset: number, rows: number, cols: number) => unknown
  readonly copyInto: (dst: unknown, src: unknown) => void
  readonly copyIntoMany: (pairs: ReadonlyArray<readonly [unknown, unknown]>) => void
}
interface Engine {
  readonly label: string
  readonly backend: Backend
  readonly workload: { trainStep: (batch: number) => unknown; sample: (condition: unknown) => unknown }
  /** The offline cpu preset's workloads (BenchCpuPreset.ts), made on first use. */
  readonly preset: () => { swgStep: () => unknown; sample: (rows: number) => unknown }
  readonly inputs: Map<string, ReadonlyArray<unknown>>
  readonly close: () => Promise<void>
}

/** Matmul shapes [m, k, n] by job name. */
const matmuls: Record<string, readonly [number, number, number]> = {
  mm1024: [1024, 1024, 1024],
  mm256x280x256: [256, 280, 256],
  mm256x256x1024: [256, 256, 1024],
  mm256x1024x256: [256, 1024, 256],
  mm1024x256x1024: [1024, 256, 1024]
}

const engines: Array<Engine> = []
for (const [i, root] of roots.entries()) {
  const { Gpu } = await import(`${root}/src/services/Gpu.ts`)
  const BenchSwg = await import(`${root}/src/programs/BenchSwg.ts`)
  const BenchCpuPreset = await import(`${root}/src/programs/BenchCpuPreset.ts`)
  const Rng = await import(`${root}/src/domain/Rng.ts`)
  const Parameters = await import(`${root}/src/nn/Parameters.ts`)
  const EpsNetwork = await import(`${root}/src/diffusion/EpsNetwork.ts`)
  const runtime = ManagedRuntime.make(Gpu.layerWith(options[i]))
  const gpu = await runtime.runPromise(Gpu) as { readonly backend: Backend }
  const B = gpu.backend
  const inputs = new Map<string, ReadonlyArray<unknown>>()
  for (const [name, [m, k, n]] of Object.entries(matmuls)) {
    inputs.set(name, [B.normal(m, k, Rng.named(1, "a")), B.normal(k, n, Rng.named(2, "b"))])
  }
  // A gradient per parameter of the SWG network and the views of a flat buffer they go to (Parameters.gradInto).
  const layout = Parameters.layout(EpsNetwork.specs(EpsNetwork.swgActor(BenchSwg.ACTION_DIM, BenchSwg.STATE_DIM, "mish")))
  const flat = B.normal(1, layout.size, Rng.named(10, "flat"))
  const views = [...(Parameters.views(B, layout, flat) as Map<string, { rows: number; cols: number }>).values()]
  inputs.set("gradients", [flat, ...views.flatMap((v, j) => [v, B.normal(v.rows, v.cols, Rng.named(11 + j, "gradient"))])])
  inputs.set("sample1", [B.normal(1, BenchSwg.STATE_DIM, Rng.named(8, "state"))])
  inputs.set("sample32", [B.normal(32, BenchSwg.STATE_DIM, Rng.named(8, "state"))])
  let preset: ReturnType<Engine["preset"]> | undefined
  engines.push({
    label: labels[i], backend: B, workload: BenchSwg.make(B), preset: () => (preset ??= BenchCpuPreset.make(B)), inputs,
    close: () => runtime.dispose()
  })
  console.log(`${labels[i]}: ${B.description} ${JSON.stringify(options[i])}`)
}

/** Copies the SWG network's 31 gradients into views of a flat buffer; returns a view of it to read. */
const gradientCopies = (e: Engine, many: boolean): unknown => {
  const [flat, ...rest] = e.inputs.get("gradients")!
  const pairs = Array.from({ length: rest.length / 2 }, (_, j) => [rest[2 * j], rest[2 * j + 1]] as const)
  if (many) e.backend.copyIntoMany(pairs)
  else for (const [dst, src] of pairs) e.backend.copyInto(dst, src)
  return e.backend.view(flat, 0, 1, 64)
}

/** Each job: the call, and how many calls one timed region makes (its result is per call). */
interface Job {
  readonly run: (e: Engine) => unknown
  readonly calls: number
  /** What the table shows: GFLOP/s (with the product's FLOPs), steps/s or ms per call. */
  readonly unit: "GFLOP/s" | "steps/s" | "ms"
  readonly flops?: number
}
const jobs: Record<string, Job> = {
  ...Object.fromEntries(Object.entries(matmuls).map(([name, [m, k, n]]) => [name, {
    run: (e: Engine) => {
      const [a, b] = e.inputs.get(name)!
      return e.backend.matmul(a, b).out
    },
    calls: m * k * n >= 2 ** 30 ? 3 : 10,
    unit: "GFLOP/s" as const,
    flops: 2 * m * k * n
  }])),
  train256: { run: (e) => e.workload.trainStep(256), calls: 3, unit: "steps/s" },
  // The gradient copies of one SWG training step, one copyInto per parameter or one copyIntoMany.
  copyInto31: { run: (e) => gradientCopies(e, false), calls: 5, unit: "ms" },
  copyIntoMany31: { run: (e) => gradientCopies(e, true), calls: 5, unit: "ms" },
  train1024: { run: (e) => e.workload.trainStep(1024), calls: 2, unit: "steps/s" },
  train16: { run: (e) => e.workload.trainStep(16), calls: 5, unit: "steps/s" },
  presetSwg: { run: (e) => e.preset().swgStep(), calls: 10, unit: "steps/s" },
  presetSample10: { run: (e) => e.preset().sample(10), calls: 1, unit: "ms" },
  sample1: { run: (e) => e.workload.sample(e.inputs.get("sample1")![0]), calls: 1, unit: "ms" },
  sample32: { run: (e) => e.workload.sample(e.inputs.get("sample32")![0]), calls: 1, unit: "ms" }
}
const names = values.only.split(",")
const samples = new Map<string, Array<{ readonly wall: number; readonly cpu: number }>>()
const dispatches = new Map<string, number>()
/** Wall and CPU milliseconds per call of one timed region. */
const once = async (e: Engine, name: string): Promise<{ readonly wall: number; readonly cpu: number }> => {
  const job = jobs[name]
  const before = e.backend.stats().dispatches
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  for (let i = 0; i < job.calls; i++) {
    const out = job.run(e)
    if (i === job.calls - 1) await e.backend.read(out)
    e.backend.dispose(out)
  }
  const wall = (performance.now() - start) / job.calls
  const used = process.cpuUsage(cpuStart)
  dispatches.set(`${name} ${e.label}`, (e.backend.stats().dispatches - before) / job.calls)
  return { wall, cpu: (used.user + used.system) / 1000 / job.calls }
}
// Warm-up: compiles every pipeline (lavapipe's JIT) and fills the buffer pools.
for (const e of engines) for (const name of names) await once(e, name)
for (let rep = 0; rep < Number(values.reps); rep++) {
  for (const name of names) {
    const shift = rep % engines.length
    for (const e of [...engines.slice(shift), ...engines.slice(0, shift)]) {
      const key = `${name} ${e.label}`
      samples.set(key, [...(samples.get(key) ?? []), await once(e, name)])
    }
  }
}
const show = (job: Job, ms: number): string =>
  job.unit === "GFLOP/s" ? (job.flops! / ms / 1e6).toFixed(2) : job.unit === "steps/s" ? (1000 / ms).toFixed(2) : ms.toFixed(1)
for (const clock of ["wall", "cpu"] as const) {
  console.log(`\n| workload, ${clock === "wall" ? "wall time" : "per CPU second (ms: CPU ms)"} | ${labels.join(" | ")} | dispatches per call |`)
  console.log(`| --- | ${labels.map(() => "---").join(" | ")} | --- |`)
  for (const name of names) {
    const job = jobs[name]
    const cells = labels.map((l) => show(job, median(samples.get(`${name} ${l}`)!.map((x) => x[clock]))))
    const counts = labels.map((l) => dispatches.get(`${name} ${l}`)!.toFixed(0)).join(" / ")
    console.log(`| ${name} (${job.unit === "ms" ? "ms per call" : job.unit}) | ${cells.join(" | ")} | ${counts} |`)
  }
}
console.log(`load average: ${loadavg().map((x) => x.toFixed(1)).join(" ")}, reps ${values.reps}`)
for (const e of engines) await e.close()
process.exit(0)
