/**
 * TD3+BC's pieces against f64 host references on a tiny batch (S = 3, A = 2, hidden 4, on the f64 CPU backend):
 *   - the critic target y = r + γ·mask·min(Q′₁, Q′₂)(s′, clip(π′(s′) + clip(0.2·ε, ±0.5), ±1)) from the *target*
 *     networks (set apart from the live ones, so reading the wrong copy fails), with both clips active on some rows;
 *   - the actor loss −λ·mean Q₁(s, π(s)) + mean (π − a)², λ = 2.5/mean|Q₁|, its value, and its gradient against
 *     central differences of the host loss with λ held fixed (the gradient with λ differentiated differs by far
 *     more than the tolerance, checked);
 *   - one training step: the critic loss of step 0 from the host target on the same minibatch and noise, the
 *     actor and both targets untouched at step 0, and at step 1 the actor moved and both targets moved by exactly
 *     τ·(live − target).
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type { Tensor } from "../../src/domain/TensorBackend.ts"
import * as Parameters from "../../src/nn/Parameters.ts"
import { Tape } from "../../src/nn/Tape.ts"
import type { DeviceTransitions } from "../../src/rl/Critic.ts"
import * as MixedBatches from "../../src/rl/MixedBatches.ts"
import * as Td3Bc from "../../src/rl/Td3Bc.ts"
import { closeness, valuesOf } from "../fixtures/FiniteDifference.ts"

const B = CpuBackend.make({ precision: "f64" })
const S = 3
const A = 2
const N = 6
const config = Schema.decodeSync(Td3Bc.Td3BcConfig)({ hidden: 4, batch: N, lr: 1e-2 })
const normaliser: Td3Bc.Normaliser = { shift: Float32Array.of(0.5, -1, 2), scale: Float32Array.of(2, 0.5, 1.5) }

/** Deterministic pseudo-random host values in (−scale, scale), f32-exact (uploads go through a Float32Array). */
const values = (n: number, seed: number, scale = 1): Array<number> => {
  const u = new Float64Array(n)
  Rng.fillUniform(Rng.named(seed, "td3bc-test"), u)
  return Array.from(u, (x) => Math.fround((2 * x - 1) * scale))
}

type Rows = Array<Array<number>>
const rowsOf = (flat: ArrayLike<number>, cols: number): Rows =>
  Array.from({ length: flat.length / cols }, (_, i) => Array.from({ length: cols }, (_, j) => flat[i * cols + j]))

/** f64 host forward of the named MLP (relu between layers, none after the last) with parameters `flat` in `layout`. */
const hostMlp = (layout: Parameters.Layout, flat: ArrayLike<number>, name: string, x: Rows): Rows => {
  const index = (n: string) => layout.specs.findIndex((s) => s.name === n)
  let h = x
  for (let layer = 0; ; layer++) {
    const wi = index(`${name}.${layer}.w`)
    if (wi < 0) return h
    const { rows: inputs, cols: outputs } = layout.specs[wi]
    const w = layout.offsets[wi]
    const b = layout.offsets[index(`${name}.${layer}.b`)]
    const last = index(`${name}.${layer + 1}.w`) < 0
    h = h.map((row) =>
      Array.from({ length: outputs }, (_, o) => {
        let sum = flat[b + o]
        for (let i = 0; i < inputs; i++) sum += row[i] * flat[w + i * outputs + o]
        return last ? sum : Math.max(sum, 0)
      }))
  }
}

const normalise = (s: Rows): Rows => s.map((row) => row.map((x, j) => (x - normaliser.shift[j]) * normaliser.scale[j]))
const clip = (x: number, bound: number) => Math.max(-bound, Math.min(bound, x))
const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

/** An agent whose targets differ from its live networks (targets re-initialised from another key). */
const agentWithDistinctTargets = (): Td3Bc.Td3Bc => {
  const agent = Td3Bc.create(B, config, S, A, Rng.named(1, "td3bc"), normaliser)
  for (const m of [agent.actor, agent.critic]) {
    const other = Parameters.initialize(m.layout, Rng.named(2, "targets"))
    // Scaled up so that tanh saturates on some rows and the ±1 clip of the target action is exercised.
    B.write(m.ema!, other.map((v) => 3 * v))
  }
  return agent
}

