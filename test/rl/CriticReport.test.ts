import { describe, expect, it } from "vitest"
import * as fc from "fast-check"
import type { Episode } from "../../src/data/OfflineDataset.ts"
import * as CriticReport from "../../src/rl/CriticReport.ts"

const episode = (start: number, end: number, ret: number): Episode => ({ start, end, return: ret, terminal: false, timeout: true })

describe("CriticReport.byEpisodeReturn", () => {
  it("groups episodes by return and counts their positive advantages (hand-computed case)", () => {
    // Four episodes in dataset order with returns 3, 1, 4, 2; steps 0–1, 2–4, 5, 6–7.
    const episodes = [episode(0, 2, 3), episode(2, 5, 1), episode(5, 6, 4), episode(6, 8, 2)]
    const advantages = [0.5, -0.5, -1, -2, 3, 1, 0.25, -0.25]
    const [low, high] = CriticReport.byEpisodeReturn(episodes, advantages, 2)
    // Lower half: returns 1 and 2 → steps 2,3,4 and 6,7.
    expect(low).toEqual({
      episodes: 2, steps: 5, lowestReturn: 1, highestReturn: 2, meanReturn: 1.5,
      positiveShare: 2 / 5, meanAdvantage: (-1 - 2 + 3 + 0.25 - 0.25) / 5
    })
    // Upper half: returns 3 and 4 → steps 0,1 and 5.
    expect(high).toEqual({
      episodes: 2, steps: 3, lowestReturn: 3, highestReturn: 4, meanReturn: 3.5,
      positiveShare: 2 / 3, meanAdvantage: (0.5 - 0.5 + 1) / 3
    })
    expect(CriticReport.markdown([low, high], (r) => 10 * r).split("\n")[2]).toBe("| 1/2: 1.0 … 2.0 | 2 | 5 | 1.5 | 15.0 | 0.400 | 0.0000 |")
  })

  it("counts every step once, in groups of rising return (property)", () => {
    const lengths = fc.array(fc.record({ length: fc.integer({ min: 1, max: 5 }), ret: fc.double({ min: -10, max: 10, noNaN: true }) }), { minLength: 1, maxLength: 30 })
    fc.assert(fc.property(lengths, fc.integer({ min: 1, max: 8 }), fc.integer(), (specs, groups, seed) => {
      const episodes: Array<Episode> = []
      let start = 0
      for (const s of specs) {
        episodes.push(episode(start, start + s.length, s.ret))
        start += s.length
      }
      const advantages = Array.from({ length: start }, (_, i) => Math.sin(seed + i))
      const report = CriticReport.byEpisodeReturn(episodes, advantages, groups)
      expect(report.length).toBe(Math.min(groups, episodes.length))
      expect(report.reduce((n, g) => n + g.episodes, 0)).toBe(episodes.length)
      expect(report.reduce((n, g) => n + g.steps, 0)).toBe(start)
      expect(report.reduce((n, g) => n + g.positiveShare * g.steps, 0)).toBeCloseTo(advantages.filter((a) => a > 0).length, 9)
      for (let g = 1; g < report.length; g++) expect(report[g].lowestReturn).toBeGreaterThanOrEqual(report[g - 1].highestReturn)
    }))
  })
})
