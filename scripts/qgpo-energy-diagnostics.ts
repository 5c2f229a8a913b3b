/**
 * Does QGPO's offline energy learn? (issue #15) Reads a run directory where `train-qgpo` has finished and prints:
 *   1. the spread of β·Q̄ over the K support actions of each state QGPO trained on (the same subset and support
 *      actions as `trainQgpo`, drawn with the same keys): per-state std and range, the targets' entropy against log K;
 *   2. the KL gap of the CEP loss (`Qgpo.cepLoss` − `Qgpo.targetEntropy`, the KL from softmax(β·Q̄) to softmax(f)) at
 *      each diffusion step t on a fixed set of states and noise, for the energy network at initialisation and trained;
 *   3. the energy stage's stored learning curve (cep_loss, target_entropy, kl_gap);
 *   4. with --variants, energy networks trained anew on the same support and Q̄ with config overrides (a JSON array of
 *      objects; "tMax": n draws t from the first n steps only), their curves and per-t gaps.
 *
 *   node scripts/qgpo-energy-diagnostics.ts --task hopper-medium-replay-v2 --run-dir runs/hopper-medium-replay-v2/seed0 \
 *     [--dataset out/datasets/<task>.hdf5] [--seed 0] [--states 512] [--variants '[{"energySteps":1500,"tMax":1}]']
 */
import { parseArgs } from "node:util"
import { Effect, Layer, Schema } from "effect"
import { DatasetStore } from "../src/data/DatasetStore.ts"
import * as NoiseSchedule from "../src/domain/NoiseSchedule.ts"
import * as Rng from "../src/domain/Rng.ts"
import type { Tensor } from "../src/domain/TensorBackend.ts"
import * as Qgpo from "../src/diffusion/Qgpo.ts"
import * as Training from "../src/diffusion/Training.ts"
import * as Model from "../src/nn/Model.ts"
import * as Offline from "../src/programs/Offline.ts"
import * as QgpoAgent from "../src/rl/QgpoAgent.ts"
import * as Agent from "../src/services/Agent.ts"
import { Backend } from "../src/services/Backend.ts"
import { Checkpoints } from "../src/services/Checkpoints.ts"

const { values } = parseArgs({
  options: {
    "task": { type: "string" },
    "run-dir": { type: "string" },
    "dataset": { type: "string" },
    "seed": { type: "string", default: "0" },
    "states": { type: "string", default: "512" },
    "variants": { type: "string", default: "[]" }
  }
})
if (values.task === undefined || values["run-dir"] === undefined) throw new Error("--task and --run-dir are required")
const task = values.task
const runDir = values["run-dir"]
const c = Schema.decodeUnknownSync(Offline.OfflineConfig)({
  task, runDir, seed: Number(values.seed), dataset: values.dataset ?? `out/datasets/${task}.hdf5`
})
const Variant = Schema.Array(Schema.Record(Schema.String, Schema.Finite))
const variants = Schema.decodeUnknownSync(Variant)(JSON.parse(values.variants))

const fmt = (x: number) => x.toFixed(4)
const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
const quantile = (xs: ReadonlyArray<number>, q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]

