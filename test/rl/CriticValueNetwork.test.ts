/**
 * The critic's V network in its three forms and the critic's weight decay (#9):
 *   - "input" (SWG-JAX): LayerNorm on the state, then Dense–ReLU–Dense–ReLU–Dense;
 *   - "hidden" (Diffusion-DICE's value network): each hidden layer ReLU(LayerNorm(h·W + b)), no LayerNorm on the input;
 *   - "none" (IQL's own ValueCritic): Dense–ReLU–Dense–ReLU–Dense on the state.
 * "input" makes V(c·s + d) = V(s): the reason maze2d's critic takes "none" (test/programs/MazeCritic.test.ts).
 * The parameter shapes and V(s) are checked against a forward pass written here on the host; the weight decay against
 * the decoupled AdamW step: two critics from the same initialisation on the same batch, one with decay λ, differ after
 * the first step by exactly −lr·λ·θ₀ (Adam's first step is the same in both where the gradients agree).
 */
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Model from "../../src/nn/Model.ts"
import * as Critic from "../../src/rl/Critic.ts"
import * as DiceAgent from "../../src/rl/DiceAgent.ts"

const B = CpuBackend.make()
const S = 3
const A = 2
const H = 5

const config = (extra: Partial<Critic.CriticConfig>) =>
  new Critic.CriticConfig({ ...Schema.decodeSync(Critic.CriticConfig)({}), hidden: H, ...extra })

const shapes = (c: Critic.CriticConfig) => Object.fromEntries(Critic.vSpecs(c, S).map((p) => [p.name, [p.rows, p.cols]]))

/** Parameters of `model` by name, read from its flat buffer. */
const named = async (model: Model.Model) => {
  const flat = await B.read(model.params)
  return (name: string) => {
    const i = model.layout.specs.findIndex((p) => p.name === name)
    const p = model.layout.specs[i]
    return Array.from(flat.subarray(model.layout.offsets[i], model.layout.offsets[i] + p.rows * p.cols))
  }
}

/** y = x·W + b on the host, x [in], W [in, out] row-major. */
const dense = (x: ReadonlyArray<number>, w: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  b.map((bj, j) => x.reduce((acc, xi, i) => acc + xi * w[i * b.length + j], bj))
const layerNorm = (x: ReadonlyArray<number>, gamma: ReadonlyArray<number>, beta: ReadonlyArray<number>, eps: number) => {
  const mean = x.reduce((a, v) => a + v, 0) / x.length
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * gamma[i] + beta[i])
}
const relu = (x: ReadonlyArray<number>) => x.map((v) => Math.max(v, 0))

/** Random parameters (LayerNorm γ, β away from 1, 0 so their placement matters). */
const randomise = (model: Model.Model, seed: number) => {
  const values = new Float32Array(model.layout.size)
  Rng.fillNormal(Rng.named(seed, "params"), values)
  B.write(model.params, values.map((v) => 0.7 * v))
}

const STATES = [[0.3, -1.2, 2], [1, 0.5, -0.4], [-2, 0.1, 0.7], [4, -3, 1]]

const vOf = async (critic: Critic.Critic) => {
  const p = Model.bind(B, critic.v, critic.v.params)
  return B.read(Critic.value(p, critic.config, p.tape.leaf(B.upload(Float32Array.from(STATES.flat()), STATES.length, S))).value)
}

