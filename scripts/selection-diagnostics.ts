/**
 * Does the IQL critic rank IDQL's candidates the way their true value does? Reads a trained run directory (swg and
 * critic.safetensors, and the checkpoints of the `--follow` and `--source` methods; nothing is written) and, at N
 * states, draws the K unguided samples of the SWG model that IDQL draws (diffusion BC's sampler, temperature 1),
 * scores each with the critic as IDQL does (min(Q₁, Q₂) of the target Qs; IDQL picks the largest Q − V, the same
 * candidate), and measures each candidate's true value in the simulator: the state is set from the observation
 * (DynamicsError.stateOf: qpos = (0, o[0 .. nq − 2]), qvel the rest; x enters neither dynamics nor reward), the
 * candidate is taken, then the fixed policy `--follow` acts for the remaining H − 1 steps, and
 * G = Σ_{t<H} γ^t r_t (0 after a fall), the mean of `--rollouts` rollouts. States whose observed velocity sits at the
 * observation's clip (±10) are skipped: they cannot be rebuilt. At data states the dataset's own action is simulated
 * for one step and its reward compared with the data's (`firstRewardError`: the rebuild check).
 * States: "data", the dataset's (any transition, at random), or a method's, visited by that agent's own episodes
 * (e.g. "iql": a good policy's states; "idql": the states where the selection acts).
 * Reported per state set (means over states, ± the standard error over states):
 *   spearman     Spearman's ρ between Q and G over the K candidates of a state; the ceilings G's own noise sets:
 *                with ≥ 2 rollouts ρ between two halves of them (`spearmanHalves`), with --jitter σ ρ between G and
 *                G of every candidate moved by σ·N(0, 1) (`spearmanJitter`: how smooth the true value is in a for
 *                a deterministic follower, whose G has no noise but may be chaotic); `pooledSpearman`: ρ over all
 *                (state, candidate) pairs (mostly across states);
 *   G            G of the argmax-Q candidate, of a random one (the candidates' mean), of the best and the worst, the
 *                dataset's own action (data states), and the share of each that falls within H steps;
 *   percentile   where the argmax-Q candidate's G ranks among the K (0 worst, 1 best; 0.5 at random);
 *   spread       Q's standard deviation across the candidates of a state (mean over states) against across states
 *                (of the per-state mean), and the same for G scaled by the critic's reward scale (1000/(max − min
 *                episode return); H-step returns, so levels are not Q's, only spreads compare); Q's own claim for
 *                its pick, Q(argmax) − mean Q, against the true scaled G(argmax) − mean G;
 *   unusual      for the argmax-Q candidate and for the true-best one, the percentile among the K of the distance
 *                to the candidates' mean, of the mean distance to the other candidates (a density proxy: high =
 *                isolated), of |Q₁ − Q₂| (the twin heads' disagreement), and the share of entries at |a| ≥ 0.999
 *                against all candidates'.
 * --selectors: whole episodes (the evaluation's starts, 1 000 000 + seed) that pick among the K unguided candidates
 * at every step by one rule: argmax-q (IDQL), argmin-q, random (diffusion BC), centre (the candidate nearest the
 * candidates' mean), outlier (the farthest); normalised score, mean length, share fallen, and the mean centre-
 * distance percentile of the picks.
 *
 *   node scripts/selection-diagnostics.ts --run-dir runs/walker2d-medium-expert-v2/seed0 \
 *     [--task walker2d-medium-expert-v2] [--source data,iql,idql] [--follow iql] [--states 128] [--candidates 16] \
 *     [--horizon 100] [--rollouts 1] [--jitter 0.01] [--episodes 8] [--batch 512] [--discount 0.99] [--seed 0] \
 *     [--selectors argmax-q,argmin-q,random,centre,outlier] [--selector-episodes 10]
 * --task defaults to the run directory's parent's name, the dataset to out/datasets/<task>.hdf5. A deterministic
 * `--follow` (iql, td3bc, iql-unguided, …) needs one rollout; a sampling one (diffusion-bc) takes --rollouts ≥ 2.
 * Walker2d at 128 states, H = 100, three state sets, jitter and the five selectors: about 5 minutes on 2 cores.
 */
