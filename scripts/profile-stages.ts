/**
 * One training step of each of the offline table's slowest stages at the cpu preset's sizes
 * (src/programs/BenchDiceQgpo.ts: the DICE critic, D-DICE's behaviour model, QGPO's Q and its energy
 * network) on the WASM backend: steps/s (the median of `--reps` regions of `--steps` steps) and where
 * the time goes, op by op with each matmul named by its product (ProfiledBackend, means over `--steps`
 * steps). `npm run bench -- --profile` prints the same tables after the whole bench; this runs only them.
 *   node scripts/profile-stages.ts [--only dice-critic,dice-behaviour,qgpo-q,qgpo-energy] [--threads 1] [--no-profile]
 */
import { parseArgs } from "node:util"
import { loadavg } from "node:os"
import * as ProfiledBackend from "../src/domain/ProfiledBackend.ts"
import { median } from "../src/domain/Statistics.ts"
import type { Tensor, TensorBackend } from "../src/domain/TensorBackend.ts"
import * as BenchDiceQgpo from "../src/programs/BenchDiceQgpo.ts"
import * as WasmBackend from "../src/wasm/WasmBackend.ts"

const { values } = parseArgs({
  options: {
    only: { type: "string", default: "dice-critic,dice-behaviour,qgpo-q,qgpo-energy" },
    threads: { type: "string", default: "1" },
    steps: { type: "string", default: "5" },
    reps: { type: "string", default: "5" },
    "no-profile": { type: "boolean", default: false }
  }
})
const B = WasmBackend.make({ threads: Number(values.threads) })
const w = BenchDiceQgpo.make(B)
const stages: Record<string, (X: TensorBackend) => Tensor> = {
  "dice-critic": (X) => w.diceCriticStep(X),
  "dice-behaviour": (X) => w.diceBehaviourStep(X),
  "qgpo-q": (X) => w.qgpoQStep(X),
  "qgpo-energy": (X) => w.qgpoEnergyStep(X)
}
const steps = Number(values.steps)
const run = async (f: (X: TensorBackend) => Tensor, X: TensorBackend) => {
  const out = f(X)
  await X.read(out)
  X.dispose(out)
}
// Let worker threads start.
await new Promise((r) => setTimeout(r, 300))
const profiler = ProfiledBackend.profile(B, { shapes: true })
for (const name of values.only.split(",")) {
  const f = stages[name]
  await run(f, B)
  const ms: Array<number> = []
  for (let r = 0; r < Number(values.reps); r++) {
    const start = performance.now()
    for (let i = 0; i < steps; i++) await run(f, B)
    ms.push((performance.now() - start) / steps)
  }
  console.log(`\n${name}: ${(1000 / median(ms)).toFixed(1)} steps/s (median of ${values.reps} × ${steps} steps; load average ${loadavg()[0].toFixed(1)})`)
  if (!values["no-profile"]) {
    profiler.reset()
    for (let i = 0; i < steps; i++) await run(f, profiler.backend)
    console.log(ProfiledBackend.markdown(`${name} step`, profiler.report(), steps))
  }
}
w.dispose()
B.close()
process.exit(0)
