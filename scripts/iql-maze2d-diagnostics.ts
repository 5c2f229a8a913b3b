/**
 * Why does IQL's AWR actor fail on maze2d? Reads a trained run directory (critic, IQL actor, TD3+BC; nothing is
 * written) and the task's dataset, and reports:
 *   data     the rewards the critic learns from (IQL's prepare: maze2d rewards are kept, mask = 1, timeout steps dropped);
 *   invariance  max |V(s) − V(2·s + 1)| over training states beside the spread of V: 0 when V's LayerNorm is on the
 *            input (it removes each state's mean and scale over its 4 features), so V cannot tell (1, 1) from (3, 3);
 *   cells    at each cell's centre at rest: V(s), the direction of argmax_a Q(s, a) over 16 unit-length actions,
 *            the direction along the shortest path to the evaluation goal, and the IQL and TD3+BC actions there;
 *   ranking  the data's advantages A = min Q_target − V split by whether the data's action heads along the shortest
 *            path to the evaluation goal (cos > 0.7) or away (cos < −0.7), and the AWR weights exp(β·A) ∧ 100 of
 *            both groups (the share at the cap, the weight-share of the heading group, the effective sample size of a
 *            256-row batch);
 *   rollout  the evaluation episodes (the same starts as `evaluate`) of the IQL actor and of TD3+BC: return,
 *            normalised score, the share of action coordinates at |a| ≥ 0.99, the mean |a|, the mean cosine between
 *            the action and the shortest-path direction, the final distance to the goal.
 *
 *   node scripts/iql-maze2d-diagnostics.ts --run-dir runs/maze2d-umaze-v1/seed0 [--task maze2d-umaze-v1] [--seed 0]
 *     [--beta 3] [--episodes 10]
 */
import { parseArgs } from "node:util"
import { Effect, Layer } from "effect"
import { DatasetStore } from "../src/data/DatasetStore.ts"
import type { Tensor } from "../src/domain/TensorBackend.ts"
import * as Environment from "../src/env/Environment.ts"
import { Environments } from "../src/env/Environments.ts"
import * as Maze2d from "../src/env/Maze2d.ts"
import * as WaypointController from "../src/env/WaypointController.ts"
import * as Model from "../src/nn/Model.ts"
import * as Critic from "../src/rl/Critic.ts"
import * as IqlActor from "../src/rl/IqlActor.ts"
import * as OfflineData from "../src/rl/OfflineData.ts"
import * as Td3Bc from "../src/rl/Td3Bc.ts"
import * as Agent from "../src/services/Agent.ts"
import { Backend } from "../src/services/Backend.ts"
import { Checkpoints } from "../src/services/Checkpoints.ts"

const { values } = parseArgs({
  options: {
    "run-dir": { type: "string" },
    "task": { type: "string", default: "maze2d-umaze-v1" },
    "dataset": { type: "string" },
    "seed": { type: "string", default: "0" },
    "beta": { type: "string", default: "3" },
    "episodes": { type: "string", default: "10" }
  }
})
if (values["run-dir"] === undefined) throw new Error("--run-dir is required")
const runDir = values["run-dir"]
const task = values.task
const seed = Number(values.seed)
const beta = Number(values.beta)
const episodes = Number(values.episodes)
const mazeName = /^maze2d-(umaze|medium|large)-v1$/.exec(task)?.[1] as Maze2d.MazeName | undefined
if (mazeName === undefined) throw new Error(`--task must be maze2d-{umaze,medium,large}-v1, not ${task}`)
const maze = Maze2d.parse(Maze2d.layouts[mazeName])
const [goalX, goalY] = maze.goal
const fmt = (x: number, d = 2) => x.toFixed(d)
const mean = (xs: ArrayLike<number>) => {
  let sum = 0
  for (let i = 0; i < xs.length; i++) sum += xs[i]
  return xs.length === 0 ? NaN : sum / xs.length
}

/** Unit direction from (x, y) along the shortest grid path to the goal: towards the next cell's centre (the goal's in its cell). */
const pathDirection = (x: number, y: number): [number, number] => {
  const start: Maze2d.Cell = [Math.round(x), Math.round(y)]
  const path = WaypointController.shortestPath(maze, start, maze.goal)
  const [tx, ty] = path.length === 0 ? maze.goal : path[0]
  const dx = tx - x
  const dy = ty - y
  const n = Math.hypot(dx, dy)
  return n < 1e-9 ? [0, 0] : [dx / n, dy / n]
}
const cosine = (ax: number, ay: number, [dx, dy]: [number, number]) => {
  const n = Math.hypot(ax, ay)
  return n < 1e-9 || (dx === 0 && dy === 0) ? 0 : (ax * dx + ay * dy) / n
}
const compass = (x: number, y: number) => `(${fmt(x)}, ${fmt(y)})`

