/**
 * `npm run bench:serve`: throughput and latency of the policy server. Starts `serve` as its own
 * process (as it is deployed), then for each number of concurrent clients lets every client send
 * POST /v1/act requests of one observation back to back for a fixed time (keep-alive connections),
 * and prints requests/s and the median and 99th-percentile latency. Without --run-dir it serves an
 * SWG model of the cpu preset's size (LN-ResNet 3×64, T = 15; 20 training steps on a small Pendulum
 * dataset: the weights do not change the cost) from a temporary run directory.
 *
 * Usage (from the repository root): node scripts/serve-bench.ts [--run-dir DIR] [--method swg]
 *   [--backend auto|gpu|wasm|cpu] [--clients 1,8,64] [--seconds 5] [--batch-window-ms 1] [--max-batch 1024 (1: no batching)] [--json FILE]
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { Effect, Layer, Schema } from "effect"
import { DatasetStore } from "../src/data/DatasetStore.ts"
import * as Offline from "../src/programs/Offline.ts"
import { Backend } from "../src/services/Backend.ts"
import { Checkpoints } from "../src/services/Checkpoints.ts"
import { Progress } from "../src/services/Progress.ts"
import { Environments } from "../src/env/Environments.ts"
import { pendulumDataset } from "../test/fixtures/TinyRun.ts"

const root = resolve(dirname(new URL(import.meta.url).pathname), "..")
const argument = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(name)
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback
}
const method = argument("--method", "swg")
const backend = argument("--backend", "auto")
const clients = argument("--clients", "1,8,64").split(",").map(Number)
const seconds = Number(argument("--seconds", "5"))
const window = argument("--batch-window-ms", "1")
const json = argument("--json", "")
const maxBatch = argument("--max-batch", "1024")

/** A run directory with models of the cpu preset's sizes, trained for a few steps. */
const presetSizedRun = (dir: string) =>
  Effect.gen(function*() {
    const config = yield* Schema.decodeUnknownEffect(Offline.OfflineConfig)({
      task: "pendulum-noisy", dataset: join(dir, "pendulum.hdf5"), runDir: join(dir, "pendulum-noisy", "seed0"), seed: 0,
      critic: { hidden: 128 }, criticSteps: 20,
      swg: { hidden: 64, blocks: 3, diffusionSteps: 15, steps: 20, batch: 256 },
      iql: { hidden: 128, steps: 20 }, checkpointEvery: 20, logEvery: 20
    })
    yield* (yield* DatasetStore).write(config.dataset, pendulumDataset())
    yield* Offline.trainCritic(config)
    yield* Offline.trainSwg(config)
    yield* Offline.trainIql(config)
    return config.runDir
  }).pipe(Effect.provide(Layer.mergeAll(Backend.layerCpu, Checkpoints.layer, Progress.layerSilent, DatasetStore.layer, Environments.layer)))

const temporary = mkdtempSync(join(tmpdir(), "serve-bench-"))
const given = argument("--run-dir", "")
const runDir = given !== "" ? given : await Effect.runPromise(presetSizedRun(temporary))

const server = spawn(process.execPath, [
  join(root, "src/cli.ts"), "serve", "--run-dir", runDir, "--method", method, "--backend", backend, "--port", "0",
  "--batch-window-ms", window, "--max-batch", maxBatch
], { cwd: root, stdio: ["ignore", "pipe", "inherit"] })

interface Row {
  readonly clients: number
  readonly requests: number
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
}

try {
  const address = await new Promise<string>((ok, fail) => {
    let out = ""
    server.stdout.on("data", (d: Buffer) => {
      out += d.toString()
      const m = /on (http:\/\/\S+) \(backend (.*)\)/.exec(out)
      if (m) {
        console.log(`server: ${method} on ${m[2]}`)
        ok(m[1])
      }
    })
    server.on("exit", (code) => fail(new Error(`serve exited with ${code}: ${out}`)))
  })
  const info = await (await fetch(`${address}/v1/info`)).json() as { observationDim: number }
  const body = JSON.stringify({ observations: [Array.from({ length: info.observationDim }, (_, i) => Math.sin(i))] })
  const once = async (): Promise<number> => {
    const t0 = performance.now()
    const r = await fetch(`${address}/v1/act`, { method: "POST", body, headers: { "content-type": "application/json" } })
    await r.arrayBuffer()
    if (r.status !== 200) throw new Error(`status ${r.status}`)
    return performance.now() - t0
  }
  const run = async (n: number, ms: number): Promise<Array<number>> => {
    const latencies: Array<number> = []
    const end = performance.now() + ms
    await Promise.all(Array.from({ length: n }, async () => {
      while (performance.now() < end) latencies.push(await once())
    }))
    return latencies
  }
  await run(4, 1000) // warm-up: connections, JIT, the backend's first calls
  const rows: Array<Row> = []
  for (const n of clients) {
    const latencies = (await run(n, seconds * 1000)).sort((a, b) => a - b)
    const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]
    rows.push({ clients: n, requests: latencies.length, requestsPerSecond: latencies.length / seconds, p50Ms: q(0.5), p99Ms: q(0.99) })
  }
  console.log(`\n| concurrent clients | requests/s | p50 latency (ms) | p99 latency (ms) |\n| --- | --- | --- | --- |`)
  for (const r of rows) console.log(`| ${r.clients} | ${r.requestsPerSecond.toFixed(1)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} |`)
  if (json !== "") writeFileSync(json, `${JSON.stringify({ method, backend, seconds, batchWindowMs: Number(window), maxBatch: Number(maxBatch), rows }, null, 2)}\n`)
} finally {
  server.kill("SIGTERM")
  rmSync(temporary, { recursive: true, force: true })
}
