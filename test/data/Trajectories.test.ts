/**
 * Trajectory windows for PGD: properties over random episode layouts (no window crosses an episode end or
 * ends in a timeout, the count per episode, the hold-out by episode, normalisation, the encode/decode round
 * trip) and the typed error for a dataset too short for one window.
 */
import fc from "fast-check"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import * as Trajectories from "../../src/data/Trajectories.ts"
import * as Rng from "../../src/domain/Rng.ts"

type Ending = "terminal" | "timeout"

interface Layout {
  /** Episode lengths and how each ends; the last episode may also just stop (the file ends mid-episode). */
  readonly episodes: ReadonlyArray<{ readonly length: number; readonly ending: Ending }>
  readonly lastStops: boolean
  readonly seed: number
}

const arbitraryLayout = (maxLength = 24): fc.Arbitrary<Layout> =>
  fc.record({
    episodes: fc.array(
      fc.record({ length: fc.integer({ min: 1, max: maxLength }), ending: fc.constantFrom<Ending>("terminal", "timeout") }),
      { minLength: 1, maxLength: 8 }
    ),
    lastStops: fc.boolean(),
    seed: fc.nat(1000)
  })

/** s_i = [i, −i/2, seeded noise], a_i seeded in (−0.99, 0.99)², r_i seeded; flags at each episode's last step. */
const datasetOf = (layout: Layout): OfflineDataset.OfflineDataset => {
  const n = layout.episodes.reduce((s, e) => s + e.length, 0)
  const noise = new Float32Array(n * 4)
  Rng.fillUniform(Rng.named(layout.seed, "layout"), noise)
  const terminals = new Uint8Array(n)
  const timeouts = new Uint8Array(n)
  let end = 0
  layout.episodes.forEach((e, k) => {
    end += e.length
    const last = k === layout.episodes.length - 1
    if (last && layout.lastStops) return
    ;(e.ending === "terminal" ? terminals : timeouts)[end - 1] = 1
  })
  return OfflineDataset.make({
    observationDim: 3,
    actionDim: 2,
    observations: Float32Array.from({ length: n * 3 }, (_, j) => {
      const [i, k] = [Math.floor(j / 3), j % 3]
      return k === 0 ? i : k === 1 ? -i / 2 : noise[i * 4]
    }),
    actions: Float32Array.from({ length: n * 2 }, (_, j) => 1.98 * noise[Math.floor(j / 2) * 4 + 1 + (j % 2)] - 0.99),
    rewards: Float32Array.from({ length: n }, (_, i) => 3 * noise[i * 4 + 3] - 1),
    terminals,
    timeouts
  })
}

/** Windows per episode counted from the definition: k·stride from the start, + a terminal one, − a timeout one. */
const expectedCount = (e: OfflineDataset.Episode, length: number, stride: number): number => {
  const span = e.end - e.start
  if (span < length) return 0
  const aligned = (span - length) % stride === 0
  return Math.floor((span - length) / stride) + 1 + (e.terminal && !aligned ? 1 : 0) - (e.timeout && aligned ? 1 : 0)
}

const options = (length: number, stride: number, holdoutShare = 0): Trajectories.WindowOptions => ({ length, stride, holdoutShare })

