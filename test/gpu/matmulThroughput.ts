/**
 * Matmul throughput of the GPU backend per kernel variant (not a test; run it with
 * `npm exec -- node test/gpu/matmulThroughput.ts [register|tiled ...]`). Each sample records
 * `reps` matmuls into one command stream and waits for `onSubmittedWorkDone`; no readback is timed.
 * Prints the median GFLOP/s of `samples` samples per shape, after one untimed warm-up (shader JIT),
 * and GFLOP per CPU-second (lavapipe's threads run in this process, so `process.cpuUsage` counts
 * them), which is steadier than wall time when other processes share the cores.
 */
import { Effect } from "effect"
import type { MatmulOptions } from "../../src/domain/TensorBackend.ts"
import type { MatmulVariant } from "../../src/gpu/GpuBackend.ts"
import { Gpu } from "../../src/services/Gpu.ts"

interface Case {
  readonly label: string
  readonly m: number
  readonly k: number
  readonly n: number
  readonly options: MatmulOptions
}

const cases: ReadonlyArray<Case> = [
  { label: "1024³", m: 1024, k: 1024, n: 1024, options: {} },
  { label: "1024³ Aᵀ", m: 1024, k: 1024, n: 1024, options: { transA: true } },
  { label: "1024³ Bᵀ", m: 1024, k: 1024, n: 1024, options: { transB: true } },
  { label: "1023×1021×1022", m: 1023, k: 1021, n: 1022, options: {} },
  { label: "256×256×256 +bias silu", m: 256, k: 256, n: 256, options: { activation: "silu" } },
  { label: "256×23×256", m: 256, k: 23, n: 256, options: {} },
  { label: "256×256×6", m: 256, k: 256, n: 6, options: {} }
]

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() * 2 - 1)

const measure = (variant: MatmulVariant) =>
  Effect.gen(function*() {
    const gpu = yield* Gpu
    const B = gpu.backend
    console.log(`\n${B.description}`)
    for (const c of cases) {
      const a = c.options.transA ? B.upload(random(c.k * c.m), c.k, c.m) : B.upload(random(c.m * c.k), c.m, c.k)
      const b = c.options.transB ? B.upload(random(c.n * c.k), c.n, c.k) : B.upload(random(c.k * c.n), c.k, c.n)
      const bias = c.options.activation === undefined ? undefined : B.upload(random(c.n), 1, c.n)
      const options = bias === undefined ? c.options : { ...c.options, bias }
      const flops = 2 * c.m * c.n * c.k
      const tiny = flops < 1e8
      const reps = variant === "tiled" && !tiny ? 1 : tiny ? 20 : 3
      const samples = variant === "tiled" && !tiny ? 3 : 7
      yield* Effect.promise(() => B.read(B.scope(() => B.matmul(a, b, options).out)))
      const times: Array<number> = []
      const cpu: Array<number> = []
      let dispatches = 0
      for (let s = 0; s < samples; s++) {
        const before = B.stats()
        const cpuStart = process.cpuUsage()
        const start = performance.now()
        B.scope(() => {
          for (let r = 0; r < reps; r++) B.matmul(a, b, options)
        })
        B.flush()
        yield* Effect.promise(() => gpu.device.queue.onSubmittedWorkDone())
        times.push((performance.now() - start) / reps)
        const used = process.cpuUsage(cpuStart)
        cpu.push((used.user + used.system) / 1000 / reps)
        if (s === 0) dispatches = (B.stats().dispatches - before.dispatches) / reps
      }
      const ms = median(times)
      const gflops = (flops / ms / 1e6).toFixed(2).padStart(7)
      const perCpu = (flops / median(cpu) / 1e6).toFixed(2).padStart(7)
      console.log(
        `  ${c.label.padEnd(24)} ${ms.toFixed(2).padStart(9)} ms ${gflops} GFLOP/s ${perCpu} GFLOP/CPU-s  ${dispatches} dispatch(es), median of ${samples} × ${reps}`
      )
      for (const t of [a, b, bias]) if (t !== undefined) B.dispose(t)
    }
  }).pipe(Effect.provide(Gpu.layerWith({ matmul: variant })))

const variants = process.argv.slice(2).filter((v): v is MatmulVariant => v === "register" || v === "tiled")
for (const variant of variants.length > 0 ? variants : (["register", "tiled"] as const)) {
  await Effect.runPromise(measure(variant))
}
