/**
 * QGPO's energy network f_φ and its optimiser, as the reference (#15): 4 hidden layers of 256 (SiLU) before the scalar
 * output; plain Adam (no weight decay) and no EMA copy, so guidance reads the trained weights. Decay and EMA stay
 * reachable by config: a decay-only difference between two agents after one CEP step is exactly −lr·λ·θ₀ (decoupled
 * AdamW; the gradients of the two agents are the same at the first step), and none without it.
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Qgpo from "../../src/diffusion/Qgpo.ts"
import * as Training from "../../src/diffusion/Training.ts"
import type { Device } from "../../src/rl/Device.ts"
import * as QgpoAgent from "../../src/rl/QgpoAgent.ts"
import * as SwgAgent from "../../src/rl/SwgAgent.ts"

const B = CpuBackend.make()
const device: Device<never> = { ops: B, read: (t) => Effect.promise(() => B.read(t)) }
const S = 2
const A = 1

const behaviour = SwgAgent.create(
  B, new SwgAgent.SwgAgentConfig({ ...Schema.decodeSync(SwgAgent.SwgAgentConfig)({}), hidden: 8, blocks: 1, diffusionSteps: 3 }),
  S, A, [0.2, 1], Rng.named(0, "behaviour")
)

/** The body's Dense layers (name → [in, out]) of an energy network. */
const bodyLayers = (network: Qgpo.EnergyNetworkConfig) =>
  Qgpo.specs(network).filter((p) => p.name.startsWith("body.") && p.name.endsWith(".w")).map((p) => [p.rows, p.cols])

describe("QGPO's energy network", () => {
  it("the default is 4 hidden layers of 256 before the scalar output (the reference's 4 × 256)", () => {
    const agent = QgpoAgent.create(B, Schema.decodeSync(QgpoAgent.QgpoAgentConfig)({}), behaviour, S, Rng.named(0, "qgpo"))
    const inputs = A + S + agent.energyNetwork.timeHidden
    expect(bodyLayers(agent.energyNetwork)).toEqual([[inputs, 256], [256, 256], [256, 256], [256, 256], [256, 1]])
  })

  it("hiddenLayers counts the hidden layers only (0: one Dense layer to the output)", () => {
    const network = (hiddenLayers: number) =>
      new Qgpo.EnergyNetworkConfig({ dataDim: 2, conditionDim: 1, timeFeatures: 8, timeHidden: 4, hidden: 5, hiddenLayers, activation: "silu" })
    expect(bodyLayers(network(2))).toEqual([[7, 5], [5, 5], [5, 1]])
    expect(bodyLayers(network(0))).toEqual([[7, 1]])
  })

  it("the default optimiser is Adam without weight decay and without an EMA copy", () => {
    const c = Schema.decodeSync(QgpoAgent.QgpoAgentConfig)({})
    expect(c.energyWeightDecay).toBe(0)
    expect(c.energyEmaRate).toBeUndefined()
    expect(QgpoAgent.create(B, c, behaviour, S, Rng.named(0, "qgpo")).energy.ema).toBeUndefined()
    const averaged = Schema.decodeSync(QgpoAgent.QgpoAgentConfig)({ energyEmaRate: 0.005 })
    expect(QgpoAgent.create(B, averaged, behaviour, S, Rng.named(0, "qgpo")).energy.ema).toBeDefined()
  })
})