describe("Trajectories windows (PGD §4.1)", () => {
  it("no window crosses an episode end or ends in a timeout; counts per episode; every terminal-ending window is there", () => {
    fc.assert(fc.property(arbitraryLayout(), fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 5 }), (layout, length, stride) => {
      const ds = datasetOf(layout)
      const episodes = OfflineDataset.episodes(ds)
      const all = episodes.flatMap((e) => Trajectories.episodeWindowStarts(e, length, stride))
      expect(new Set(all).size).toBe(all.length)
      for (const s of all) {
        for (let t = 0; t < length - 1; t++) {
          expect(ds.terminals[s + t], `terminal inside window ${s}`).toBe(0)
          expect(ds.timeouts[s + t], `timeout inside window ${s}`).toBe(0)
        }
        expect(ds.timeouts[s + length - 1], `window ${s} ends in a timeout`).toBe(0)
        expect(s + length).toBeLessThanOrEqual(ds.size)
      }
      for (const e of episodes) {
        expect(Trajectories.episodeWindowStarts(e, length, stride).length).toBe(expectedCount(e, length, stride))
      }
      // Brute force over every start in the dataset: a window ending on a terminal with no done before it is kept.
      for (let s = 0; s + length <= ds.size; s++) {
        let clean = true
        for (let t = 0; t < length - 1; t++) clean &&= ds.terminals[s + t] === 0 && ds.timeouts[s + t] === 0
        if (clean && ds.terminals[s + length - 1] === 1) expect(all).toContain(s)
      }
    }))
  })

  it("holds out ⌊episodes·share⌋ whole episodes; the training rows are normalised to mean 0, std 1", () => {
    fc.assert(fc.property(arbitraryLayout(40), fc.constantFrom(0, 0.2, 0.5), (layout, share) => {
      const ds = datasetOf(layout)
      const episodes = OfflineDataset.episodes(ds)
      const result = Trajectories.build(ds, options(4, 3, share), Rng.named(layout.seed, "holdout"))
      if (Result.isFailure(result)) return
      const data = result.success
      expect(data.heldOutEpisodes.length).toBe(Math.floor(episodes.length * share))
      const episodeOf = (step: number) => episodes.findIndex((e) => step >= e.start && step < e.end)
      for (const s of data.train.starts) expect(data.heldOutEpisodes).not.toContain(episodeOf(s))
      for (const s of data.validation.starts) expect(data.heldOutEpisodes).toContain(episodeOf(s))
      const total = episodes.flatMap((e) => Trajectories.episodeWindowStarts(e, 4, 3)).length
      expect(data.train.count + data.validation.count).toBe(total)
      const c = Trajectories.channelCount(data.channels)
      const rows = data.train.count * data.train.length
      for (let k = 0; k < c; k++) {
        let [m, v] = [0, 0]
        for (let r = 0; r < rows; r++) m += data.train.data[r * c + k] / rows
        for (let r = 0; r < rows; r++) v += (data.train.data[r * c + k] - m) ** 2 / rows
        expect(Math.abs(m)).toBeLessThan(1e-4)
        // A constant channel (e.g. no terminal anywhere) keeps std 1 and becomes all zeros.
        if (data.normalisation.std[k] !== 1) expect(Math.abs(v - 1)).toBeLessThan(1e-3)
      }
    }))
  })

  it("decode(encode) gives back the dataset's transitions (s_t, a_t, r_t, d_t, s_{t+1}) of every window", () => {
    fc.assert(fc.property(arbitraryLayout(), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 4 }), (layout, length, stride) => {
      const ds = datasetOf(layout)
      const result = Trajectories.build(ds, options(length, stride), Rng.named(0, "split"))
      if (Result.isFailure(result)) return
      const { train, channels, normalisation } = result.success
      const t = Trajectories.decode(train.data, train.count, length, channels, normalisation)
      expect(t.size).toBe(train.count * (length - 1))
      const close = (a: number, b: number, what: string) =>
        expect(Math.abs(a - b), `${what}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(b)))
      train.starts.forEach((s, w) => {
        for (let k = 0; k < length - 1; k++) {
          const [j, i] = [w * (length - 1) + k, s + k]
          for (let d = 0; d < 3; d++) {
            close(t.observations[j * 3 + d], ds.observations[i * 3 + d], "s")
            close(t.nextObservations[j * 3 + d], ds.observations[(i + 1) * 3 + d], "s'")
          }
          for (let d = 0; d < 2; d++) close(t.actions[j * 2 + d], ds.actions[i * 2 + d], "a")
          close(t.rewards[j], ds.rewards[i], "r")
          expect(t.terminals[j]).toBe(ds.terminals[i])
        }
      })
    }))
  })

  it("decodes the done channel by thresholding at 0.5 and clips actions to ±0.999 before atanh", () => {
    const ds = OfflineDataset.make({
      observationDim: 1, actionDim: 1,
      observations: Float32Array.from([0, 1, 2, 3]),
      actions: Float32Array.from([1, -1, 0.5, 0]),
      rewards: Float32Array.from([0, 0, 0, 0]),
      terminals: Uint8Array.from([0, 0, 0, 1])
    })
    const w = Trajectories.rawWindows(ds, [0], 4)
    expect(w.data[1]).toBeCloseTo(Math.atanh(0.999), 5)
    expect(w.data[5]).toBeCloseTo(-Math.atanh(0.999), 5)
    const identity: Trajectories.Normalisation = { mean: new Float64Array(4), std: new Float64Array(4).fill(1) }
    // Generated done values: 0.49 → 0, 0.51 → 1.
    const sample = Float32Array.from([0, 0, 0, 0.49, 1, 0, 0, 0.51, 2, 0, 0, 0])
    expect([...Trajectories.decode(sample, 1, 3, w.channels, identity).terminals]).toEqual([0, 1])
  })

  it("a dataset without an episode of H steps fails with TrajectoriesTooShort", () => {
    const ds = datasetOf({ episodes: [{ length: 5, ending: "timeout" }, { length: 7, ending: "terminal" }], lastStops: false, seed: 1 })
    const result = Trajectories.build(ds, options(8, 2), Rng.named(0, "split"))
    expect(Result.isFailure(result)).toBe(true)
    if (Result.isFailure(result)) {
      expect(result.failure._tag).toBe("TrajectoriesTooShort")
      expect(result.failure.longestEpisode).toBe(7)
      expect(result.failure.message).toContain("no window of 8 steps")
    }
    // An 8-step episode ending in a timeout has no window either (it would end in the timeout).
    const timeoutOnly = datasetOf({ episodes: [{ length: 8, ending: "timeout" }], lastStops: false, seed: 1 })
    expect(Result.isFailure(Trajectories.build(timeoutOnly, options(8, 2), Rng.named(0, "split")))).toBe(true)
  })
})