const hostTarget = (agent: Td3Bc.Td3Bc, r: ReadonlyArray<number>, mask: ReadonlyArray<number>, s2: Rows, noise: Rows) => {
  const sn = normalise(s2)
  const pi = hostMlp(agent.actor.layout, valuesOf(agent.actor.ema!), "pi", sn).map((row) => row.map(Math.tanh))
  const smoothing = noise.map((row) => row.map((e) => clip(0.2 * e, 0.5)))
  const next = pi.map((row, i) => row.map((p, j) => clip(p + smoothing[i][j], 1)))
  const input = sn.map((row, i) => [...row, ...next[i]])
  const critic = valuesOf(agent.critic.ema!)
  const q1 = hostMlp(agent.critic.layout, critic, "q1", input)
  const q2 = hostMlp(agent.critic.layout, critic, "q2", input)
  const y = r.map((ri, i) => ri + 0.99 * mask[i] * Math.min(q1[i][0], q2[i][0]))
  return { y, smoothing, pi }
}

/** The host actor loss at actor parameters `actor`; λ from these parameters unless `lambda` is given. */
const hostActorLoss = (agent: Td3Bc.Td3Bc, actor: ArrayLike<number>, s: Rows, a: Rows, lambda?: number) => {
  const sn = normalise(s)
  const pi = hostMlp(agent.actor.layout, actor, "pi", sn).map((row) => row.map(Math.tanh))
  const q = hostMlp(agent.critic.layout, valuesOf(agent.critic.params), "q1", sn.map((row, i) => [...row, ...pi[i]])).map((row) => row[0])
  const l = lambda ?? 2.5 / mean(q.map(Math.abs))
  const bc = mean(pi.flatMap((row, i) => row.map((p, j) => (p - a[i][j]) ** 2)))
  return { loss: bc - l * mean(q), lambda: l }
}

const upload = (rows: Rows): Tensor => B.upload(Float32Array.from(rows.flat()), rows.length, rows[0].length)

