import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as NoiseSchedule from "../../src/domain/NoiseSchedule.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as EpsNetwork from "../../src/diffusion/EpsNetwork.ts"
import * as Model from "../../src/nn/Model.ts"
import * as BehaviourFit from "../../src/rl/BehaviourFit.ts"
import * as SwgAgent from "../../src/rl/SwgAgent.ts"

const normals = (n: number, key: Rng.RngKey): Float64Array => {
  const u = new Float64Array(2 * n)
  Rng.fillUniform(key, u)
  return Float64Array.from({ length: n }, (_, i) => Math.sqrt(-2 * Math.log(1 - u[2 * i])) * Math.cos(2 * Math.PI * u[2 * i + 1]))
}

describe("BehaviourFit", () => {
  it("lossByStep averages each coordinate's (ε̂ − ε)² over all rows, not each row over its coordinates", async () => {
    // An untrained SWG network on 64 different rows: the reference computes ε̂ for every row and averages
    // (ε̂ − ε)² per column here; averaging each row instead (and reading the first A + 1 rows) disagrees.
    const B = CpuBackend.make()
    const S = 3
    const A = 2
    const n = 64
    const agent = SwgAgent.create(B, new SwgAgent.SwgAgentConfig({ ...Schema.decodeSync(SwgAgent.SwgAgentConfig)({}), hidden: 16, blocks: 2, diffusionSteps: 4 }), S, A, [0, 1], Rng.named(2, "init"))
    const z0 = B.upload(Float32Array.from(normals(n * (A + 1), Rng.named(3, "z0"))), n, A + 1)
    const condition = B.upload(Float32Array.from(normals(n * S, Rng.named(3, "s"))), n, S)
    const key = Rng.named(3, "noise")
    const losses = await BehaviourFit.lossByStep(B, agent.model, agent.network, agent.schedule, z0, condition, key)
    const { alpha, sigma } = NoiseSchedule.scales(agent.schedule)
    const eps = B.normal(n, A + 1, key)
    const [z, e] = [await B.read(z0), await B.read(eps)]
    expect(losses).toHaveLength(4)
    for (let t = 0; t < 4; t++) {
      const zt = B.upload(Float32Array.from(z, (v, i) => alpha[t] * v + sigma[t] * e[i]), n, A + 1)
      const p = Model.bind(B, agent.model)
      const prediction = await B.read(EpsNetwork.apply(p, agent.network, p.tape.leaf(zt), p.tape.leaf(condition), p.tape.leaf(B.fill(n, 1, t))).value)
      const column = (d: number) => Array.from({ length: n }, (_, i) => (prediction[i * (A + 1) + d] - e[i * (A + 1) + d]) ** 2).reduce((a, b) => a + b) / n
      expect(losses[t].sigma).toBeCloseTo(sigma[t], 6)
      expect(losses[t].action).toBeCloseTo((column(0) + column(1)) / A, 4)
      expect(losses[t].weight).toBeCloseTo(column(A), 4)
    }
  })

  it("nearestRows finds the k nearest rows in the scaled distance, nearest first", () => {
    const dim = 3
    const n = 500
    const states = Float32Array.from(normals(n * dim, Rng.named(1, "states")))
    const scales = Float64Array.from([1, 10, 0.5])
    const probe = [0.2, -1, 0.3]
    const distance = (i: number) => {
      let s = 0
      for (let d = 0; d < dim; d++) s += ((states[i * dim + d] - probe[d]) / scales[d]) ** 2
      return s
    }
    const expected = Array.from({ length: n }, (_, i) => i).sort((a, b) => distance(a) - distance(b) || a - b).slice(0, 17)
    expect(BehaviourFit.nearestRows(probe, states, dim, scales, 17)).toEqual(expected)
  })

  it("stateScales are the per-dimension standard deviations (1 for a constant column)", () => {
    const states = Float32Array.from([1, 5, 3, 5, 5, 5, 7, 5])
    const s = BehaviourFit.stateScales(states, 2)
    expect(s[0]).toBeCloseTo(Math.sqrt(5), 6)
    expect(s[1]).toBe(1)
  })

  it("columnQuantile interpolates linearly between order statistics", () => {
    const points = Float64Array.from([4, 0, 1, 10, 2, 20, 3, 30])
    expect(BehaviourFit.columnQuantile(points, 2, 0, 0.5)).toBeCloseTo(2.5, 12)
    expect(BehaviourFit.columnQuantile(points, 2, 1, 0)).toBe(0)
    expect(BehaviourFit.columnQuantile(points, 2, 1, 1)).toBe(30)
    expect(BehaviourFit.columnQuantile(points, 2, 1, 0.25)).toBeCloseTo(7.5, 12)
  })

  // Probe p's behaviour policy: N(μ_p, 0.1²) per dimension, with μ_p far apart between probes.
  const A = 2
  const k = 200
  const P = 6
  const means = Array.from({ length: P }, (_, p) => [Math.sin(p), Math.cos(2 * p)])
  const draw = (p: number, n: number, key: Rng.RngKey, shift = 0, spread = 0.1) => {
    const z = normals(n * A, key)
    return Float64Array.from(z, (v, j) => means[p][j % A] + shift + spread * v)
  }
  const neighbours = means.map((_, p) => draw(p, k, Rng.named(p, "neighbours")))
  const all = Float32Array.from(neighbours.flatMap((x) => Array.from(x)))

  it("a model that samples the neighbours' own distribution scores like the halves reference", () => {
    const exact = means.map((_, p) => draw(p, k / 2, Rng.named(p, "model")))
    const fit = BehaviourFit.actionFit(exact, neighbours, all, A, Rng.named(0, "fit"))
    expect(fit.cloudSize).toBe(k / 2)
    expect(fit.model.slicedW2).toBeLessThan(1.5 * fit.halves.slicedW2)
    expect(fit.model.slicedW2).toBeGreaterThan(0.5 * fit.halves.slicedW2)
    // The state-blind policy mixes every probe's actions: far worse than either.
    expect(fit.stateBlind.slicedW2).toBeGreaterThan(5 * fit.halves.slicedW2)
  })

  it("a shifted or over-dispersed model is told apart from the exact one", () => {
    const shifted = means.map((_, p) => draw(p, k / 2, Rng.named(p, "model"), 0.1))
    const wide = means.map((_, p) => draw(p, k / 2, Rng.named(p, "model"), 0, 0.2))
    const fitShifted = BehaviourFit.actionFit(shifted, neighbours, all, A, Rng.named(0, "fit"))
    const fitWide = BehaviourFit.actionFit(wide, neighbours, all, A, Rng.named(0, "fit"))
    // A shift of one standard deviation moves every quantile by about 0.1.
    expect(fitShifted.model.quantileGap[1]).toBeGreaterThan(0.07)
    expect(fitShifted.model.slicedW2).toBeGreaterThan(2 * fitShifted.halves.slicedW2)
    // Doubling the spread leaves the median but moves the 10 % and 90 % quantiles by ≈ 0.128.
    expect(fitWide.model.quantileGap[0]).toBeGreaterThan(0.08)
    expect(fitWide.model.quantileGap[2]).toBeGreaterThan(0.08)
    expect(fitWide.model.slicedW2).toBeGreaterThan(2 * fitWide.halves.slicedW2)
    // The spread ratio says which way: twice as wide, and about as wide for the exact model.
    expect(fitWide.model.spreadRatio).toBeGreaterThan(1.7)
    expect(fitWide.model.spreadRatio).toBeLessThan(2.3)
    expect(fitShifted.model.spreadRatio).toBeGreaterThan(0.8)
    expect(fitShifted.model.spreadRatio).toBeLessThan(1.25)
  })

  it("the spread ratio stays finite when a dimension sits at the clip bound in both clouds", () => {
    // Dimension 0 saturated at 1 everywhere, dimension 1 twice as wide in a as in b.
    const a = Float64Array.from({ length: 200 }, (_, j) => (j % 2 === 0 ? 1 : 2 * ((j >> 1) / 99 - 0.5)))
    const b = Float64Array.from({ length: 200 }, (_, j) => (j % 2 === 0 ? 1 : (j >> 1) / 99 - 0.5))
    const gap = BehaviourFit.cloudGap(a, b, 2, 16, Rng.named(0, "saturated"))
    expect(gap.spreadRatio).toBeCloseTo(2, 6)
  })
})
