import fc from "fast-check"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import * as Rng from "../../src/domain/Rng.ts"
import { arbitraryDataset } from "./D4rlFiles.ts"

// Two episodes and the first step of a third, as a D4RL file ends mid-episode:
//   rows 0-2 end with a timeout (time limit) at row 2, rows 3-5 end with a terminal at row 5, row 6 starts ep. 3.
// s_i = [i, -i], a_i = [i/8, -i/8], r_i = i + 1.
const N = 7
const handMade = (withNext: boolean): OfflineDataset.OfflineDataset => {
  const rows = Array.from({ length: N }, (_, i) => i)
  // With next observations: s'_i = s_{i+1} inside an episode; the timeout and terminal steps see states of their own.
  const next = rows.flatMap((i) => (i === 2 ? [50, -50] : i === 5 ? [100, -100] : [i + 1, -(i + 1)]))
  return OfflineDataset.make({
    observationDim: 2,
    actionDim: 2,
    observations: Float32Array.from(rows.flatMap((i) => [i, -i])),
    actions: Float32Array.from(rows.flatMap((i) => [i / 8, -i / 8])),
    rewards: Float32Array.from(rows, (i) => i + 1),
    terminals: Uint8Array.from([0, 0, 0, 0, 0, 1, 0]),
    timeouts: Uint8Array.from([0, 0, 1, 0, 0, 0, 0]),
    nextObservations: withNext ? Float32Array.from(next) : undefined,
    infos: { step: { data: Int32Array.from(rows), shape: [N] } },
    metadata: { algorithm: "hand" }
  })
}

const pairs = (xs: ArrayLike<number>): Array<Array<number>> =>
  Array.from({ length: xs.length / 2 }, (_, i) => [xs[2 * i], xs[2 * i + 1]])

describe("OfflineDataset.qlearningTransitions (D4RL qlearning_dataset)", () => {
  it("without next_observations: pairs s_i with s_{i+1}, drops the timeout step and the last step", () => {
    const t = OfflineDataset.qlearningTransitions(handMade(false))
    // kept steps: 0, 1 (2 is a timeout), 3, 4, 5 (terminal, kept); 6 is dropped by range(N - 1)
    expect(t.size).toBe(5)
    expect(pairs(t.observations)).toEqual([[0, -0], [1, -1], [3, -3], [4, -4], [5, -5]])
    expect(pairs(t.nextObservations!)).toEqual([[1, -1], [2, -2], [4, -4], [5, -5], [6, -6]])
    expect(pairs(t.actions)).toEqual([[0, -0], [1 / 8, -1 / 8], [3 / 8, -3 / 8], [4 / 8, -4 / 8], [5 / 8, -5 / 8]])
    expect([...t.rewards]).toEqual([1, 2, 4, 5, 6])
    expect([...t.terminals]).toEqual([0, 0, 0, 0, 1])
    expect([...t.timeouts]).toEqual([0, 0, 0, 0, 0])
    expect([...t.infos.step.data]).toEqual([0, 1, 3, 4, 5])
    expect(t.infos.step.shape).toEqual([5])
    expect(t.metadata).toEqual({ algorithm: "hand" })
  })

  it("with next_observations: the same steps, next states from the file (D4RL's s_{i+1} differs only at terminals)", () => {
    const t = OfflineDataset.qlearningTransitions(handMade(true))
    expect(pairs(t.observations)).toEqual([[0, -0], [1, -1], [3, -3], [4, -4], [5, -5]])
    expect(pairs(t.nextObservations!)).toEqual([[1, -1], [2, -2], [4, -4], [5, -5], [100, -100]])
    expect([...t.terminals]).toEqual([0, 0, 0, 0, 1])
  })

  it("terminateOnEnd keeps the timeout step without marking it terminal", () => {
    const t = OfflineDataset.qlearningTransitions(handMade(false), { terminateOnEnd: true })
    expect(t.size).toBe(6)
    expect(pairs(t.observations)).toEqual([[0, -0], [1, -1], [2, -2], [3, -3], [4, -4], [5, -5]])
    expect(pairs(t.nextObservations!)).toEqual([[1, -1], [2, -2], [3, -3], [4, -4], [5, -5], [6, -6]])
    expect([...t.rewards]).toEqual([1, 2, 3, 4, 5, 6])
    expect([...t.terminals]).toEqual([0, 0, 0, 0, 0, 1])
    expect([...t.timeouts]).toEqual([0, 0, 1, 0, 0, 0])
  })

  it("keeps only non-timeout steps below N − 1, in order (property)", () => {
    fc.assert(fc.property(arbitraryDataset(), (ds) => {
      const t = OfflineDataset.qlearningTransitions(ds)
      const kept = Array.from({ length: Math.max(0, ds.size - 1) }, (_, i) => i).filter((i) => ds.timeouts[i] === 0)
      expect(t.size).toBe(kept.length)
      expect([...t.rewards]).toEqual(kept.map((i) => ds.rewards[i]))
      expect([...t.terminals]).toEqual(kept.map((i) => ds.terminals[i]))
      expect(t.nextObservations!.length).toBe(kept.length * ds.observationDim)
      expect(OfflineDataset.validate(t)).toEqual(Result.succeed(t))
    }))
  })
})