describe("QGPO's energy optimiser reaches the CEP step", () => {
  const n = 12
  const transitions = () => ({
    observations: B.upload(Float32Array.from({ length: n * S }, (_, i) => Math.sin(i)), n, S),
    actions: B.upload(Float32Array.from({ length: n }, (_, i) => 0.9 * Math.cos(i)), n, A),
    rewards: B.upload(Float32Array.from({ length: n }, (_, i) => Math.sin(3 * i)), n, 1),
    masks: B.fill(n, 1, 1),
    nextObservations: B.upload(Float32Array.from({ length: n * S }, (_, i) => Math.cos(i)), n, S)
  })

  /** Energy parameters before and after one CEP step of an agent with `extra` config. */
  const oneStep = async (extra: Record<string, number>) => {
    const c = Schema.decodeSync(QgpoAgent.QgpoAgentConfig)({
      support: 4, qHidden: 8, qBatch: 8, energyHidden: 8, energyHiddenLayers: 2, energyBatch: 4, energyLr: 1e-3, ...extra
    })
    const agent = QgpoAgent.create(B, c, behaviour, S, Rng.named(0, "qgpo"))
    const data = await Effect.runPromise(QgpoAgent.prepare(device, agent, transitions(), Rng.named(0, "support")))
    const before = await B.read(agent.energy.params)
    B.dispose(QgpoAgent.energyStep(B, agent, QgpoAgent.energyData(B, agent, data), Training.noiseTables(B, behaviour.schedule), Rng.named(0, "cep"), 0))
    return { agent, before, after: await B.read(agent.energy.params) }
  }

  it("a decay-only difference: θ(λ) − θ(0) = −lr·λ·θ₀ after one step, and the default step is the undecayed one", async () => {
    const lambda = 0.5
    const [plain, decayed, explicitZero] = [await oneStep({}), await oneStep({ energyWeightDecay: lambda }), await oneStep({ energyWeightDecay: 0 })]
    expect(Array.from(plain.before)).toEqual(Array.from(decayed.before))
    let moved = 0
    for (let i = 0; i < plain.after.length; i++) {
      const want = -1e-3 * lambda * plain.before[i]
      expect(Math.abs(decayed.after[i] - plain.after[i] - want), `entry ${i}`).toBeLessThanOrEqual(1e-7 + 1e-3 * Math.abs(want))
      if (Math.abs(want) > 1e-6) moved++
    }
    expect(moved).toBeGreaterThan(20)
    expect(Array.from(explicitZero.after)).toEqual(Array.from(plain.after))
    expect(Array.from(plain.after)).not.toEqual(Array.from(plain.before))
  })

  it("a step reports [CEP loss, the batch's target entropy H(softmax(β·Q̄)), their gap]; the entropy matches the host at β", async () => {
    const beta = 3
    const c = Schema.decodeSync(QgpoAgent.QgpoAgentConfig)({ support: 4, beta, qHidden: 8, qBatch: 8, energyHidden: 8, energyHiddenLayers: 2, energyBatch: 4 })
    const agent = QgpoAgent.create(B, c, behaviour, S, Rng.named(0, "qgpo"))
    // the target Q̄ with its weights tripled (Q̄ × 81 through four layers), so that Q̄ spreads over the support actions
    B.write(agent.q.ema!, (await B.read(agent.q.params)).map((v) => 3 * v))
    const data = await Effect.runPromise(QgpoAgent.prepare(device, agent, transitions(), Rng.named(0, "support")))
    const key = Rng.named(0, "cep")
    const step = 3
    // the batch energyStep draws: energyBatch states, each with its K support actions
    const index = await B.read(B.randint(4, 1, Rng.at(Rng.split(key, "index"), step), n))
    const rows = Float32Array.from({ length: 16 }, (_, i) => index[Math.floor(i / 4)])
    const support = Float32Array.from({ length: 16 }, (_, i) => 4 * index[Math.floor(i / 4)] + (i % 4))
    const q = await B.read(QgpoAgent.targetQ(
      B, agent, B.gatherRows(data.transitions.observations, B.upload(rows, 16, 1)), B.gatherRows(data.support, B.upload(support, 16, 1))
    ))
    let entropy = 0
    for (let g = 0; g < 4; g++) {
      const z = Array.from({ length: 4 }, (_, j) => beta * q[4 * g + j])
      const m = Math.max(...z)
      const sum = z.reduce((a, v) => a + Math.exp(v - m), 0)
      for (const v of z) entropy -= (Math.exp(v - m) / sum) * (v - m - Math.log(sum)) / 4
    }
    // the targets are far from uniform, so a β left out or doubled changes the entropy
    expect(entropy).toBeLessThan(Math.log(4) - 0.05)
    const out = await B.read(QgpoAgent.energyStep(B, agent, QgpoAgent.energyData(B, agent, data), Training.noiseTables(B, behaviour.schedule), key, step))
    expect(out).toHaveLength(QgpoAgent.ENERGY_LOSS_NAMES.length)
    const [loss, floor, gap] = out
    expect(Math.abs(floor - entropy)).toBeLessThan(1e-4)
    expect(Math.abs(gap - (loss - floor))).toBeLessThan(1e-6)
    expect(gap).toBeGreaterThan(0)
  })

  it("with energyEmaRate the EMA copy moves by that rate towards the new weights", async () => {
    const rate = 0.25
    const { agent, before, after } = await oneStep({ energyEmaRate: rate })
    const ema = await B.read(agent.energy.ema!)
    for (let i = 0; i < ema.length; i += 7) expect(ema[i]).toBeCloseTo(before[i] + rate * (after[i] - before[i]), 6)
  })
})

describe("the energy stage's labels", () => {
  it("are Q̄ of each state's own K support actions, computed once over chunks of states (the same values as Q̄ on all rows at once)", async () => {
    // more states than one chunk (1024), so the chunks' rows must land in the right place
    const states = 1100
    const K = 3
    const c = Schema.decodeSync(QgpoAgent.QgpoAgentConfig)({ support: K, qHidden: 8, qBatch: 8, energyHidden: 8, energyHiddenLayers: 1, energyBatch: 4 })
    const agent = QgpoAgent.create(B, c, behaviour, S, Rng.named(0, "qgpo"))
    B.write(agent.q.ema!, (await B.read(agent.q.params)).map((v) => 3 * v))
    const observations = B.normal(states, S, Rng.named(1, "states"))
    const support = B.uniform(states * K, A, Rng.named(2, "support"))
    const data: QgpoAgent.QgpoData = {
      transitions: { observations, actions: B.zeros(states, A), rewards: B.zeros(states, 1), masks: B.zeros(states, 1), nextObservations: observations },
      support, nextSupport: B.zeros(states * K, A), ramp: QgpoAgent.ramp(B, K), energyGroups: Qgpo.grouping(4, K), qGroups: Qgpo.grouping(8, K)
    }
    const got = await B.read(QgpoAgent.energyData(B, agent, data).supportQ)
    const rows = B.upload(Float32Array.from({ length: states * K }, (_, i) => Math.floor(i / K)), states * K, 1)
    const want = await B.read(QgpoAgent.targetQ(B, agent, B.gatherRows(observations, rows), support))
    expect(got).toHaveLength(states * K)
    expect(Array.from(got)).toEqual(Array.from(want))
    // Q̄ differs between a state's support actions and between states: a misplaced row would show
    expect(new Set(Array.from(got.slice(0, 3 * K))).size).toBe(3 * K)
  })
})
