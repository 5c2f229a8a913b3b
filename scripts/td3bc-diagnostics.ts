/**
 * Does TD3+BC's critic overestimate, and where? Trains TD3+BC exactly as stage `trainTd3Bc` does (the same data,
 * normaliser, keys and steps, so the default run replays the stage's run) and every `--every` steps compares, on a
 * fixed set of the dataset's states (steps t < 500 of their episodes, so the truncated Monte-Carlo return misses at
 * most γ^500 of the tail):
 *   G        the discounted Monte-Carlo return of the data from (s, a) (γ of the config);
 *   Q1(a)    the live Q₁ on the data's action, and Q1(a+ξ) on the data's action plus the target-policy smoothing
 *            noise ξ = clip(σ·ε, ±c) (is Q₁ flat at the smoothing noise's scale around the data?);
 *   Q1(π)    the live Q₁ on π(s) (what the actor climbs);
 *   Q'(a)    the target critic min(Q′₁, Q′₂) on the data's action, and Q'(π'+ξ) on clip(π′(s) + ξ, ±1), where the
 *            critic's target reads it;
 *   bc       mean (π(s) − a)² over the B·A entries; and the critic loss averaged over the window.
 * With --run-dir it only reads the run's trained td3bc.safetensors and reports its live networks (no training).
 *
 *   node scripts/td3bc-diagnostics.ts --task halfcheetah-medium-v2 [--seed 0] [--steps 10000] [--every 1000] \
 *     [--variant '{"policyNoise":0.05}'] [--init library|torch] [--rewards none|locomotion] [--run-dir runs/<task>/seed0]
 * The td3bc config is presets/offline-cpu.json's, with --variant's fields over it; --init torch starts both networks
 * from torch.nn.Linear's default initialisation instead of ours; --rewards locomotion trains on the IQL family's
 * scaled rewards (and scales G alike) instead of TD3+BC's raw ones.
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { Effect, Layer, Schema } from "effect"
import { DatasetStore } from "../src/data/DatasetStore.ts"
import * as OfflineDataset from "../src/data/OfflineDataset.ts"
import * as Rng from "../src/domain/Rng.ts"
import type { Tensor, TensorBackend } from "../src/domain/TensorBackend.ts"
import * as Parameters from "../src/nn/Parameters.ts"
import { Tape } from "../src/nn/Tape.ts"
import * as Offline from "../src/programs/Offline.ts"
import * as OfflineData from "../src/rl/OfflineData.ts"
import * as Td3Bc from "../src/rl/Td3Bc.ts"
import * as Agent from "../src/services/Agent.ts"
import { Backend } from "../src/services/Backend.ts"
import { Checkpoints } from "../src/services/Checkpoints.ts"

const { values } = parseArgs({
  options: {
    "task": { type: "string" },
    "dataset": { type: "string" },
    "seed": { type: "string", default: "0" },
    "steps": { type: "string", default: "10000" },
    "every": { type: "string", default: "1000" },
    "states": { type: "string", default: "2048" },
    "variant": { type: "string", default: "{}" },
    "init": { type: "string", default: "library" },
    "rewards": { type: "string", default: "none" },
    "run-dir": { type: "string" }
  }
})
if (values.task === undefined) throw new Error("--task is required")
const task = values.task
const seed = Number(values.seed)
const preset = JSON.parse(readFileSync(new URL("../presets/offline-cpu.json", import.meta.url), "utf8")) as { td3bc: object }
const td3bc = { ...preset.td3bc, ...JSON.parse(values.variant) as object, steps: Number(values.steps) }
const c = Schema.decodeUnknownSync(Offline.OfflineConfig)({
  task, runDir: "/tmp/td3bc-diagnostics", seed, dataset: values.dataset ?? `out/datasets/${task}.hdf5`, td3bc
})
const every = Number(values.every)
const convention = Schema.decodeUnknownSync(Schema.Literals(["none", "locomotion"]))(values.rewards)
const fmt = (x: number, d = 2) => x.toFixed(d)
const mean = (xs: ArrayLike<number>) => {
  let sum = 0
  for (let i = 0; i < xs.length; i++) sum += xs[i]
  return sum / xs.length
}

/** torch.nn.Linear's default initialisation: W and b ~ U(±1/√fan_in) (kaiming_uniform with a = √5). */
const torchInit = (B: TensorBackend, layout: Parameters.Layout, targets: ReadonlyArray<Tensor>, key: Rng.RngKey) => {
  const flat = new Float32Array(layout.size)
  const fanIn = new Map<string, number>()
  layout.specs.forEach((s) => { if (s.name.endsWith(".w")) fanIn.set(s.name.slice(0, -2), s.rows) })
  layout.specs.forEach((s, i) => {
    const n = s.rows * s.cols
    const bound = 1 / Math.sqrt(fanIn.get(s.name.slice(0, -2))!)
    const u = new Float64Array(n)
    Rng.fillUniform(Rng.split(key, s.name), u)
    for (let j = 0; j < n; j++) flat[layout.offsets[i] + j] = (2 * u[j] - 1) * bound
  })
  for (const t of targets) B.write(t, flat)
}