describe("OfflineDataset episodes, returns and reward scaling", () => {
  it("splits on timeout, terminal and the last step", () => {
    expect(OfflineDataset.episodes(handMade(false))).toEqual([
      { start: 0, end: 3, return: 6, terminal: false, timeout: true },
      { start: 3, end: 6, return: 15, terminal: true, timeout: false },
      { start: 6, end: 7, return: 7, terminal: false, timeout: false }
    ])
    expect(OfflineDataset.returnRange(handMade(false))).toEqual({ min: 6, max: 15 })
  })

  it("splits on observation discontinuities (IQL's ‖s_{i+1} − s'_i‖ > 1e-6)", () => {
    // After qlearning, the dropped timeout step shows up as s_3 ≠ s'_1 = s_2.
    const t = OfflineDataset.qlearningTransitions(handMade(false))
    expect(OfflineDataset.episodes(t)).toEqual([
      { start: 0, end: 2, return: 1 + 2, terminal: false, timeout: false },
      { start: 2, end: 5, return: 4 + 5 + 6, terminal: true, timeout: false }
    ])
  })

  it("iqlRewardScaling multiplies by 1000 / (max return − min return)", () => {
    const t = OfflineDataset.qlearningTransitions(handMade(false))
    const scaled = OfflineDataset.iqlRewardScaling(t)
    const factor = 1000 / (15 - 3)
    expect([...scaled.rewards]).toEqual([1, 2, 4, 5, 6].map((r) => Math.fround(r * factor)))
    // the raw dataset: returns 6, 15, 7
    expect([...OfflineDataset.iqlRewardScaling(handMade(false)).rewards]).toEqual(
      [1, 2, 3, 4, 5, 6, 7].map((r) => Math.fround((r * 1000) / 9))
    )
    expect(scaled.observations).toBe(t.observations)
  })

  it("antmazeRewardShift subtracts 1", () => {
    expect([...OfflineDataset.antmazeRewardShift(handMade(false)).rewards]).toEqual([0, 1, 2, 3, 4, 5, 6])
  })

  it("clipActions clips to ±(1 − 1e-5) in float32", () => {
    const ds = OfflineDataset.make({
      observationDim: 1,
      actionDim: 2,
      observations: Float32Array.from([0, 1]),
      actions: Float32Array.from([1, -1, 0.5, -2]),
      rewards: Float32Array.from([0, 0]),
      terminals: new Uint8Array(2)
    })
    const bound = Math.fround(1 - 1e-5)
    expect([...OfflineDataset.clipActions(ds).actions]).toEqual([bound, -bound, 0.5, -bound])
    expect(bound).toBeLessThan(1)
  })
})

