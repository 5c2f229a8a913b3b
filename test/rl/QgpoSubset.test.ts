/**
 * QGPO's training subset (`QgpoAgentConfig.supportStates`, CPU backend): the rows are a seeded draw of distinct
 * training rows of the requested size (uniform: every row equally likely), and the support actions, the Q steps and
 * the energy steps read those rows only: a dataset whose other rows are NaN trains to finite losses on the subset,
 * while a Q step on all rows turns NaN.
 */
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Training from "../../src/diffusion/Training.ts"
import type { Device } from "../../src/rl/Device.ts"
import * as QgpoAgent from "../../src/rl/QgpoAgent.ts"
import * as SwgAgent from "../../src/rl/SwgAgent.ts"

const B = CpuBackend.make()
const device: Device<never> = { ops: B, read: (t) => Effect.promise(() => B.read(t)) }

describe("QGPO's training rows", () => {
  it("are `count` distinct rows in range, sorted, the same for the same key and others for another", () => {
    const key = Rng.named(3, "qgpo-subset")
    const rows = QgpoAgent.subsetRows(1000, 100, key)
    expect(rows.length).toBe(100)
    expect(new Set(rows).size).toBe(100)
    for (let i = 0; i < rows.length; i++) {
      expect(rows[i]).toBeGreaterThanOrEqual(0)
      expect(rows[i]).toBeLessThan(1000)
      if (i > 0) expect(rows[i]).toBeGreaterThan(rows[i - 1])
    }
    expect(Array.from(QgpoAgent.subsetRows(1000, 100, key))).toEqual(Array.from(rows))
    expect(Array.from(QgpoAgent.subsetRows(1000, 100, Rng.named(4, "qgpo-subset")))).not.toEqual(Array.from(rows))
    expect(Array.from(QgpoAgent.subsetRows(5, 9, key))).toEqual([0, 1, 2, 3, 4])
  })

  it("draw every row with probability count/size", () => {
    // 4000 draws of 3 of 10 rows: each row's count is Binomial(4000, 0.3), sd 29; 5 sd is 145.
    const counts = new Array<number>(10).fill(0)
    for (let seed = 0; seed < 4000; seed++) for (const r of QgpoAgent.subsetRows(10, 3, Rng.named(seed, "uniform"))) counts[r]++
    for (const c of counts) expect(Math.abs(c - 1200)).toBeLessThan(145)
  })

  it("are every row when supportStates is absent or at least the training rows", () => {
    const config = (extra: object) => Schema.decodeSync(QgpoAgent.QgpoAgentConfig)(extra)
    const key = Rng.named(0, "qgpo-subset")
    expect(QgpoAgent.trainingRows(config({}), 50, key)).toBeUndefined()
    expect(QgpoAgent.trainingRows(config({ supportStates: 50 }), 50, key)).toBeUndefined()
    expect(QgpoAgent.trainingRows(config({ supportStates: 20 }), 50, key)?.length).toBe(20)
    expect(() => config({ supportStates: 0 })).toThrow()
  })

  it("are all that support sampling, the Q steps and the energy steps read", async () => {
    const n = 64
    const S = 2
    const rows = QgpoAgent.subsetRows(n, 16, Rng.named(0, "subset"))
    const inSubset = new Set(rows)
    // Rows outside the subset hold NaN in every field but the action: reading any of them makes a loss NaN.
    const value = (r: number, v: number) => (inSubset.has(r) ? v : Number.NaN)
    const host = {
      observations: Float32Array.from({ length: n * S }, (_, i) => value(Math.floor(i / S), Math.sin(i))),
      actions: Float32Array.from({ length: n }, (_, r) => Math.cos(r) * 0.9),
      rewards: Float32Array.from({ length: n }, (_, r) => value(r, Math.sin(3 * r))),
      masks: Float32Array.from({ length: n }, (_, r) => value(r, 1)),
      nextObservations: Float32Array.from({ length: n * S }, (_, i) => value(Math.floor(i / S), Math.cos(i)))
    }
    const transitions = {
      observations: B.upload(host.observations, n, S), actions: B.upload(host.actions, n, 1), rewards: B.upload(host.rewards, n, 1),
      masks: B.upload(host.masks, n, 1), nextObservations: B.upload(host.nextObservations, n, S)
    }
    const subset = QgpoAgent.subsetTransitions(B, transitions, rows)
    // The subset's rows are the dataset's rows of `rows`, in order.
    expect(Array.from(await B.read(subset.observations))).toEqual(Array.from(rows).flatMap((r) => Array.from(host.observations.subarray(r * S, r * S + S))))
    expect(Array.from(await B.read(subset.rewards))).toEqual(Array.from(rows, (r) => host.rewards[r]))
    expect(Array.from(await B.read(subset.nextObservations))).toEqual(Array.from(rows).flatMap((r) => Array.from(host.nextObservations.subarray(r * S, r * S + S))))

    const behaviour = SwgAgent.create(
      B, new SwgAgent.SwgAgentConfig({ ...Schema.decodeSync(SwgAgent.SwgAgentConfig)({}), hidden: 8, blocks: 1, diffusionSteps: 3 }),
      S, 1, [0.2, 1], Rng.named(0, "behaviour")
    )
    const config = Schema.decodeSync(QgpoAgent.QgpoAgentConfig)({ support: 4, qHidden: 8, qBatch: 16, energyHidden: 8, energyHiddenLayers: 1, energyBatch: 8 })
    const agent = QgpoAgent.create(B, config, behaviour, S, Rng.named(0, "qgpo"))
    const data = await Effect.runPromise(QgpoAgent.prepare(device, agent, subset, Rng.named(0, "support")))
    expect(data.support.rows).toBe(16 * 4)
    expect((await B.read(data.support)).every(Number.isFinite)).toBe(true)
    expect((await B.read(data.nextSupport)).every(Number.isFinite)).toBe(true)
    const tables = Training.noiseTables(B, behaviour.schedule)
    for (let step = 0; step < 5; step++) {
      expect(Number.isFinite((await B.read(QgpoAgent.qStep(B, agent, data, Rng.named(0, "q"), step)))[0])).toBe(true)
      expect(Number.isFinite((await B.read(QgpoAgent.energyStep(B, agent, QgpoAgent.energyData(B, agent, data), tables, Rng.named(0, "e"), step)))[0])).toBe(true)
    }
    // The control: the same Q step drawing from every row (the subset ignored) reads NaN rows.
    const wrap = B.upload(Float32Array.from({ length: n * 4 }, (_, i) => i % (16 * 4)), n * 4, 1)
    const everyRow = { ...data, transitions, nextSupport: B.gatherRows(data.nextSupport, wrap) }
    expect(Number.isNaN((await B.read(QgpoAgent.qStep(B, agent, everyRow, Rng.named(0, "q"), 0)))[0])).toBe(true)
  })
})
