/**
 * The tiled matmul (the real-GPU kernel, src/gpu/kernels/matmulTiled.wgsl.ts) of several source
 * trees in one process, interleaved: each tree's WGSL is patched into a `Gpu.layerWith({ matmul:
 * "tiled" })` device of this tree, so only the kernel differs. Checks that every engine gives the
 * first one's results, then prints the median GFLOP per CPU-second (lavapipe's threads run in this
 * process; steadier than wall time on a shared machine) and wall GFLOP/s at 1024³ and at the SWG
 * network's shapes, with both transposes.
 *   git archive <commit> src | tar -x -C /tmp/a
 *   node scripts/tiled-side-by-side.ts --roots /tmp/a,. --labels before,after --reps 7
 */
import { parseArgs } from "node:util"
import { resolve } from "node:path"
import { loadavg } from "node:os"
import { ManagedRuntime } from "effect"
import * as Rng from "../src/domain/Rng.ts"
import type { Tensor, TensorBackend } from "../src/domain/TensorBackend.ts"
import type { KernelSpec } from "../src/gpu/Kernel.ts"
import { median } from "../src/domain/Statistics.ts"
import { Gpu } from "../src/services/Gpu.ts"

const { values } = parseArgs({
  options: { roots: { type: "string", default: "." }, labels: { type: "string" }, reps: { type: "string", default: "7" } }
})
const roots = values.roots.split(",").map((r) => resolve(r))
const labels = values.labels?.split(",") ?? roots

/** [m, k, n, transA, transB] */
const shapes: ReadonlyArray<readonly [number, number, number, boolean, boolean]> = [
  [1024, 1024, 1024, false, false],
  [256, 280, 256, false, false],
  [256, 256, 1024, false, false],
  [256, 1024, 256, false, false],
  [1024, 256, 1024, false, false],
  [256, 1024, 256, true, false],
  [256, 1024, 256, false, true]
]
const name = ([m, k, n, ta, tb]: (typeof shapes)[number]) => `${m}×${k}×${n}${ta ? " Aᵀ" : ""}${tb ? " Bᵀ" : ""}`

interface Engine {
  readonly label: string
  readonly B: TensorBackend
  readonly inputs: ReadonlyArray<readonly [Tensor, Tensor]>
  readonly close: () => Promise<void>
}
const engines: Array<Engine> = []
for (const [i, root] of roots.entries()) {
  const { matmulTiledWgsl } = await import(`${root}/src/gpu/kernels/matmulTiled.wgsl.ts`)
  const patch = (spec: KernelSpec): KernelSpec => (spec.name === "matmulTiled" ? { ...spec, code: matmulTiledWgsl } : spec)
  const runtime = ManagedRuntime.make(Gpu.layerWith({ matmul: "tiled", patch }))
  const { backend: B } = await runtime.runPromise(Gpu)
  const inputs = shapes.map(([m, k, n, ta, tb]) =>
    [B.normal(ta ? k : m, ta ? m : k, Rng.named(1, "a")), B.normal(tb ? n : k, tb ? k : n, Rng.named(2, "b"))] as const)
  engines.push({ label: labels[i], B, inputs, close: () => runtime.dispose() })
}
const product = (e: Engine, s: number): Tensor => {
  const [, , , transA, transB] = shapes[s]
  return e.B.matmul(e.inputs[s][0], e.inputs[s][1], { transA, transB }).out
}
for (const [s, shape] of shapes.entries()) {
  const outs = await Promise.all(engines.map((e) => e.B.read(product(e, s))))
  const worst = outs.map((o) => o.reduce((w, v, j) => Math.max(w, Math.abs(v - outs[0][j])), 0))
  console.log(`${name(shape)}: max |difference| to ${labels[0]}: ${worst.map((w) => w.toExponential(1)).join(", ")}`)
}
const samples = new Map<string, Array<{ readonly cpu: number; readonly wall: number }>>()
for (let rep = 0; rep < Number(values.reps); rep++) {
  for (const [s, shape] of shapes.entries()) {
    const shift = rep % engines.length
    for (const e of [...engines.slice(shift), ...engines.slice(0, shift)]) {
      const [m, k, n] = shape
      const calls = m * k * n >= 2 ** 30 ? 1 : 4
      const cpuStart = process.cpuUsage()
      const start = performance.now()
      for (let c = 0; c < calls; c++) {
        const out = product(e, s)
        if (c === calls - 1) await e.B.read(out)
        e.B.dispose(out)
      }
      const used = process.cpuUsage(cpuStart)
      const key = `${name(shape)} ${e.label}`
      samples.set(key, [...(samples.get(key) ?? []), { cpu: (used.user + used.system) / 1000 / calls, wall: (performance.now() - start) / calls }])
    }
  }
}
console.log(`\n| shape | ${labels.map((l) => `${l}: GFLOP/CPU-s (wall GFLOP/s)`).join(" | ")} |`)
console.log(`| --- | ${labels.map(() => "---").join(" | ")} |`)
for (const shape of shapes) {
  const flops = 2 * shape[0] * shape[1] * shape[2]
  const cells = labels.map((l) => {
    const xs = samples.get(`${name(shape)} ${l}`)!
    return `${(flops / median(xs.map((x) => x.cpu)) / 1e6).toFixed(2)} (${(flops / median(xs.map((x) => x.wall)) / 1e6).toFixed(2)})`
  })
  console.log(`| ${name(shape)} | ${cells.join(" | ")} |`)
}
console.log(`load average: ${loadavg().map((x) => x.toFixed(1)).join(" ")}, reps ${values.reps}`)
for (const e of engines) await e.close()
process.exit(0)