import { basename, dirname } from "node:path"
import { parseArgs } from "node:util"
import { Effect, Layer, Schema } from "effect"
import { DatasetStore } from "../src/data/DatasetStore.ts"
import * as OfflineDataset from "../src/data/OfflineDataset.ts"
import * as Rng from "../src/domain/Rng.ts"
import * as Statistics from "../src/domain/Statistics.ts"
import type { TensorBackend } from "../src/domain/TensorBackend.ts"
import * as DynamicsError from "../src/env/DynamicsError.ts"
import * as Environment from "../src/env/Environment.ts"
import { Environments } from "../src/env/Environments.ts"
import * as Locomotion from "../src/env/Locomotion.ts"
import * as Model from "../src/nn/Model.ts"
import * as Critic from "../src/rl/Critic.ts"
import * as OfflineData from "../src/rl/OfflineData.ts"
import * as Agent from "../src/services/Agent.ts"
import { Backend } from "../src/services/Backend.ts"
import { Checkpoints } from "../src/services/Checkpoints.ts"

const { values } = parseArgs({
  options: {
    "run-dir": { type: "string" },
    "task": { type: "string" },
    "dataset": { type: "string" },
    "source": { type: "string", default: "data" },
    "follow": { type: "string", default: "iql" },
    "states": { type: "string", default: "128" },
    "candidates": { type: "string", default: "16" },
    "horizon": { type: "string", default: "100" },
    "rollouts": { type: "string", default: "1" },
    "episodes": { type: "string", default: "8" },
    "batch": { type: "string", default: "512" },
    "discount": { type: "string", default: "0.99" },
    "seed": { type: "string", default: "0" },
    "jitter": { type: "string", default: "0" },
    "selectors": { type: "string", default: "" },
    "selector-episodes": { type: "string", default: "8" }
  }
})
if (values["run-dir"] === undefined) throw new Error("--run-dir is required")
const runDir = values["run-dir"]
const task = values.task ?? basename(dirname(runDir))
const locomotion = /^(halfcheetah|hopper|walker2d)-/.exec(task)?.[1] as Locomotion.Task | undefined
if (locomotion === undefined) throw new Error(`--task must be a locomotion task, not ${task}`)
const method = Schema.decodeUnknownSync(Agent.AgentMethod)
const follow = method(values.follow)
const sources = values.source.split(",").map((s) => (s === "data" ? "data" as const : method(s)))
const N = Number(values.states)
const K = Number(values.candidates)
const H = Number(values.horizon)
const R = Number(values.rollouts)
const episodes = Number(values.episodes)
const chunk = Number(values.batch)
const gamma = Number(values.discount)
const seed = Number(values.seed)
const Selectors = Schema.Literals(["argmax-q", "argmin-q", "random", "centre", "outlier"])
const selectors = values.selectors === "" ? [] : values.selectors.split(",").map((r) => Schema.decodeUnknownSync(Selectors)(r))
const selectorEpisodes = Number(values["selector-episodes"])
const jitter = Number(values.jitter)
const key = (name: string) => Rng.named(seed, `selection-diagnostics-${name}`)
const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x))
const std = (xs: ReadonlyArray<number>) => {
  const m = Statistics.mean(xs)
  return Math.sqrt(Statistics.mean(xs.map((x) => (x - m) ** 2)))
}
/** mean ± standard error over states, as text. */
const summary = (xs: ReadonlyArray<number>, d = 3) => {
  const finite = xs.filter(Number.isFinite)
  return `${fmt(Statistics.mean(finite), d)} ± ${fmt(Statistics.standardError(finite), d)}${finite.length < xs.length ? ` (${finite.length} of ${xs.length})` : ""}`
}
/** Where entry `j` of `xs` ranks among them: 0 lowest, 1 highest (ties at their mean rank). */
const percentile = (xs: ArrayLike<number>, j: number) => (Statistics.ranks(xs)[j] - 1) / (xs.length - 1)
const argmax = (xs: ArrayLike<number>) => {
  let best = 0
  for (let j = 1; j < xs.length; j++) if (xs[j] > xs[best]) best = j
  return best
}