const program = Effect.gen(function*() {
  const backend = yield* Backend
  const B = backend.ops
  const raw = yield* (yield* DatasetStore).read(values.dataset ?? `out/datasets/${task}.hdf5`)
  const prepared = OfflineData.prepare(raw, OfflineData.rewardConvention(task), seed)
  const train = prepared.train
  const run = yield* Agent.loadRun(runDir, ["iql", "td3bc"])
  const critic = run.critic!.critic
  const actor = run.iql!.actor
  const td3bc = run.td3bc!.agent
  const readAll = (ts: ReadonlyArray<Tensor>) =>
    Effect.gen(function*() {
      const out: Array<Float32Array> = []
      for (const t of ts) out.push(yield* backend.read(t))
      for (const t of ts) B.dispose(t)
      return out
    })
  const concat = (parts: ReadonlyArray<Float32Array>) => {
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0))
    let k = 0
    for (const p of parts) { out.set(p, k); k += p.length }
    return out
  }

  // --- data
  let positive = 0
  for (let i = 0; i < train.size; i++) positive += train.rewards[i]
  const terminals = train.terminals.reduce((n, t) => n + t, 0)
  console.log(JSON.stringify({
    section: "data", runDir, task, rows: train.size, rewardOneShare: fmt(positive / train.size, 4), terminals,
    rewardScale: OfflineData.rewardScale(raw, OfflineData.rewardConvention(task)), discount: critic.config.discount,
    vIfAlwaysAtGoal: fmt(1 / (1 - critic.config.discount), 1), criticTau: critic.config.tau, actorBeta: actor.config.beta,
    actorSteps: run.iql!.step
  }))

  // --- invariance: V(s) against V(2·s + 1) on training states (equal under a LayerNorm on the input)
  const n = Math.min(4096, train.size)
  const sample = train.observations.subarray(0, 4 * n)
  const [vSample, vMoved] = yield* readAll(B.scope(() => {
    const vp = Model.bind(B, critic.v, critic.v.params)
    const v = (x: Float32Array) => Critic.value(vp, critic.config, vp.tape.leaf(B.upload(x, n, 4))).value
    return [v(sample), v(sample.map((x) => 2 * x + 1))]
  }))
  let gap = 0
  for (let i = 0; i < n; i++) gap = Math.max(gap, Math.abs(vSample[i] - vMoved[i]))
  const vMean = mean(vSample)
  const vStd = Math.sqrt(mean(Array.from(vSample, (v) => (v - vMean) ** 2)))
  console.log(JSON.stringify({
    section: "invariance", valueLayerNorm: Critic.valueLayerNorm(critic.config), states: n,
    "max |V(s) − V(2s+1)|": fmt(gap, 4), "std V(s)": fmt(vStd, 3)
  }))

  // --- cells: V, argmax-Q direction, actions of both actors at each cell centre at rest
  const cells = maze.resetCells
  const K = 16
  const cellObs = Float32Array.from(cells.flatMap(([x, y]) => [x, y, 0, 0]))
  const dirs = Array.from({ length: K }, (_, k) => [Math.cos((2 * Math.PI * k) / K), Math.sin((2 * Math.PI * k) / K)] as const)
  const [vCells, qCells] = yield* readAll(B.scope(() => {
    const n = cells.length
    const s = B.upload(cellObs, n, 4)
    const vp = Model.bind(B, critic.v, critic.v.params)
    const v = Critic.value(vp, critic.config, vp.tape.leaf(s)).value
    const sRep = B.upload(Float32Array.from({ length: n * K * 4 }, (_, i) => cellObs[Math.floor(i / (4 * K)) * 4 + (i % 4)]), n * K, 4)
    const aRep = B.upload(Float32Array.from({ length: n * K * 2 }, (_, i) => dirs[Math.floor(i / 2) % K][i % 2]), n * K, 2)
    const qp = Model.bind(B, critic.q, critic.q.ema ?? critic.q.params)
    const q = Critic.minQ(qp.tape, Critic.qValues(qp, critic.config, qp.tape.leaf(sRep), qp.tape.leaf(aRep))).value
    return [v, q]
  }))
  const obs64 = Float64Array.from(cellObs)
  const iqlCells = yield* IqlActor.act(backend, actor, obs64)
  const td3Cells = yield* Td3Bc.act(backend, td3bc, obs64)
  cells.forEach(([x, y], i) => {
    let best = 0
    for (let k = 1; k < K; k++) if (qCells[i * K + k] > qCells[i * K + best]) best = k
    const qs = Array.from(qCells.subarray(i * K, (i + 1) * K))
    const path = pathDirection(x, y)
    console.log(JSON.stringify({
      section: "cells", cell: `(${x}, ${y})`, goal: x === goalX && y === goalY, V: fmt(vCells[i]),
      "maxQ-minQ": fmt(Math.max(...qs) - Math.min(...qs)), argmaxQ: compass(...dirs[best]), path: compass(...path),
      "cos(argmaxQ,path)": fmt(cosine(dirs[best][0], dirs[best][1], path)),
      iql: compass(iqlCells[2 * i], iqlCells[2 * i + 1]), td3bc: compass(td3Cells[2 * i], td3Cells[2 * i + 1])
    }))
  })
  const logStd = yield* readAll(B.scope(() => [Model.bind(B, actor.model, actor.model.params).get("pi.logStd").value]))
  console.log(JSON.stringify({ section: "actor", logStd: Array.from(logStd[0], (v) => fmt(v, 3)) }))

  // --- ranking: advantages of the data's actions by whether they head along the path to the goal
  const device = OfflineData.upload(B, train)
  const adv = concat(yield* readAll(Critic.advantages(B, critic, device.observations, device.actions)))
  for (const t of Object.values(device)) B.dispose(t)
  const toward: Array<number> = []
  const away: Array<number> = []
  const weightOf = (a: number) => Math.min(Math.exp(beta * a), IqlActor.EXP_ADVANTAGE_MAX)
  let capped = 0
  let wToward = 0
  let wAll = 0
  for (let i = 0; i < train.size; i++) {
    const o = train.observations
    const c = cosine(train.actions[2 * i], train.actions[2 * i + 1], pathDirection(o[4 * i], o[4 * i + 1]))
    const w = weightOf(adv[i])
    if (w >= IqlActor.EXP_ADVANTAGE_MAX) capped++
    wAll += w
    if (c > 0.7) { toward.push(adv[i]); wToward += w } else if (c < -0.7) away.push(adv[i])
  }
  // effective sample size (Σw)²/Σw² of consecutive 256-row blocks (the rows are in random order after the split)
  const ess: Array<number> = []
  for (let start = 0; start + 256 <= train.size; start += 256) {
    let s1 = 0
    let s2 = 0
    for (let i = start; i < start + 256; i++) { const w = weightOf(adv[i]); s1 += w; s2 += w * w }
    ess.push((s1 * s1) / s2)
  }
  const q = (xs: Array<number>, p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(p * (s.length - 1))] }
  const all = Array.from(adv)
  console.log(JSON.stringify({
    section: "ranking", beta,
    "A median": fmt(q(all, 0.5), 3), "A p05": fmt(q(all, 0.05), 3), "A p95": fmt(q(all, 0.95), 3),
    towardShare: fmt(toward.length / train.size, 3), "A toward (mean)": fmt(mean(toward), 3),
    awayShare: fmt(away.length / train.size, 3), "A away (mean)": fmt(mean(away), 3),
    "weight share toward": fmt(wToward / wAll, 3), "capped share": fmt(capped / train.size, 4),
    "ESS/256 (median)": fmt(q(ess, 0.5) / 256, 3)
  }))

  // --- rollouts: the evaluation episodes of both actors
  const envs = yield* Environments
  for (const [method, act] of [
    ["iql", (o: Float64Array) => IqlActor.act(backend, actor, o)],
    ["td3bc", (o: Float64Array) => Td3Bc.act(backend, td3bc, o)]
  ] as const) {
    const env = yield* envs.maze2d({ maze: mazeName, batch: episodes })
    let entries = 0
    let saturated = 0
    let absSum = 0
    let cosSum = 0
    let last: Float64Array = new Float64Array(0)
    const r = yield* Environment.rolloutEffect(env, (o, _t) =>
      act(o).pipe(Effect.tap((a) =>
        Effect.sync(() => {
          for (let i = 0; i < a.length; i++) { entries++; absSum += Math.abs(a[i]); if (Math.abs(a[i]) >= 0.99) saturated++ }
          for (let e = 0; e < a.length / 2; e++) cosSum += cosine(a[2 * e], a[2 * e + 1], pathDirection(o[4 * e], o[4 * e + 1]))
          last = o
        }))), 1_000_000 + seed)
    const finalDistance = Array.from({ length: episodes }, (_, e) => Math.hypot(last[4 * e] - goalX, last[4 * e + 1] - goalY))
    const returns = Array.from(r.returns)
    console.log(JSON.stringify({
      section: "rollout", method, returnMean: fmt(mean(returns)), normalised: fmt(Environment.normalizedScore(env.name, mean(returns)), 1),
      returns: returns.map((x) => fmt(x, 0)).join(" "), saturatedShare: fmt(saturated / entries, 3), meanAbsAction: fmt(absSum / entries, 3),
      "cos(a,path)": fmt(cosSum / (entries / 2), 3), finalDistance: finalDistance.map((d) => fmt(d)).join(" ")
    }))
    env.close()
  }
})

await Effect.runPromise(Effect.scoped(program.pipe(
  Effect.provide(Layer.mergeAll(Backend.layerWasm, Checkpoints.layer, DatasetStore.layer, Environments.layer))
)))
