/**
 * The IQL actor's AWR loss on a tiny batch against the formula written here on the host (IQL, Kostrikov et al. 2022):
 *   L = −mean_i min(exp(β·A_i), 100) · log N(a_i; tanh(MLP(s_i)), diag(exp(clip(logStd, −5, 2))²)),
 * with A_i = min(Q₁, Q₂)_target(s_i, a_i) − V(s_i) from the critic. β is set so that the cap at 100 binds on some rows
 * and not on others, and one log-std sits above its clip at 2, so dropping either would change the loss.
 */
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type * as Model from "../../src/nn/Model.ts"
import * as Critic from "../../src/rl/Critic.ts"
import * as IqlActor from "../../src/rl/IqlActor.ts"
import * as MixedBatches from "../../src/rl/MixedBatches.ts"

const B = CpuBackend.make()
const S = 3
const A = 2
const N = 24
const BATCH = 8

const named = async (model: Model.Model) => {
  const flat = await B.read(model.params)
  return (name: string) => {
    const i = model.layout.specs.findIndex((p) => p.name === name)
    const p = model.layout.specs[i]
    return Array.from(flat.subarray(model.layout.offsets[i], model.layout.offsets[i] + p.rows * p.cols))
  }
}
const dense = (x: ReadonlyArray<number>, w: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  b.map((bj, j) => x.reduce((acc, xi, i) => acc + xi * w[i * b.length + j], bj))
const relu = (x: ReadonlyArray<number>) => x.map((v) => Math.max(v, 0))

const data = (): Critic.DeviceTransitions => {
  const u = new Float32Array(N * (2 * S + A + 1))
  Rng.fillNormal(Rng.named(1, "rows"), u)
  let at = 0
  const take = (cols: number, scale = 1) => {
    const part = u.slice(at, at + N * cols).map((v) => scale * v)
    at += N * cols
    return B.upload(part, N, cols)
  }
  return { observations: take(S), actions: take(A, 0.5), rewards: take(1), masks: B.fill(N, 1, 1), nextObservations: take(S) }
}

describe("the IQL actor's AWR step", () => {
  it("returns −mean min(exp(β·A), 100)·log π(a|s) of its batch (host formula, cap and log-std clip binding)", async () => {
    const transitions = data()
    const critic = Critic.create(B, Schema.decodeSync(Critic.CriticConfig)({ hidden: 6 }), S, A, Rng.named(2, "critic"))
    const key = Rng.named(3, "actor-batch")
    const step = 5
    // the batch the step draws (the same key and step), and its advantages
    const batch = MixedBatches.sample(B, transitions, BATCH, key, step, undefined, ["observations", "actions"])
    const s = await B.read(batch.observations)
    const a = await B.read(batch.actions)
    const advantages = Array.from(await B.read(Critic.advantages(B, critic, batch.observations, batch.actions)[0]))
    const top = Math.max(...advantages)
    expect(top).toBeGreaterThan(0)
    const beta = (1.2 * Math.log(100)) / top
    expect(advantages.filter((x) => beta * x > Math.log(100)).length).toBeGreaterThan(0)
    expect(advantages.filter((x) => beta * x < Math.log(100)).length).toBeGreaterThan(0)

    const config = new IqlActor.IqlActorConfig({ ...Schema.decodeSync(IqlActor.IqlActorConfig)({}), hidden: 5, beta, batch: BATCH, steps: 100 })
    const actor = IqlActor.create(B, config, S, A, Rng.named(4, "actor"))
    // log-std [2.6, −0.4]: the first above the clip at 2
    const logStdAt = actor.model.layout.offsets[actor.model.layout.specs.findIndex((p) => p.name === "pi.logStd")]
    const flat = await B.read(actor.model.params)
    flat.set([2.6, -0.4], logStdAt)
    B.write(actor.model.params, flat)
    const get = await named(actor.model)

    const logStd = get("pi.logStd").map((v) => Math.min(Math.max(v, -5), 2))
    const terms = advantages.map((adv, i) => {
      const si = Array.from(s.subarray(i * S, i * S + S))
      const hidden = relu(dense(relu(dense(si, get("pi.0.w"), get("pi.0.b"))), get("pi.1.w"), get("pi.1.b")))
      const mean = dense(hidden, get("pi.2.w"), get("pi.2.b")).map(Math.tanh)
      const logProb = mean.reduce((acc, m, d) => {
        const z = (a[i * A + d] - m) / Math.exp(logStd[d])
        return acc - 0.5 * z * z - logStd[d] - 0.5 * Math.log(2 * Math.PI)
      }, 0)
      return Math.min(Math.exp(beta * adv), 100) * logProb
    })
    const want = -terms.reduce((x, y) => x + y, 0) / BATCH

    const got = (await B.read(IqlActor.updateStep(B, actor, critic, transitions, key, step)))[0]
    expect(got).toBeCloseTo(want, 4)
    // the step moved the actor
    expect(Array.from(await B.read(actor.model.params))).not.toEqual(Array.from(flat))
  })
})
