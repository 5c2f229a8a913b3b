/**
 * The cpu preset's workloads (src/programs/BenchCpuPreset.ts: SWG, IQL critic and actor steps,
 * guided sampling at batch 10 and 160; src/programs/BenchDiceQgpo.ts: one step of the DICE critic,
 * D-DICE's behaviour model, QGPO's Q and its energy, chosen with --only, e.g.
 * `--only dice-critic,dice-behaviour,qgpo-q,qgpo-energy`) on several WASM backends in one process, interleaved, so
 * that a shared, loaded machine's swings hit every engine alike: each repetition times every
 * workload on every engine, the engines taking turns at going first (the first run after a switch
 * of workload runs colder). Prints the medians as a markdown table.
 *
 * An engine is a source tree and backend options. To compare commits, export each one's tree:
 *   git archive <commit> src presets package.json | tar -x -C /tmp/a && ln -s "$PWD/node_modules" /tmp/a/
 * (a commit older than BenchCpuPreset.ts needs that file copied in), then
 *   node scripts/wasm-side-by-side.ts --roots /tmp/a,. --labels before,after --reps 15
 *   node scripts/wasm-side-by-side.ts --roots .,. --labels t1,t2 --opts '[{"threads":1},{"threads":2}]'
 */
import { parseArgs } from "node:util"
import { resolve } from "node:path"
import { loadavg } from "node:os"
import { median } from "../src/domain/Statistics.ts"

const { values } = parseArgs({
  options: {
    roots: { type: "string", default: "." },
    labels: { type: "string" },
    opts: { type: "string" },
    reps: { type: "string", default: "15" },
    steps: { type: "string", default: "20" },
    only: { type: "string", default: "swg,critic,actor,sample10,sample160" }
  }
})
const roots = values.roots.split(",").map((r) => resolve(r))
const labels = values.labels?.split(",") ?? roots
const options: Array<Record<string, unknown>> = values.opts ? JSON.parse(values.opts) : roots.map(() => ({}))
const steps = Number(values.steps)

interface Engine {
  readonly label: string
  // The modules of another tree: typed loosely on purpose (their types are that tree's).
  readonly backend: { read: (t: unknown) => Promise<unknown>; dispose: (t: unknown) => void; close: () => void }
  readonly workloads: Record<string, (...args: Array<unknown>) => unknown>
}
const names = values.only.split(",")
const STAGES = ["dice-critic", "dice-behaviour", "qgpo-q", "qgpo-energy"]
const engines: Array<Engine> = []
for (const [i, root] of roots.entries()) {
  const Wasm = await import(`${root}/src/wasm/WasmBackend.ts`)
  const backend = Wasm.make({ threads: 1, ...options[i] })
  // Only the workload modules a job needs (a tree older than BenchDiceQgpo.ts can still run the others).
  const preset = names.some((n) => !STAGES.includes(n)) ? (await import(`${root}/src/programs/BenchCpuPreset.ts`)).make(backend) : {}
  const stages = names.some((n) => STAGES.includes(n)) ? (await import(`${root}/src/programs/BenchDiceQgpo.ts`)).make(backend) : {}
  engines.push({ label: labels[i], backend, workloads: { ...preset, ...stages } })
}
// Let worker threads start.
await new Promise((r) => setTimeout(r, 500))

/** Each job: the call, and how many calls one timed region makes (its result is per call). */
const jobs: Record<string, { readonly run: (e: Engine) => unknown; readonly calls: number; readonly unit: "steps/s" | "ms" }> = {
  swg: { run: (e) => e.workloads.swgStep(), calls: steps, unit: "steps/s" },
  critic: { run: (e) => e.workloads.criticStep(), calls: steps, unit: "steps/s" },
  actor: { run: (e) => e.workloads.actorStep(), calls: steps, unit: "steps/s" },
  sample10: { run: (e) => e.workloads.sample(10), calls: 2, unit: "ms" },
  sample160: { run: (e) => e.workloads.sample(160), calls: 1, unit: "ms" },
  "dice-critic": { run: (e) => e.workloads.diceCriticStep(), calls: 5, unit: "steps/s" },
  "dice-behaviour": { run: (e) => e.workloads.diceBehaviourStep(), calls: 3, unit: "steps/s" },
  "qgpo-q": { run: (e) => e.workloads.qgpoQStep(), calls: 3, unit: "steps/s" },
  "qgpo-energy": { run: (e) => e.workloads.qgpoEnergyStep(), calls: 2, unit: "steps/s" }
}
const samples = new Map<string, Array<number>>()
const once = async (e: Engine, name: string): Promise<number> => {
  const job = jobs[name]
  const start = performance.now()
  for (let i = 0; i < job.calls; i++) {
    const out = job.run(e)
    if (i === job.calls - 1) await e.backend.read(out)
    e.backend.dispose(out)
  }
  return (performance.now() - start) / job.calls
}
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
console.log(`| workload | ${labels.join(" | ")} |`)
console.log(`| --- | ${labels.map(() => "---").join(" | ")} |`)
for (const name of names) {
  const cells = labels.map((l) => {
    const ms = median(samples.get(`${name} ${l}`)!)
    return jobs[name].unit === "steps/s" ? (1000 / ms).toFixed(1) : ms.toFixed(1)
  })
  console.log(`| ${name} (${jobs[name].unit === "steps/s" ? "steps/s" : "ms per call"}) | ${cells.join(" | ")} |`)
}
console.log(`load average: ${loadavg().map((x) => x.toFixed(1)).join(" ")}`)
for (const e of engines) e.backend.close()
process.exit(0)
