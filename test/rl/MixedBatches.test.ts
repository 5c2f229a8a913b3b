/**
 * Mixed batches (CPU backend): every row of every field carries the id of its source row (real rows 0..n−1,
 * synthetic rows 1000..1000+m−1), so a batch shows where each row came from.
 *   - Exactly round(share·rows) rows are synthetic (240 of 256 at the reference's 240/256), in the last positions,
 *     and the five fields of a row come from the same source row.
 *   - Each source's rows are drawn uniformly: over many batches every row appears about equally often.
 *   - Without a synthetic source, or with a share that rounds to no rows, a batch is the single-source batch the
 *     agents drew before (the same rows from the same key).
 *   - TD3+BC's, the IQL critic's and IQL's actor's training steps take the synthetic source: with real data full
 *     of NaN, a share of 1 trains on finite numbers only, a share of ½ does not.
 */
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Critic from "../../src/rl/Critic.ts"
import * as IqlActor from "../../src/rl/IqlActor.ts"
import * as MixedBatches from "../../src/rl/MixedBatches.ts"
import * as Td3Bc from "../../src/rl/Td3Bc.ts"

const B = CpuBackend.make()
const S = 2
const A = 1

/** A source of `n` rows whose every entry is `first + row` (or NaN everywhere when `nan`). */
const source = (n: number, first: number, nan = false): Critic.DeviceTransitions => {
  const ids = (cols: number) =>
    B.upload(Float32Array.from({ length: n * cols }, (_, i) => (nan ? Number.NaN : first + Math.floor(i / cols))), n, cols)
  return { observations: ids(S), actions: ids(A), rewards: ids(1), masks: ids(1), nextObservations: ids(S) }
}

const rowIds = async (batch: Critic.DeviceTransitions) => {
  const fields = await Promise.all([batch.observations, batch.actions, batch.rewards, batch.masks, batch.nextObservations].map((t) => B.read(t)))
  const rows = batch.rewards.rows
  return Array.from({ length: rows }, (_, r) => {
    const ids = [fields[0][r * S], fields[0][r * S + 1], fields[1][r], fields[2][r], fields[3][r], fields[4][r * S], fields[4][r * S + 1]]
    expect(new Set(ids).size, `row ${r}: every field from one source row`).toBe(1)
    return ids[0]
  })
}

describe("MixedBatches", () => {
  const real = source(10, 0)
  const synthetic = source(7, 1000)
  const key = Rng.named(3, "mixed")

  it.each([[240 / 256, 240], [0.5, 128], [0.1, 26], [1, 256]])("share %s: %s of 256 rows synthetic, in the last positions", async (share, expected) => {
    for (let step = 0; step < 5; step++) {
      const ids = await rowIds(MixedBatches.sample(B, real, 256, key, step, { data: synthetic, share }) as Critic.DeviceTransitions)
      expect(MixedBatches.syntheticRows(256, { data: synthetic, share })).toBe(expected)
      expect(ids.filter((id) => id >= 1000)).toHaveLength(expected)
      ids.forEach((id, r) => expect(id >= 1000, `row ${r}`).toBe(r >= 256 - expected))
      for (const id of ids) expect(id < 10 || (id >= 1000 && id < 1007)).toBe(true)
    }
  })

  it("draws each source's rows uniformly", async () => {
    const counts = new Map<number, number>()
    for (let step = 0; step < 100; step++) {
      for (const id of await rowIds(MixedBatches.sample(B, real, 256, key, step, { data: synthetic, share: 0.5 }) as Critic.DeviceTransitions)) {
        counts.set(id, (counts.get(id) ?? 0) + 1)
      }
    }
    // 12 800 draws over 10 real rows (1280 each) and 12 800 over 7 synthetic rows (≈ 1829 each); σ ≈ 34 and 40.
    for (let id = 0; id < 10; id++) expect(Math.abs(counts.get(id)! - 1280), `real row ${id}`).toBeLessThan(200)
    for (let id = 1000; id < 1007; id++) expect(Math.abs(counts.get(id)! - 12800 / 7), `synthetic row ${id}`).toBeLessThan(250)
  })

  it("without synthetic rows a batch is the single-source batch", async () => {
    const index = B.randint(64, 1, Rng.at(key, 4), 10)
    const expected = await B.read(B.gatherRows(real.observations, index))
    for (const mix of [undefined, { data: synthetic, share: 0 }, { data: synthetic, share: 0.001 }]) {
      expect(await B.read(MixedBatches.sample(B, real, 64, key, 4, mix).observations)).toEqual(expected)
    }
  })

  describe("training steps take a synthetic source", () => {
    const broken = source(10, 0, true)
    const good = (() => {
      // Small finite transitions: observations and next observations in [0, 1), actions in (−1, 1), masks 1.
      const u = (n: number, cols: number, seed: number, scale = 1, shift = 0) => {
        const x = new Float32Array(n * cols)
        Rng.fillUniform(Rng.named(seed, "mixed-good"), x)
        return B.upload(x.map((v) => scale * v + shift), n, cols)
      }
      return { observations: u(16, S, 1), actions: u(16, A, 2, 1.8, -0.9), rewards: u(16, 1, 3), masks: B.fill(16, 1, 1), nextObservations: u(16, S, 4) }
    })()
    const finite = async (t: ReturnType<typeof B.zeros>) => Array.from(await B.read(t)).every(Number.isFinite)

    it("TD3+BC", async () => {
      const config = Schema.decodeSync(Td3Bc.Td3BcConfig)({ hidden: 8, batch: 32 })
      for (const [share, expected] of [[1, true], [0.5, false]] as const) {
        const agent = Td3Bc.create(B, config, S, A, Rng.named(0, "td3bc"))
        const losses = [0, 1].map((i) => Td3Bc.updateStep(B, agent, broken, key, i, { data: good, share }))
        expect(await finite(losses[1]), `share ${share}`).toBe(expected)
      }
    })

    it("the IQL critic and actor", async () => {
      const critic = Critic.create(B, Schema.decodeSync(Critic.CriticConfig)({ hidden: 8, batch: 32 }), S, A, Rng.named(0, "critic"))
      const actorConfig = Schema.decodeSync(IqlActor.IqlActorConfig)({ hidden: 8, batch: 32, steps: 10 })
      for (const [share, expected] of [[1, true], [0.5, false]] as const) {
        const actor = IqlActor.create(B, actorConfig, S, A, Rng.named(0, "actor"))
        // The actor first, while the critic is still finite: a NaN loss can then come only from its own batch.
        expect(await finite(IqlActor.updateStep(B, actor, critic, broken, key, 0, { data: good, share })), `actor, share ${share}`).toBe(expected)
      }
      expect(await finite(Critic.updateStep(B, critic, broken, key, 0, { data: good, share: 1 }))).toBe(true)
      expect(await finite(Critic.updateStep(B, critic, broken, key, 1, { data: good, share: 0.5 }))).toBe(false)
    })
  })
})
