/**
 * Offline QGPO on a one-step bandit (CPU backend): states s ~ U[−1, 1], behaviour actions a ~ U[−1, 1], reward
 * r = −4·(a − 0.5)², every step terminal, so Q(s, a) = r and the target μ·exp(β·Q) at β = 10 is a Gaussian of
 * mean 0.5 and standard deviation 1/√80 ≈ 0.11 cut to [−1, 1]. The behaviour model (the SWG model, unguided) samples
 * the uniform actions; QGPO's guided samples move to the target. Also the in-support softmax backup against the host.
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as Rng from "../../src/domain/Rng.ts"
import * as Qgpo from "../../src/diffusion/Qgpo.ts"
import * as Training from "../../src/diffusion/Training.ts"
import type { Device } from "../../src/rl/Device.ts"
import * as QgpoAgent from "../../src/rl/QgpoAgent.ts"
import * as SwgAgent from "../../src/rl/SwgAgent.ts"
import * as WasmBackend from "../../src/wasm/WasmBackend.ts"

/** The WASM backend (single thread): the same ops as the CPU reference, several times faster for this much training. */
const B = WasmBackend.make({ threads: 1 })
const device: Device<never> = { ops: B, read: (t) => Effect.promise(() => B.read(t)) }

describe("the in-support softmax backup", () => {
  it("is Σ_j softmax_j(β_q·Q̄_j)·Q̄_j per state (host reference)", async () => {
    const K = 4
    const q = [0.5, -1, 2, 0.25, 3, 3, -2, 0]
    const got = await B.read(QgpoAgent.softmaxValue(B, B.upload(Float32Array.from(q), 8, 1), Qgpo.grouping(2, K), 1.5))
    for (let g = 0; g < 2; g++) {
      const qs = q.slice(g * K, (g + 1) * K)
      const e = qs.map((v) => Math.exp(1.5 * v))
      const want = qs.reduce((a, v, j) => a + (e[j] / e.reduce((x, y) => x + y, 0)) * v, 0)
      expect(got[g]).toBeCloseTo(want, 5)
    }
  })
})

describe("offline QGPO on a one-step bandit", () => {
  it("guided samples move from the uniform behaviour to the target μ·exp(β·Q) (mean 0.5, sd 0.11)", async () => {
    const n = 512
    const u = new Float32Array(2 * n)
    Rng.fillUniform(Rng.named(0, "bandit"), u)
    const observations = Float32Array.from({ length: n }, (_, i) => 2 * u[i] - 1)
    const actions = Float32Array.from({ length: n }, (_, i) => 2 * u[n + i] - 1)
    const transitions = {
      observations: B.upload(observations, n, 1),
      actions: B.upload(actions, n, 1),
      rewards: B.upload(Float32Array.from(actions, (a) => -4 * (a - 0.5) ** 2), n, 1),
      masks: B.zeros(n, 1),
      nextObservations: B.upload(observations, n, 1)
    }
    const behaviourConfig = new SwgAgent.SwgAgentConfig({
      ...Schema.decodeSync(SwgAgent.SwgAgentConfig)({}), hidden: 32, blocks: 1, dropout: 0, diffusionSteps: 10, batch: 256, lr: 3e-3, emaRate: 0.02
    })
    const behaviour = SwgAgent.create(B, behaviourConfig, 1, 1, [1, 1], Rng.named(0, "behaviour"))
    const z0 = B.concatCols([transitions.actions, B.fill(n, 1, 1)])
    const tables = Training.noiseTables(B, behaviour.schedule)
    for (let step = 0; step < 800; step++) {
      B.dispose(SwgAgent.trainStep(B, behaviour, { z0, condition: transitions.observations }, tables, Rng.named(0, "bc"), step))
    }
    const config = Schema.decodeSync(QgpoAgent.QgpoAgentConfig)({
      support: 8, beta: 10, qHidden: 32, qBatch: 64, qLr: 3e-3, energyHidden: 64, energyHiddenLayers: 2, energyBatch: 32, energyLr: 1e-3, guidanceScale: 1
    })
    const agent = QgpoAgent.create(B, config, behaviour, 1, Rng.named(0, "qgpo"))
    const data = await Effect.runPromise(QgpoAgent.prepare(device, agent, transitions, Rng.named(0, "support")))
    expect(data.support.rows).toBe(n * 8)
    for (let step = 0; step < 1500; step++) B.dispose(QgpoAgent.qStep(B, agent, data, Rng.named(0, "q"), step))
    // Q̄ has learnt r on a grid of actions
    const grid = [-0.9, -0.5, 0, 0.5, 0.9]
    const q = await B.read(QgpoAgent.targetQ(B, agent, B.fill(grid.length, 1, 0.3), B.upload(Float32Array.from(grid), grid.length, 1)))
    grid.forEach((a, i) => expect(Math.abs(q[i] + 4 * (a - 0.5) ** 2)).toBeLessThan(0.3))
    const energyData = QgpoAgent.energyData(B, agent, data)
    for (let step = 0; step < 2500; step++) B.dispose(QgpoAgent.energyStep(B, agent, energyData, tables, Rng.named(0, "cep"), step))

    const states = Float64Array.from({ length: 400 }, (_, i) => -1 + (2 * i) / 399)
    const moments = (xs: Float64Array) => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length
      return { mean, sd: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length) }
    }
    const guided = moments(await Effect.runPromise(QgpoAgent.act(device, agent, states, Rng.named(0, "act"), 1)))
    const unguided = moments(await Effect.runPromise(QgpoAgent.act(device, agent, states, Rng.named(0, "act"), 0)))
    // Measured (QGPO's optimiser: Adam at 1e-3, no EMA; guidance from the trained weights): guided mean 0.502, sd 0.171;
    // unguided mean −0.001, sd 0.519 (uniform on [−1, 1]: 0 and 0.58). With AdamW, EMA 0.005 and lr 3e-3: 0.546, 0.149.
    expect(Math.abs(unguided.mean)).toBeLessThan(0.15)
    expect(unguided.sd).toBeGreaterThan(0.45)
    expect(Math.abs(guided.mean - 0.5)).toBeLessThan(0.1)
    expect(guided.sd).toBeLessThan(0.2)
  }, 600_000)
})
