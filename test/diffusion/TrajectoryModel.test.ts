/**
 * The trajectory model: the learning-rate schedule, the window sampler, and a short training run on a toy set
 * of four trajectories: the EDM loss goes down and samples of the EMA weights land near the set.
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as TrajectoryModel from "../../src/diffusion/TrajectoryModel.ts"
import * as WasmBackend from "../../src/wasm/WasmBackend.ts"
import { valuesOf } from "../fixtures/FiniteDifference.ts"

const B = CpuBackend.make()

describe("TrajectoryModel schedule and batches", () => {
  it("warms up linearly from 0.1·lr to lr over 10 % of the steps, then decays by a cosine to 0", () => {
    const c = TrajectoryModel.trajectoryModelConfig({ steps: 1000, lr: 2e-3 })
    expect(TrajectoryModel.learningRate(c, 0)).toBeCloseTo(2e-4, 12)
    expect(TrajectoryModel.learningRate(c, 50)).toBeCloseTo(2e-4 + 0.5 * 1.8e-3, 12)
    expect(TrajectoryModel.learningRate(c, 100)).toBeCloseTo(2e-3, 12)
    expect(TrajectoryModel.learningRate(c, 550)).toBeCloseTo(1e-3, 12)
    expect(TrajectoryModel.learningRate(c, 1000)).toBeCloseTo(0, 12)
  })

  it("draws whole windows: row indices w·H + t for t = 0..H−1", () => {
    const rows = valuesOf(TrajectoryModel.windowRows(B, 5, 4, 6, Rng.named(0, "w")))
    for (let b = 0; b < 6; b++) {
      const w = rows[b * 4] / 4
      expect(Number.isInteger(w) && w >= 0 && w < 5).toBe(true)
      for (let t = 0; t < 4; t++) expect(rows[b * 4 + t]).toBe(w * 4 + t)
    }
  })
})

describe("TrajectoryModel training on a toy trajectory set", () => {
  // The WASM backend (single thread) trains this ≈ 7× faster than the CPU reference: 1600 steps take ≈ 15 s here.
  it("the loss goes down and samples land near the set", async () => {
    const W = WasmBackend.make({ threads: 1 })
    const read = async (t: Parameters<typeof W.read>[0]) => Float64Array.from(await W.read(t))
    const [length, channels, count] = [8, 3, 4]
    // Four smooth trajectories, about unit scale, at least ≈ 3 apart.
    const set = Array.from({ length: count }, (_, i) =>
      Float32Array.from({ length: length * channels }, (_, j) => {
        const [t, k] = [Math.floor(j / channels), j % channels]
        const phase = (i * Math.PI) / 2
        return k === 0 ? Math.cos(t / 3 + phase) : k === 1 ? Math.sin(t / 3 + phase) : (i - 1.5) * 0.6
      }))
    const data = W.upload(Float32Array.from(set.flatMap((y) => [...y])), count * length, channels)
    const c = TrajectoryModel.trajectoryModelConfig({
      width: 32, depth: 2, groups: 4, residual: true, steps: 1600, batch: 16, lr: 3e-3, emaDecay: 0.9, emaEvery: 1, edm: { steps: 24 }
    })
    const model = TrajectoryModel.create(W, c, channels, Rng.named(1, "init"))
    const losses: Array<number> = []
    for (let step = 0; step < c.steps; step++) {
      losses.push((await read(TrajectoryModel.trainStep(W, model, c, data, length, step, Rng.named(2, "train"))))[0])
    }
    const mean = (xs: Array<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
    const [first, last] = [mean(losses.slice(0, 50)), mean(losses.slice(-100))]
    expect(last, `loss ${first} → ${last}`).toBeLessThan(0.5 * first)

    const n = 32
    const out = await read(TrajectoryModel.sample(W, model, c, { count: n, length, channels, key: Rng.named(3, "sample") }))
    const distances = Array.from({ length: n }, (_, b) =>
      Math.min(...set.map((y) => Math.sqrt(y.reduce((a, v, j) => a + (out[b * length * channels + j] - v) ** 2, 0)))))
    let minPair = Infinity
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < i; j++) minPair = Math.min(minPair, Math.sqrt(set[i].reduce((a, v, k) => a + (v - set[j][k]) ** 2, 0)))
    }
    const sorted = [...distances].sort((a, b) => a - b)
    // Samples from the noise itself (or the data's mean) would sit ≥ minPair/2 from every member.
    expect(sorted[Math.floor(n / 2)], `median distance ${sorted[Math.floor(n / 2)]}, pair distance ${minPair}`).toBeLessThan(0.15 * minPair)
    expect(sorted[Math.floor(0.8 * n)]).toBeLessThan(0.35 * minPair)
    W.close()
  }, 120_000)
})