describe("OfflineDataset.split (random hold-out)", () => {
  const big = (n: number) =>
    OfflineDataset.make({
      observationDim: 1,
      actionDim: 1,
      observations: Float32Array.from({ length: n }, (_, i) => i),
      actions: new Float32Array(n),
      rewards: Float32Array.from({ length: n }, (_, i) => i),
      terminals: new Uint8Array(n)
    })

  it("holds out 5 %: ⌊0.95·N⌋ train steps, the rest held out, disjoint, in order", () => {
    const { train, holdout } = OfflineDataset.split(big(1000), 0.95, Rng.named(0, "split"))
    expect(train.size).toBe(950)
    expect(holdout.size).toBe(50)
    const all = [...train.rewards, ...holdout.rewards].sort((a, b) => a - b)
    expect(all).toEqual(Array.from({ length: 1000 }, (_, i) => i))
    expect([...train.rewards]).toEqual([...train.rewards].sort((a, b) => a - b))
    expect(OfflineDataset.split(big(7), 0.95, Rng.named(0, "split")).train.size).toBe(6)
  })

  it("is deterministic in the key and differs across keys", () => {
    const a = OfflineDataset.split(big(500), 0.95, Rng.named(3, "split"))
    const b = OfflineDataset.split(big(500), 0.95, Rng.named(3, "split"))
    const c = OfflineDataset.split(big(500), 0.95, Rng.named(4, "split"))
    expect([...a.holdout.rewards]).toEqual([...b.holdout.rewards])
    expect([...a.holdout.rewards]).not.toEqual([...c.holdout.rewards])
  })

  it("permutation is a permutation (property)", () => {
    fc.assert(fc.property(fc.nat({ max: 300 }), fc.nat(), (n, seed) => {
      const p = OfflineDataset.permutation(n, Rng.named(seed, "perm"))
      expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i))
    }))
  })
})

describe("OfflineDataset statistics and concatenation", () => {
  it("observationStatistics: per-dimension mean and population std", () => {
    const stats = OfflineDataset.observationStatistics(handMade(false))
    // dim 0: 0..6 → mean 3, var = (9+4+1+0+1+4+9)/7 = 4; dim 1 mirrored
    expect([...stats.mean]).toEqual([3, -3])
    expect([...stats.std]).toEqual([2, 2])
    const normalized = OfflineDataset.normalizeObservations(handMade(true), stats, 0)
    expect(pairs(normalized.observations)[0]).toEqual([-1.5, 1.5])
    expect(pairs(normalized.nextObservations!)[0]).toEqual([-1, 1])
  })

  it("concat puts the parts one after the other (medium-expert = medium + expert)", () => {
    const medium = handMade(true)
    const expert = OfflineDataset.selectRows(handMade(true), [3, 4, 5])
    const both = OfflineDataset.concat([medium, expert])
    expect(both.size).toBe(10)
    expect([...both.rewards]).toEqual([1, 2, 3, 4, 5, 6, 7, 4, 5, 6])
    expect([...both.terminals]).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 0, 1])
    expect(pairs(both.nextObservations!).slice(7)).toEqual([[4, -4], [5, -5], [100, -100]])
    expect([...both.infos.step.data]).toEqual([0, 1, 2, 3, 4, 5, 6, 3, 4, 5])
    expect(both.infos.step.shape).toEqual([10])
    // next observations survive only when every part has them
    expect(OfflineDataset.concat([medium, handMade(false)]).nextObservations).toBeUndefined()
    expect(() => OfflineDataset.concat([])).toThrow(RangeError)
  })
})

describe("OfflineDataset.validate", () => {
  it("accepts valid datasets and names the key of a defect", () => {
    fc.assert(fc.property(arbitraryDataset(), (ds) => {
      expect(Result.isSuccess(OfflineDataset.validate(ds))).toBe(true)
    }))
    const ds = handMade(true)
    const failure = (bad: OfflineDataset.OfflineDataset) => {
      const r = OfflineDataset.validate(bad)
      return Result.isFailure(r) ? r.failure : undefined
    }
    const nan = Float32Array.from(ds.actions)
    nan[9] = NaN
    expect(failure({ ...ds, actions: nan })).toMatchObject({ _tag: "NonFinite", key: "actions", index: 4 })
    expect(failure({ ...ds, timeouts: new Uint8Array(3) })).toMatchObject({
      _tag: "LengthMismatch",
      key: "timeouts",
      expected: 7,
      actual: 3
    })
    expect(failure({ ...ds, infos: { step: { data: new Int32Array(6), shape: [6] } } })).toMatchObject({
      _tag: "LengthMismatch",
      key: "infos/step"
    })
    expect(failure({ ...ds, terminals: Uint8Array.from([0, 0, 0, 0, 0, 2, 0]) })).toMatchObject({
      _tag: "WrongDtype",
      key: "terminals"
    })
  })
})