describe("the critic's V network", () => {
  it("\"hidden\" (D-DICE): a LayerNorm [1, hidden] after each of the two hidden layers and none on the input", () => {
    expect(shapes(config({ valueLayerNorm: "hidden" }))).toEqual({
      "v.0.w": [S, H], "v.0.b": [1, H], "v.1.w": [H, H], "v.1.b": [1, H], "v.2.w": [H, 1], "v.2.b": [1, 1],
      "v.ln0.gamma": [1, H], "v.ln0.beta": [1, H], "v.ln1.gamma": [1, H], "v.ln1.beta": [1, H]
    })
    const count = (c: Critic.CriticConfig) => Critic.vSpecs(c, S).reduce((n, p) => n + p.rows * p.cols, 0)
    const dense = S * H + H + H * H + H + H + 1
    expect(count(config({ valueLayerNorm: "hidden" }))).toBe(dense + 4 * H)
    expect(count(config({}))).toBe(dense + 2 * S)
  })

  it("\"input\" (IQL, the default): one LayerNorm [1, S] on the state", () => {
    expect(shapes(config({}))).toEqual({
      "v.ln.gamma": [1, S], "v.ln.beta": [1, S],
      "v.0.w": [S, H], "v.0.b": [1, H], "v.1.w": [H, H], "v.1.b": [1, H], "v.2.w": [H, 1], "v.2.b": [1, 1]
    })
  })

  it("\"hidden\": V(s) = W₂·ReLU(LN₁(W₁·ReLU(LN₀(W₀s + b₀)) + b₁)) + b₂ (host forward, ε 1e-5)", async () => {
    const critic = Critic.create(B, config({ valueLayerNorm: "hidden" }), S, A, Rng.named(0, "critic"))
    randomise(critic.v, 1)
    const get = await named(critic.v)
    const want = STATES.map((s) => {
      const h0 = relu(layerNorm(dense(s, get("v.0.w"), get("v.0.b")), get("v.ln0.gamma"), get("v.ln0.beta"), 1e-5))
      const h1 = relu(layerNorm(dense(h0, get("v.1.w"), get("v.1.b")), get("v.ln1.gamma"), get("v.ln1.beta"), 1e-5))
      return dense(h1, get("v.2.w"), get("v.2.b"))[0]
    })
    const got = await vOf(critic)
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4))
  })

  it("\"input\": V(s) = W₂·ReLU(W₁·ReLU(W₀·LN(s) + b₀) + b₁) + b₂ (host forward, ε 1e-6)", async () => {
    const critic = Critic.create(B, config({}), S, A, Rng.named(0, "critic"))
    randomise(critic.v, 2)
    const get = await named(critic.v)
    const want = STATES.map((s) => {
      const x = layerNorm(s, get("v.ln.gamma"), get("v.ln.beta"), 1e-6)
      const h1 = relu(dense(relu(dense(x, get("v.0.w"), get("v.0.b"))), get("v.1.w"), get("v.1.b")))
      return dense(h1, get("v.2.w"), get("v.2.b"))[0]
    })
    const got = await vOf(critic)
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4))
  })

  it("\"none\" (IQL's ValueCritic): the Dense layers only, V(s) = W₂·ReLU(W₁·ReLU(W₀s + b₀) + b₁) + b₂", async () => {
    expect(shapes(config({ valueLayerNorm: "none" }))).toEqual({
      "v.0.w": [S, H], "v.0.b": [1, H], "v.1.w": [H, H], "v.1.b": [1, H], "v.2.w": [H, 1], "v.2.b": [1, 1]
    })
    const critic = Critic.create(B, config({ valueLayerNorm: "none" }), S, A, Rng.named(0, "critic"))
    randomise(critic.v, 3)
    const get = await named(critic.v)
    const want = STATES.map((s) => {
      const h1 = relu(dense(relu(dense(s, get("v.0.w"), get("v.0.b"))), get("v.1.w"), get("v.1.b")))
      return dense(h1, get("v.2.w"), get("v.2.b"))[0]
    })
    const got = await vOf(critic)
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4))
  })

  it("\"input\" gives every state s and 2·s + 1 one value (its LayerNorm removes each state's mean and scale); \"none\" and \"hidden\" do not", async () => {
    const moved = STATES.map((s) => s.map((x) => 2 * x + 1))
    const gaps = async (norm: "input" | "hidden" | "none") => {
      const critic = Critic.create(B, config({ valueLayerNorm: norm }), S, A, Rng.named(0, "critic"))
      randomise(critic.v, 4)
      const p = Model.bind(B, critic.v, critic.v.params)
      const v = (xs: ReadonlyArray<ReadonlyArray<number>>) =>
        B.read(Critic.value(p, critic.config, p.tape.leaf(B.upload(Float32Array.from(xs.flat()), xs.length, S))).value)
      const [a, b] = [await v(STATES), await v(moved)]
      return Array.from(a, (x, i) => Math.abs(x - b[i]))
    }
    for (const gap of await gaps("input")) expect(gap).toBeLessThan(1e-4)
    for (const norm of ["none", "hidden"] as const) expect(Math.max(...await gaps(norm))).toBeGreaterThan(0.1)
  })

  it("D-DICE's critic default is the hidden form with weight decay 1e-4; IQL's default is unchanged and encodes as before", () => {
    const dice = Schema.decodeSync(DiceAgent.DiceOfflineConfig)({}).critic
    expect(Critic.valueLayerNorm(dice)).toBe("hidden")
    expect(Critic.weightDecay(dice)).toBe(1e-4)
    expect(dice.valueLoss).toBe("dice")
    const iql = Schema.decodeSync(Critic.CriticConfig)({})
    expect(Critic.valueLayerNorm(iql)).toBe("input")
    expect(Critic.weightDecay(iql)).toBe(0)
    expect(Object.keys(Schema.encodeSync(Critic.CriticConfig)(iql))).not.toContain("valueLayerNorm")
    expect(Object.keys(Schema.encodeSync(Critic.CriticConfig)(iql))).not.toContain("weightDecay")
  })
})