const program = Effect.gen(function*() {
  const backend = yield* Backend
  const B = backend.ops
  const { prepared, device } = yield* Offline.loadData(c)
  const run = yield* Agent.loadRun(runDir, ["qgpo"])
  const agent = run.qgpo!.agent
  const qc = agent.config
  const K = qc.support
  // the rows and support actions `trainQgpo` drew (Offline.ts), with its keys
  const rows = QgpoAgent.trainingRows(qc, prepared.train.size, Rng.named(c.seed, "qgpo-subset"))
  const transitions = rows === undefined ? device : yield* backend.run((ops) => QgpoAgent.subsetTransitions(ops, device, rows))
  const data = yield* QgpoAgent.prepare(backend, agent, transitions, Rng.named(c.seed, "qgpo-support"))
  const N = transitions.observations.rows
  const gather = (t: Tensor, index: ArrayLike<number>) => B.gatherRows(t, B.upload(Float32Array.from(index), index.length, 1))

  // ---- 1. spread of β·Q̄ over each state's support actions
  const q = new Float32Array(N * K)
  for (let start = 0; start < N; start += 1000) {
    const n = Math.min(1000, N - start)
    const states = Array.from({ length: n * K }, (_, i) => start + Math.floor(i / K))
    const support = Array.from({ length: n * K }, (_, i) => start * K + i)
    const part = B.scope(() => QgpoAgent.targetQ(B, agent, gather(transitions.observations, states), gather(data.support, support)))
    q.set(yield* backend.read(part), start * K)
    B.dispose(part)
  }
  const stds: Array<number> = []
  const ranges: Array<number> = []
  const entropies: Array<number> = []
  const largest: Array<number> = []
  const stateMeans: Array<number> = []
  for (let s = 0; s < N; s++) {
    const z = Array.from({ length: K }, (_, j) => qc.beta * q[s * K + j])
    const m = mean(z)
    stateMeans.push(m / qc.beta)
    stds.push(Math.sqrt(mean(z.map((v) => (v - m) ** 2))))
    const top = Math.max(...z)
    ranges.push(top - Math.min(...z))
    const sum = z.reduce((a, v) => a + Math.exp(v - top), 0)
    entropies.push(-z.reduce((a, v) => a + (Math.exp(v - top) / sum) * (v - top - Math.log(sum)), 0))
    largest.push(1 / sum)
  }
  const spreadOfMeans = Math.sqrt(mean(stateMeans.map((v) => (v - mean(stateMeans)) ** 2)))
  console.log(`${N} states, K = ${K}, β = ${qc.beta}`)
  console.log(`Q̄ over the support: mean ${fmt(mean(stateMeans))}; std across states of a state's mean ${fmt(spreadOfMeans)}`)
  console.log(`β·Q̄ std over a state's K actions: mean ${fmt(mean(stds))}, median ${fmt(quantile(stds, 0.5))}, p10 ${fmt(quantile(stds, 0.1))}, p90 ${fmt(quantile(stds, 0.9))}`)
  console.log(`β·Q̄ range over a state's K actions: mean ${fmt(mean(ranges))}, median ${fmt(quantile(ranges, 0.5))}, p90 ${fmt(quantile(ranges, 0.9))}`)
  console.log(`targets' entropy: mean ${fmt(mean(entropies))} (log K = ${fmt(Math.log(K))}), median ${fmt(quantile(entropies, 0.5))}, p10 ${fmt(quantile(entropies, 0.1))}`)
  console.log(`largest target weight: mean ${fmt(mean(largest))} (uniform ${fmt(1 / K)})`)

  // ---- 2. the KL gap at each t, on fixed states, support actions and noise
  const tables = Training.noiseTables(B, agent.behaviour.schedule)
  const { alpha, sigma } = NoiseSchedule.scales(agent.behaviour.schedule)
  console.log(`σ_t, t = 0 … ${tables.steps - 1}: ${Array.from(sigma, (v) => v.toFixed(3)).join(" ")}`)
  const G = Math.min(Number(values.states), N)
  const evalRows = Array.from({ length: G * K }, (_, i) => Math.floor(i / K) * Math.floor(N / G))
  const evalStates = gather(transitions.observations, evalRows)
  const evalActions = gather(data.support, evalRows.map((r, i) => r * K + (i % K)))
  const evalQ = QgpoAgent.targetQ(B, agent, evalStates, evalActions)
  const groups = Qgpo.grouping(G, K)
  const eps = B.normal(G * K, agent.actionDim, Rng.named(c.seed, "qgpo-diagnostics-noise"))
  const gapByT = (energy: Model.Model, beta: number) =>
    Effect.gen(function*() {
      const gaps: Array<string> = []
      for (let t = 0; t < tables.steps; t++) {
        const gap = B.scope(() => {
          const xt = B.binary("add", B.affine(evalActions, alpha[t], 0), B.affine(eps, sigma[t], 0))
          const bound = Model.bind(B, energy)
          const tape = bound.tape
          const f = Qgpo.apply(bound, agent.energyNetwork, tape.leaf(xt), tape.leaf(evalStates), tape.leaf(B.fill(G * K, 1, t)))
          const loss = Qgpo.cepLoss(tape, f, B.affine(evalQ, beta, 0), groups)
          return B.binary("sub", loss.value, Qgpo.targetEntropy(B, evalQ, beta, groups))
        })
        gaps.push(fmt((yield* backend.read(gap))[0]))
        B.dispose(gap)
      }
      return gaps.join(" ")
    })
  const initial = QgpoAgent.create(B, qc, agent.behaviour, prepared.train.observationDim, Rng.named(c.seed, "qgpo-init"))
  console.log(`KL gap by t (${G} states):`)
  console.log(`  initial: ${yield* gapByT(initial.energy, qc.beta)}`)
  console.log(`  trained: ${yield* gapByT(agent.energy, qc.beta)}`)

  // ---- 3. the stored curve
  const saved = yield* (yield* Checkpoints).load(`${runDir}/qgpo.safetensors`)
  console.log("learning curve (step: cep_loss target_entropy kl_gap):")
  for (const r of saved.header.losses ?? []) {
    console.log(`  ${r.step}: ${QgpoAgent.ENERGY_LOSS_NAMES.map((n) => (r.values[n] == null ? "–" : fmt(r.values[n]!))).join(" ")}`)
  }

  // ---- 4. variants trained anew on the same support and Q̄
  for (const overrides of variants) {
    const { tMax, ...rest } = overrides
    const name = JSON.stringify(overrides)
    const vc = Schema.decodeUnknownSync(QgpoAgent.QgpoAgentConfig)({ ...Schema.encodeSync(QgpoAgent.QgpoAgentConfig)(qc), ...rest })
    const variant = { ...QgpoAgent.create(B, vc, agent.behaviour, prepared.train.observationDim, Rng.named(c.seed, "qgpo-init")), q: agent.q }
    const vdata = QgpoAgent.energyData(B, variant, { ...data, energyGroups: Qgpo.grouping(vc.energyBatch, vc.support) })
    const vtables = tMax === undefined ? tables : { ...tables, steps: Math.min(tMax, tables.steps) }
    const every = 250
    let sums = [0, 0, 0]
    for (let i = 0; i < vc.energySteps; i++) {
      const losses = QgpoAgent.energyStep(B, variant, vdata, vtables, Rng.named(c.seed, "qgpo-energy"), i)
      const v = yield* backend.read(losses)
      B.dispose(losses)
      sums = sums.map((s, k) => s + v[k])
      if ((i + 1) % every === 0 || i === vc.energySteps - 1) {
        const n = (i % every) + 1
        console.log(`  ${name} ${i + 1}: ${sums.map((s) => fmt(s / n)).join(" ")}`)
        sums = [0, 0, 0]
      }
    }
    console.log(`  ${name} KL gap by t: ${yield* gapByT(variant.energy, vc.beta)}`)
  }
})

await Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(Layer.mergeAll(Backend.layerWasm, Checkpoints.layer, DatasetStore.layer)))))