/** min(Q₁, Q₂) of the target Qs and |Q₁ − Q₂| of rows (s, a), read back. */
const criticValues = (backend: Backend["Service"], critic: Critic.Critic, obs: Float64Array, actions: Float64Array) =>
  Effect.gen(function*() {
    const B: TensorBackend = backend.ops
    const rows = obs.length / critic.observationDim
    const out = B.scope(() => {
      const s = B.upload(Float32Array.from(obs), rows, critic.observationDim)
      const a = B.upload(Float32Array.from(actions), rows, critic.actionDim)
      const qp = Model.bind(B, critic.q, critic.q.ema ?? critic.q.params)
      return Critic.qValues(qp, critic.config, qp.tape.leaf(s), qp.tape.leaf(a)).value
    })
    const host = yield* backend.read(out)
    B.dispose(out)
    return {
      q: Float64Array.from({ length: rows }, (_, i) => Math.min(host[2 * i], host[2 * i + 1])),
      gap: Float64Array.from({ length: rows }, (_, i) => Math.abs(host[2 * i] - host[2 * i + 1]))
    }
  })

const program = Effect.gen(function*() {
  const backend = yield* Backend
  const envs = yield* Environments
  const raw = yield* (yield* DatasetStore).read(values.dataset ?? `out/datasets/${task}.hdf5`)
  const S = raw.observationDim
  const A = raw.actionDim
  const scale = OfflineData.rewardScale(raw, OfflineData.rewardConvention(task))
  const policyMethods = sources.filter((s) => s !== "data")
  const run = yield* Agent.loadRun(runDir, ["idql", follow, ...policyMethods])
  const critic = run.critic!.critic
  const behaviour = yield* Agent.fromRun(run, "diffusion-bc")
  const follower = yield* Agent.fromRun(run, follow)
  const nq = (S + 1) / 2 // hopper and walker2d: nq = nv, S = nq − 1 + nv
  const bound = Locomotion.tasks[locomotion].observedVelocityBound
  const atBound = (o: ArrayLike<number>, offset: number) => {
    for (let k = nq - 1; k < S; k++) if (Math.abs(o[offset + k]) >= bound) return true
    return false
  }
  console.log(JSON.stringify({
    task, runDir, follow, sources, states: N, candidates: K, horizon: H, rollouts: R, discount: gamma, rewardScale: scale,
    steps: { swg: run.swg!.step, critic: run.critic!.step }
  }))

  /**
   * G (mean over `rollouts`) of every start (observation, first action), each rollout's G, and the share that fell:
   * `chunk` members simulated at once, the follower acting on the members still running.
   */
  const startValues = (starts: Float64Array, first: Float64Array, rollouts: number) =>
    Effect.scoped(Effect.gen(function*() {
      const M = starts.length / S
      const members = M * rollouts
      const batch = Math.min(chunk, members)
      const env = yield* envs.locomotion({ task: locomotion, batch })
      const each = new Float64Array(members)
      const fell = new Float64Array(members)
      for (let start = 0; start < members; start += batch) {
        const rows = Math.min(batch, members - start)
        yield* Environment.attempt(() => env.reset(0))
        const actions = new Float64Array(batch * A)
        for (let i = 0; i < batch; i++) {
          // member → start (start-major: the rollouts of a start are neighbours); padding repeats the chunk's first
          const m = Math.floor((start + (i < rows ? i : 0)) / rollouts)
          const { qpos, qvel } = DynamicsError.stateOf(nq, nq, starts, m * S)
          env.setState(i, qpos, qvel)
          for (let k = 0; k < A; k++) actions[i * A + k] = first[m * A + k]
        }
        const running = new Uint8Array(batch).fill(1)
        let step = yield* Environment.attempt(() => env.step(actions))
        for (let t = 0; ; t++) {
          for (let i = 0; i < rows; i++) {
            if (running[i] === 0) continue
            each[start + i] += gamma ** t * step.rewards[i]
            if (step.terminated[i] === 1) fell[start + i] = 1
            if (step.terminated[i] === 1 || step.truncated[i] === 1) running[i] = 0
          }
          if (t === H - 1) break
          const live = Array.from({ length: batch }, (_, i) => i).filter((i) => running[i] === 1 && i < rows)
          if (live.length === 0) break
          const obs = new Float64Array(live.length * S)
          live.forEach((i, r) => obs.set(step.observations.subarray(i * S, (i + 1) * S), r * S))
          const acted = yield* follower.act(obs, { key: Rng.at(Rng.split(key("follow"), `${start}`), t) })
          const next = new Float64Array(batch * A)
          live.forEach((i, r) => next.set(acted.subarray(r * A, (r + 1) * A), i * A))
          step = yield* Environment.attempt(() => env.step(next))
        }
      }
      const mean = Float64Array.from({ length: M }, (_, m) => {
        let sum = 0
        for (let r = 0; r < rollouts; r++) sum += each[m * rollouts + r]
        return sum / rollouts
      })
      const fellShare = Float64Array.from({ length: M }, (_, m) => {
        let sum = 0
        for (let r = 0; r < rollouts; r++) sum += fell[m * rollouts + r]
        return sum / rollouts
      })
      return { mean, each, fell: fellShare }
    }))

  /**
   * The check that a state is rebuilt from its observation: the mean |r_sim − r_data| of one step with the data's
   * own action from dataset rows `rows` (the reward holds the x velocity, so it tests the whole step).
   */
  const firstRewardError = (obs: Float64Array, actions: Float64Array, rows: ReadonlyArray<number>) =>
    Effect.scoped(Effect.gen(function*() {
      const env = yield* envs.locomotion({ task: locomotion, batch: rows.length })
      yield* Environment.attempt(() => env.reset(0))
      rows.forEach((_, i) => {
        const { qpos, qvel } = DynamicsError.stateOf(nq, nq, obs, i * S)
        env.setState(i, qpos, qvel)
      })
      const step = yield* Environment.attempt(() => env.step(actions))
      return Statistics.mean(rows.map((row, i) => Math.abs(step.rewards[i] - raw.rewards[row])))
    }))

  /**
   * N states of the source: dataset rows (with their rows, for the data's own action), or the observations of an
   * agent's own episodes (with their step in the episode); observed velocities inside the clip.
   */
  const statesOf = (source: (typeof sources)[number]) =>
    Effect.scoped(Effect.gen(function*() {
      const pool: Array<Float64Array> = []
      const tags: Array<number> = []
      if (source === "data") {
        for (let i = 0; i < raw.size; i++) {
          if (atBound(raw.observations, i * S)) continue
          pool.push(Float64Array.from(raw.observations.subarray(i * S, (i + 1) * S)))
          tags.push(i)
        }
      } else {
        const agent = yield* Agent.fromRun(run, source)
        const env = yield* envs.locomotion({ task: locomotion, batch: episodes })
        const r = yield* Environment.rolloutEffect(env, (obs, t) => {
          for (let e = 0; e < obs.length / S; e++) {
            if (atBound(obs, e * S)) continue
            pool.push(obs.slice(e * S, (e + 1) * S))
            tags.push(t)
          }
          return agent.act(obs, { key: Rng.at(key(`source-${source}`), t) })
        }, 2_000_000 + seed, { runningOnly: true })
        const returnMean = Statistics.mean(Array.from(r.returns))
        console.log(JSON.stringify({
          source, episodes, returnMean: fmt(returnMean, 1),
          normalizedScore: fmt(Environment.normalizedScore(Locomotion.tasks[locomotion].name, returnMean), 1),
          lengths: Array.from(r.lengths), visited: pool.length
        }))
      }
      const order = OfflineDataset.permutation(pool.length, key(`states-${source}`))
      const n = Math.min(N, pool.length)
      const chosen = Array.from(order.subarray(0, n))
      const obs = new Float64Array(n * S)
      chosen.forEach((p, i) => obs.set(pool[p], i * S))
      return { obs, n, tags: chosen.map((p) => tags[p]) }
    }))

  for (const source of sources) {
    const started = Date.now()
    const { obs, n, tags } = yield* statesOf(source)
    const repeated = new Float64Array(n * K * S)
    for (let i = 0; i < n; i++) for (let j = 0; j < K; j++) repeated.set(obs.subarray(i * S, (i + 1) * S), (i * K + j) * S)
    const candidates = yield* behaviour.act(repeated, { key: key(`candidates-${source}`) })
    const { q, gap } = yield* criticValues(backend, critic, repeated, candidates)
    const g = yield* startValues(repeated, candidates, R)
    // G again with every candidate moved by σ·N(0, 1) (clipped to ±1): how smooth the true values are in a
    const jittered = jitter > 0
      ? yield* Effect.gen(function*() {
        const noise = new Float64Array(candidates.length)
        Rng.fillNormal(key(`jitter-${source}`), noise)
        return yield* startValues(repeated, candidates.map((a, k) => Math.max(-1, Math.min(1, a + jitter * noise[k]))), R)
      })
      : undefined
    const data = source === "data"
      ? yield* Effect.gen(function*() {
        const actions = Float64Array.from(OfflineDataset.gatherRows(raw.actions, A, tags), (a) => Math.max(-1, Math.min(1, a)))
        const values = yield* criticValues(backend, critic, obs, actions)
        return { q: values.q, g: yield* startValues(obs, actions, R), rewardError: yield* firstRewardError(obs, actions, tags) }
      })
      : undefined

    const rho: Array<number> = []
    const rhoHalves: Array<number> = []
    const rhoJitter: Array<number> = []
    const picked = { g: [] as Array<number>, fell: [] as Array<number>, pct: [] as Array<number> }
    const random = { g: [] as Array<number>, fell: [] as Array<number> }
    const best: Array<number> = []
    const worst: Array<number> = []
    const qWithin: Array<number> = []
    const qMeans: Array<number> = []
    const gWithin: Array<number> = []
    const gMeans: Array<number> = []
    const qGain: Array<number> = []
    const gGain: Array<number> = []
    const unusual = {
      picked: { centre: [] as Array<number>, isolation: [] as Array<number>, gap: [] as Array<number>, bound: [] as Array<number> },
      best: { centre: [] as Array<number>, isolation: [] as Array<number>, gap: [] as Array<number>, bound: [] as Array<number> },
      all: { bound: [] as Array<number> }
    }
    const boundShare = (i: number, j: number) => {
      let at = 0
      for (let k = 0; k < A; k++) if (Math.abs(candidates[(i * K + j) * A + k]) >= 0.999) at++
      return at / A
    }
    for (let i = 0; i < n; i++) {
      const qs = q.subarray(i * K, (i + 1) * K)
      const gs = g.mean.subarray(i * K, (i + 1) * K)
      const fs = g.fell.subarray(i * K, (i + 1) * K)
      rho.push(Statistics.spearman(qs, gs))
      if (jittered !== undefined) rhoJitter.push(Statistics.spearman(gs, jittered.mean.subarray(i * K, (i + 1) * K)))
      if (R >= 2) {
        const half = (from: number, to: number) => Float64Array.from({ length: K }, (_, j) => {
          let sum = 0
          for (let r = from; r < to; r++) sum += g.each[(i * K + j) * R + r]
          return sum / (to - from)
        })
        rhoHalves.push(Statistics.spearman(half(0, R >> 1), half(R >> 1, R)))
      }
      const j = argmax(qs)
      const top = argmax(gs)
      picked.g.push(gs[j])
      picked.fell.push(fs[j])
      picked.pct.push(percentile(gs, j))
      random.g.push(Statistics.mean(Array.from(gs)))
      random.fell.push(Statistics.mean(Array.from(fs)))
      best.push(Math.max(...gs))
      worst.push(Math.min(...gs))
      qWithin.push(std(Array.from(qs)))
      qMeans.push(Statistics.mean(Array.from(qs)))
      gWithin.push(scale * std(Array.from(gs)))
      gMeans.push(scale * Statistics.mean(Array.from(gs)))
      qGain.push(qs[j] - Statistics.mean(Array.from(qs)))
      gGain.push(scale * (gs[j] - Statistics.mean(Array.from(gs))))
      // the candidates' geometry: distance to their mean, mean distance to the others
      const centre = new Float64Array(A)
      for (let c = 0; c < K; c++) for (let k = 0; k < A; k++) centre[k] += candidates[(i * K + c) * A + k] / K
      const dist = (c: number, to: (k: number) => number) => {
        let sum = 0
        for (let k = 0; k < A; k++) sum += (candidates[(i * K + c) * A + k] - to(k)) ** 2
        return Math.sqrt(sum)
      }
      const toCentre = Float64Array.from({ length: K }, (_, c) => dist(c, (k) => centre[k]))
      const isolation = Float64Array.from({ length: K }, (_, c) => {
        let sum = 0
        for (let o = 0; o < K; o++) if (o !== c) sum += dist(c, (k) => candidates[(i * K + o) * A + k])
        return sum / (K - 1)
      })
      const gaps = gap.subarray(i * K, (i + 1) * K)
      for (const [which, c] of [["picked", j], ["best", top]] as const) {
        unusual[which].centre.push(percentile(toCentre, c))
        unusual[which].isolation.push(percentile(isolation, c))
        unusual[which].gap.push(percentile(gaps, c))
        unusual[which].bound.push(boundShare(i, c))
      }
      unusual.all.bound.push(Statistics.mean(Array.from({ length: K }, (_, c) => boundShare(i, c))))
    }
    const diff = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>) => xs.map((x, i) => x - ys[i])
    console.log(JSON.stringify({
      source, states: n, ...(data === undefined ? {} : { firstRewardError: data.rewardError.toExponential(2) }), ...(source === "data" ? {} : { meanEpisodeStep: fmt(Statistics.mean(tags), 0) }), seconds: fmt((Date.now() - started) / 1000, 0),
      spearman: summary(rho), pooledSpearman: fmt(Statistics.spearman(q, g.mean)), ...(R >= 2 ? { spearmanHalves: summary(rhoHalves) } : {}),
      ...(jittered === undefined ? {} : { spearmanJitter: summary(rhoJitter) }),
      G: {
        argmaxQ: summary(picked.g, 2), random: summary(random.g, 2), best: summary(best, 2), worst: summary(worst, 2),
        ...(data === undefined ? {} : { dataAction: summary(Array.from(data.g.mean), 2) }),
        "argmaxQ-random": summary(diff(picked.g, random.g), 2), "best-argmaxQ": summary(diff(best, picked.g), 2)
      },
      fell: {
        argmaxQ: summary(picked.fell), random: summary(random.fell),
        ...(data === undefined ? {} : { dataAction: summary(Array.from(data.g.fell)) })
      },
      percentileOfArgmaxQ: summary(picked.pct),
      spread: {
        qWithinStates: fmt(Statistics.mean(qWithin)), qAcrossStates: fmt(std(qMeans)),
        scaledGWithinStates: fmt(Statistics.mean(gWithin)), scaledGAcrossStates: fmt(std(gMeans)),
        "Q(argmax)-meanQ": summary(qGain), "scaledG(argmax)-meanG": summary(gGain),
        ...(data === undefined ? {} : { "Q(data)-meanQ": summary(Array.from(data.q, (x, i) => x - qMeans[i])) })
      },
      unusual: {
        argmaxQ: {
          centreDistancePct: summary(unusual.picked.centre), isolationPct: summary(unusual.picked.isolation),
          headGapPct: summary(unusual.picked.gap), boundShare: summary(unusual.picked.bound)
        },
        bestG: {
          centreDistancePct: summary(unusual.best.centre), isolationPct: summary(unusual.best.isolation),
          headGapPct: summary(unusual.best.gap), boundShare: summary(unusual.best.bound)
        },
        allBoundShare: summary(unusual.all.bound)
      }
    }, null, 1))
  }

  // Whole episodes (the evaluation's starts) that pick among the K unguided candidates at every step by a fixed rule.
  for (const rule of selectors) {
    const started = Date.now()
    let picks = 0
    let centreSum = 0
    const pickKey = key(`selector-${rule}`)
    const result = yield* Effect.scoped(Effect.gen(function*() {
      const env = yield* envs.locomotion({ task: locomotion, batch: selectorEpisodes })
      return yield* Environment.rolloutEffect(env, (obs, t) => Effect.gen(function*() {
        const rows = obs.length / S
        const repeated = new Float64Array(rows * K * S)
        for (let i = 0; i < rows; i++) for (let j = 0; j < K; j++) repeated.set(obs.subarray(i * S, (i + 1) * S), (i * K + j) * S)
        const candidates = yield* behaviour.act(repeated, { key: Rng.at(pickKey, t) })
        const { q } = rule === "argmax-q" || rule === "argmin-q" ? yield* criticValues(backend, critic, repeated, candidates) : { q: undefined }
        const u = new Float64Array(rows)
        Rng.fillUniform(Rng.at(Rng.split(pickKey, "random"), t), u)
        const out = new Float64Array(rows * A)
        for (let i = 0; i < rows; i++) {
          const centre = new Float64Array(A)
          for (let c = 0; c < K; c++) for (let k = 0; k < A; k++) centre[k] += candidates[(i * K + c) * A + k] / K
          const toCentre = Float64Array.from({ length: K }, (_, c) => {
            let sum = 0
            for (let k = 0; k < A; k++) sum += (candidates[(i * K + c) * A + k] - centre[k]) ** 2
            return Math.sqrt(sum)
          })
          const j = rule === "argmax-q" ? argmax(q!.subarray(i * K, (i + 1) * K))
            : rule === "argmin-q" ? argmax(q!.subarray(i * K, (i + 1) * K).map((x) => -x))
            : rule === "centre" ? argmax(toCentre.map((d) => -d))
            : rule === "outlier" ? argmax(toCentre)
            : Math.min(Math.floor(u[i] * K), K - 1)
          picks += 1
          centreSum += percentile(toCentre, j)
          out.set(candidates.subarray((i * K + j) * A, (i * K + j + 1) * A), i * A)
        }
        return out
      }), 1_000_000 + seed, { runningOnly: true })
    }))
    const returns = Array.from(result.returns)
    const scores = returns.map((r) => Environment.normalizedScore(Locomotion.tasks[locomotion].name, r))
    console.log(JSON.stringify({
      selector: rule, episodes: selectorEpisodes, normalizedScore: summary(scores, 1), meanLength: fmt(Statistics.mean(Array.from(result.lengths)), 0),
      fell: fmt(Statistics.mean(Array.from(result.terminated))), centreDistancePct: fmt(centreSum / picks), seconds: fmt((Date.now() - started) / 1000, 0)
    }))
  }
})

await Effect.runPromise(Effect.scoped(program.pipe(
  Effect.provide(Layer.mergeAll(Backend.layerWasm, Checkpoints.layer, DatasetStore.layer, Environments.layer))
)))