const program = Effect.gen(function*() {
  const backend = yield* Backend
  const B = backend.ops
  const raw = yield* (yield* DatasetStore).read(c.dataset)
  // The evaluation set: states at t < 500 of their episodes, their (clipped) actions and Monte-Carlo returns.
  const S = raw.observationDim
  const A = raw.actionDim
  const returns = new Float64Array(raw.size)
  const positions: Array<number> = []
  for (const e of OfflineDataset.episodes(raw)) {
    let g = 0
    for (let i = e.end - 1; i >= e.start; i--) returns[i] = g = raw.rewards[i] + c.td3bc.discount * g
    for (let i = e.start; i < Math.min(e.end, e.start + 500); i++) if (i < raw.size - 1 && raw.timeouts[i] === 0) positions.push(i)
  }
  const order = OfflineDataset.permutation(positions.length, Rng.named(seed, "td3bc-diagnostics"))
  const n = Math.min(Number(values.states), positions.length)
  const rows = Array.from(order.subarray(0, n), (k) => positions[k])
  const obs = B.upload(OfflineDataset.gatherRows(raw.observations, S, rows), n, S)
  const actions = B.upload(
    Float32Array.from(OfflineDataset.gatherRows(raw.actions, A, rows), (a) => Math.max(-OfflineDataset.ACTION_CLIP, Math.min(OfflineDataset.ACTION_CLIP, a))),
    n, A)
  const g = OfflineData.rewardScale(raw, convention) * mean(rows.map((i) => returns[i]))
  const noise = B.normal(n, A, Rng.named(seed, "td3bc-diagnostics-noise"))

  const report = (agent: Td3Bc.Td3Bc, withTargets: boolean) =>
    Effect.gen(function*() {
      const tc = agent.config
      const outs = B.scope(() => {
        const tape = new Tape(B)
        const live = new Parameters.Bound(tape, agent.critic.layout, agent.critic.params)
        const pi = new Parameters.Bound(tape, agent.actor.layout, agent.actor.params)
        const s = Td3Bc.normaliseOnTape(tape, agent, tape.leaf(obs))
        const xi = B.clamp(B.affine(noise, tc.policyNoise, 0), -tc.noiseClip, tc.noiseClip)
        const a = tape.leaf(actions)
        const piS = Td3Bc.policy(pi, agent, s)
        const qData = Td3Bc.qValues(live, agent, s, a).value
        const qNoisy = Td3Bc.q1(live, agent, s, tape.leaf(B.clamp(B.binary("add", actions, xi), -1, 1))).value
        const qPi = Td3Bc.q1(live, agent, s, piS).value
        const diff = B.binary("sub", piS.value, actions)
        const bc = B.reduce("mean", "all", B.binary("mul", diff, diff))
        const list = [qData, qNoisy, qPi, bc]
        if (withTargets) {
          const target = new Parameters.Bound(tape, agent.critic.layout, agent.critic.ema!)
          const piT = Td3Bc.policy(new Parameters.Bound(tape, agent.actor.layout, agent.actor.ema!), agent, s)
          const minQ = (q: Tensor) => B.binary("min", B.sliceCols(q, 0, 1), B.sliceCols(q, 1, 1))
          list.push(minQ(Td3Bc.qValues(target, agent, s, a).value))
          list.push(minQ(Td3Bc.qValues(target, agent, s, tape.leaf(B.clamp(B.binary("add", piT.value, xi), -1, 1))).value))
        }
        return list
      })
      const host: Array<Float32Array> = []
      for (const t of outs) host.push(yield* backend.read(t))
      for (const t of outs) B.dispose(t)
      const [qData, qNoisy, qPi, bc, qTargetData, qTarget] = host
      const q1 = Float32Array.from({ length: n }, (_, i) => qData[2 * i])
      const q2 = Float32Array.from({ length: n }, (_, i) => qData[2 * i + 1])
      return {
        G: fmt(g), "Q1(a)": fmt(mean(q1)), "Q2(a)": fmt(mean(q2)), "Q1(a)-G": fmt(mean(q1) - g),
        "Q1(a+ξ)": fmt(mean(qNoisy)), "Q1(π)": fmt(mean(qPi)),
        ...(qTarget === undefined ? {} : { "Q'(a)": fmt(mean(qTargetData!)), "Q'(π'+ξ)": fmt(mean(qTarget)) }),
        bc: fmt(bc[0], 4)
      }
    })

  if (values["run-dir"] !== undefined) {
    const run = yield* Agent.loadRun(values["run-dir"], ["td3bc"])
    const { agent, step } = run.td3bc!
    console.log(JSON.stringify({ runDir: values["run-dir"], step, ...(yield* report(agent, false)) }))
    return
  }
  const { prepared, device } = yield* Offline.loadData(c, convention)
  const agent = Td3Bc.create(B, c.td3bc, S, A, Rng.named(seed, "td3bc-init"), Td3Bc.normaliserOf(c.td3bc, prepared.train))
  if (values.init === "torch") {
    for (const m of [agent.actor, agent.critic]) torchInit(B, m.layout, [m.params, m.ema!], Rng.named(seed, "td3bc-torch-init"))
  }
  console.log(JSON.stringify({ task, seed, td3bc: c.td3bc, init: values.init, rewards: convention, states: n }))
  console.log(JSON.stringify({ step: 0, ...(yield* report(agent, true)) }))
  let window = B.zeros(1, 2)
  for (let i = 0; i < c.td3bc.steps; i++) {
    const l = Td3Bc.updateStep(B, agent, device, Rng.named(seed, "td3bc-batch"), i)
    const sum = B.binary("add", window, l)
    B.dispose(window)
    B.dispose(l)
    window = sum
    if ((i + 1) % every === 0) {
      const w = yield* backend.read(window)
      B.dispose(window)
      window = B.zeros(1, 2)
      console.log(JSON.stringify({ step: i + 1, critic_loss: fmt(w[0] / every, 4), ...(yield* report(agent, true)) }))
    }
  }
})

await Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(Layer.mergeAll(Backend.layerWasm, Checkpoints.layer, DatasetStore.layer)))))