describe("the critic's weight decay reaches the update", () => {
  const transitions = (): Critic.DeviceTransitions => {
    const n = 16
    const u = new Float32Array(n * (2 * S + A + 1))
    Rng.fillNormal(Rng.named(3, "data"), u)
    let at = 0
    const take = (cols: number) => {
      const part = u.slice(at, at + n * cols)
      at += n * cols
      return B.upload(part, n, cols)
    }
    return { observations: take(S), actions: take(A), rewards: take(1), masks: B.fill(n, 1, 1), nextObservations: take(S) }
  }

  it("one step: θ(λ) − θ(0) = −lr·λ·θ₀ on V exactly and on Q and the ensemble where the gradients agree", async () => {
    const lr = 1e-3
    const decay = 0.5
    const data = transitions()
    const make = (weightDecay: number) =>
      Critic.create(B, config({ valueLoss: "dice", valueLayerNorm: "hidden", ensemble: 2, lr, batch: 16, weightDecay }), S, A, Rng.named(4, "critic"))
    const [plain, decayed] = [make(0), make(decay)]
    const before = { v: await B.read(plain.v.params), q: await B.read(plain.q.params), ensemble: await B.read(plain.ensemble!.params) }
    for (const critic of [plain, decayed]) B.dispose(Critic.updateStep(B, critic, data, Rng.named(5, "batch"), 0))
    const shares = { v: 0, q: 0, ensemble: 0 }
    for (const name of ["v", "q", "ensemble"] as const) {
      const a = await B.read((name === "ensemble" ? plain.ensemble! : plain[name]).params)
      const b = await B.read((name === "ensemble" ? decayed.ensemble! : decayed[name]).params)
      let agree = 0
      let moved = 0
      for (let i = 0; i < a.length; i++) {
        if (Math.abs(before[name][i]) > 1e-3) moved++
        if (Math.abs(b[i] - a[i] + lr * decay * before[name][i]) <= 1e-7 + 1e-3 * lr * decay * Math.abs(before[name][i])) agree++
      }
      expect(moved).toBeGreaterThan(10)
      shares[name] = agree / a.length
    }
    expect(shares.v).toBe(1)
    expect(shares.q).toBeGreaterThan(0.95)
    expect(shares.ensemble).toBeGreaterThan(0.95)
  })

  it("with no decay (IQL's Adam) the two critics' steps are identical", async () => {
    const data = transitions()
    const make = () => Critic.create(B, config({ lr: 1e-3, batch: 16 }), S, A, Rng.named(4, "critic"))
    const [a, b] = [make(), make()]
    for (const critic of [a, b]) B.dispose(Critic.updateStep(B, critic, data, Rng.named(5, "batch"), 0))
    expect(Array.from(await B.read(b.v.params))).toEqual(Array.from(await B.read(a.v.params)))
    const start = Critic.create(B, config({ lr: 1e-3, batch: 16 }), S, A, Rng.named(4, "critic"))
    expect(Array.from(await B.read(a.v.params))).not.toEqual(Array.from(await B.read(start.v.params)))
  })
})