describe("TD3+BC", () => {
  const s = rowsOf(values(N * S, 3, 2), S)
  const a = rowsOf(values(N * A, 4, 0.9), A)
  const s2 = rowsOf(values(N * S, 5, 2), S)
  const r = values(N, 6)
  const mask = [1, 0, 1, 1, 0, 1]
  // Standard normal draws, some beyond ±2.5 so that 0.2·ε is clipped at ±0.5.
  const noise = rowsOf([0.3, -3.1, 2.7, 0.1, -0.8, 1.2, -2.9, 0.4, 0.05, -0.6, 3.5, -1.5].map(Math.fround), A)

  it("the critic target reads the target networks and applies both clips", () => {
    const agent = agentWithDistinctTargets()
    const normalisedNext = B.binary("mul", B.binary("sub", upload(s2), B.upload(normaliser.shift, 1, S)), B.upload(normaliser.scale, 1, S))
    const y = Td3Bc.criticTarget(B, agent, B.upload(Float32Array.from(r), N, 1), B.upload(Float32Array.from(mask), N, 1), normalisedNext, upload(noise))
    const host = hostTarget(agent, r, mask, s2, noise)
    const { worst } = closeness(valuesOf(y), host.y, 1e-10, 1e-10)
    expect(worst).toBeLessThanOrEqual(1)
    // Both clips are exercised: some smoothing at ±0.5, some π′ + smoothing beyond ±1.
    expect(host.smoothing.flat().filter((x) => Math.abs(x) === 0.5).length).toBeGreaterThan(0)
    expect(host.pi.flat().filter((p, k) => Math.abs(p + host.smoothing.flat()[k]) > 1).length).toBeGreaterThan(0)
    // The live networks give another target: reading them instead would fail the comparison above.
    const live = { ...agent, actor: { ...agent.actor, ema: agent.actor.params }, critic: { ...agent.critic, ema: agent.critic.params } }
    const liveY = hostTarget(live, r, mask, s2, noise).y
    expect(Math.max(...liveY.map((v, i) => Math.abs(v - host.y[i])))).toBeGreaterThan(0.1)
  })

  it("the actor loss and its gradient (λ held fixed) match the f64 host reference", () => {
    const agent = agentWithDistinctTargets()
    const tape = new Tape(B)
    const p = new Parameters.Bound(tape, agent.actor.layout, agent.actor.params)
    const normalised = Td3Bc.normaliseOnTape(tape, agent, tape.leaf(upload(s)))
    const loss = Td3Bc.actorLoss(p, agent, normalised, upload(a))
    p.gradInto(loss, agent.actor.grads)
    const params = valuesOf(agent.actor.params)
    const host = hostActorLoss(agent, params, s, a)
    expect(Math.abs(valuesOf(loss.value)[0] - host.loss)).toBeLessThanOrEqual(1e-10 * (1 + Math.abs(host.loss)))
    // Central differences over every real parameter, λ fixed (detached) or recomputed (not detached).
    const h = 1e-6
    const fixed: Array<number> = []
    const moving: Array<number> = []
    const tapeGrad: Array<number> = []
    const grads = valuesOf(agent.actor.grads)
    agent.actor.layout.specs.forEach((spec, k) => {
      for (let i = 0; i < spec.rows * spec.cols; i++) {
        const at = agent.actor.layout.offsets[k] + i
        const up = Float64Array.from(params)
        const down = Float64Array.from(params)
        up[at] += h
        down[at] -= h
        fixed.push((hostActorLoss(agent, up, s, a, host.lambda).loss - hostActorLoss(agent, down, s, a, host.lambda).loss) / (2 * h))
        moving.push((hostActorLoss(agent, up, s, a).loss - hostActorLoss(agent, down, s, a).loss) / (2 * h))
        tapeGrad.push(grads[at])
      }
    })
    expect(closeness(tapeGrad, fixed, 1e-7, 1e-5).worst).toBeLessThanOrEqual(1)
    // The test tells the two apart: a λ with gradient would be off by far more than the tolerance.
    expect(closeness(moving, fixed, 1e-7, 1e-5).worst).toBeGreaterThan(100)
  })

  it("one step: critic loss from the host target on the step's batch; actor and targets move only every 2nd step, by Polyak", () => {
    const agent = agentWithDistinctTargets()
    const data: DeviceTransitions = {
      observations: upload(s), actions: upload(a), rewards: B.upload(Float32Array.from(r), N, 1),
      masks: B.upload(Float32Array.from(mask), N, 1), nextObservations: upload(s2)
    }
    const key = Rng.named(9, "td3bc-batch")
    // The minibatch and noise of step 0, as the step draws them.
    const index = Array.from(valuesOf(MixedBatches.plan(B, N, N, key, 0).real!))
    const stepNoise = rowsOf(valuesOf(B.normal(N, A, Rng.at(Rng.split(key, "smoothing"), 0))), A)
    const pick = <T>(xs: ReadonlyArray<T>) => index.map((i) => xs[i])
    const { y } = hostTarget(agent, pick(r), pick(mask), pick(s2), stepNoise)
    const critic = valuesOf(agent.critic.params)
    const input = normalise(pick(s)).map((row, i) => [...row, ...pick(a)[i]])
    const q1 = hostMlp(agent.critic.layout, critic, "q1", input)
    const q2 = hostMlp(agent.critic.layout, critic, "q2", input)
    const expectedLoss = mean(y.map((yi, i) => (q1[i][0] - yi) ** 2 + (q2[i][0] - yi) ** 2))
    const before = {
      actor: valuesOf(agent.actor.params), actorTarget: valuesOf(agent.actor.ema!),
      critic: valuesOf(agent.critic.params), criticTarget: valuesOf(agent.critic.ema!)
    }
    const losses0 = valuesOf(Td3Bc.updateStep(B, agent, data, key, 0))
    expect(Math.abs(losses0[0] - expectedLoss)).toBeLessThanOrEqual(1e-10 * (1 + expectedLoss))
    expect(losses0[1]).toBe(0)
    expect(valuesOf(agent.actor.params)).toEqual(before.actor)
    expect(valuesOf(agent.actor.ema!)).toEqual(before.actorTarget)
    expect(valuesOf(agent.critic.ema!)).toEqual(before.criticTarget)
    expect(valuesOf(agent.critic.params)).not.toEqual(before.critic)

    const losses1 = valuesOf(Td3Bc.updateStep(B, agent, data, key, 1))
    expect(losses1[1]).not.toBe(0)
    expect(valuesOf(agent.actor.params)).not.toEqual(before.actor)
    for (const [model, target] of [[agent.actor, before.actorTarget], [agent.critic, before.criticTarget]] as const) {
      const live = valuesOf(model.params)
      const expected = target.map((t, i) => t + 0.005 * (live[i] - t))
      expect(closeness(valuesOf(model.ema!), expected, 1e-14, 1e-12).worst).toBeLessThanOrEqual(1)
    }
  })

  it("acts with the normaliser: the action of raw observations is π((s − mean)·scale), also as a target policy's mean", async () => {
    const agent = agentWithDistinctTargets()
    const actions = await Effect.runPromise(Td3Bc.act({ ops: B, read: (t) => Effect.promise(() => B.read(t)) }, agent, Float64Array.from(s.flat())))
    const host = hostMlp(agent.actor.layout, valuesOf(agent.actor.params), "pi", normalise(s)).flat().map(Math.tanh)
    expect(closeness(actions, host, 1e-6, 1e-6).worst).toBeLessThanOrEqual(1)
    // The same actor on a tape over raw states: the mean of PGD's target policy N(π(s), I).
    const tape = new Tape(B)
    const mean = Td3Bc.actorMean(agent)(tape, tape.leaf(upload(s)))
    expect(closeness(valuesOf(mean.value), host, 1e-12, 1e-12).worst).toBeLessThanOrEqual(1)
  })
})
