/**
 * The bandit's pure parts against independent references: the reward's peaks, the annulus sampler's radial law
 * (a 2-D standard normal has P(‖a‖ ≤ r) = 1 − e^{−r²/2}), the DICE value's defining equation, and the exact
 * target's rejection sampler against a self-normalised importance estimate of E_π*[R] from independent data.
 */
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import * as Divergence from "../../src/domain/Divergence.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Bandit from "../../src/programs/Bandit.ts"

const c = Schema.decodeSync(Bandit.BanditConfig)({})

describe("the 2-D bandit", () => {
  it("the true reward is 1 at the two peaks (±r*, 0) inside the outer ring, ½ at the inner edge, 0 at the centre, small off the x-axis", () => {
    const peak = c.innerRadius + 0.75 * (c.outerRadius - c.innerRadius)
    expect(Bandit.trueReward(c, peak, 0)).toBeCloseTo(1, 12)
    expect(Bandit.trueReward(c, -peak, 0)).toBeCloseTo(1, 12)
    // falls beyond the peak: the best actions are inside the annulus
    expect(Bandit.trueReward(c, c.outerRadius, 0)).toBeCloseTo(1 - 0.5 * (0.5 / (peak - c.innerRadius)) * (c.outerRadius - peak), 12)
    expect(Bandit.trueReward(c, c.outerRadius + 1, 0)).toBeLessThan(Bandit.trueReward(c, c.outerRadius, 0))
    expect(Bandit.trueReward(c, 0, 0)).toBe(0)
    expect(Bandit.trueReward(c, 0, c.outerRadius)).toBeLessThan(0.01)
    expect(Bandit.trueReward(c, c.innerRadius, 0)).toBeCloseTo(0.5, 12)
    // the pit: continuous at the inner edge, far below the peaks' continuation inside it
    expect(Bandit.trueReward(c, c.innerRadius - 1e-9, 0)).toBeCloseTo(0.5, 6)
    expect(Bandit.trueReward(c, c.innerRadius / 2, 0)).toBeCloseTo(0.5 / 16, 12)
  })

  it("annulus samples follow N(0, I) restricted to the annulus (radial law within 4 standard errors)", () => {
    const n = 20_000
    const a = Bandit.annulusNormal(c, n, Rng.named(1, "annulus"))
    const cdf = (r: number) => 1 - Math.exp(-(r * r) / 2)
    const mid = 2
    const p = (cdf(mid) - cdf(c.innerRadius)) / (cdf(c.outerRadius) - cdf(c.innerRadius))
    let inner = 0
    for (let i = 0; i < n; i++) {
      const r = Math.hypot(a[2 * i], a[2 * i + 1])
      expect(r).toBeGreaterThanOrEqual(c.innerRadius)
      expect(r).toBeLessThanOrEqual(c.outerRadius)
      if (r <= mid) inner++
    }
    expect(Math.abs(inner / n - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n))
  })

  it("V solves mean w*((q − V)/α) = 1", () => {
    const q = Float64Array.from({ length: 500 }, (_, i) => Math.sin(i) * 0.7 + 0.2)
    for (const alpha of [0.05, 0.5, 3]) {
      const v = Bandit.banditValue(q, alpha)
      const mean = q.reduce((acc, x) => acc + Divergence.ratio((x - v) / alpha), 0) / q.length
      expect(mean).toBeCloseTo(1, 9)
    }
  })

  it("exact target samples have the mean reward of π* (importance estimate from independent data, within 0.01)", () => {
    const target = Bandit.exactTarget(c, 20_000, Rng.named(2, "target"))
    const meanTarget = Array.from({ length: 20_000 }, (_, i) => Bandit.trueReward(c, target[2 * i], target[2 * i + 1])).reduce((a, b) => a + b, 0) / 20_000
    const data = Bandit.annulusNormal(c, 50_000, Rng.named(3, "data"))
    const r = Array.from({ length: 50_000 }, (_, i) => Bandit.trueReward(c, data[2 * i], data[2 * i + 1]))
    const v = Bandit.banditValue(r, c.alpha)
    const w = r.map((x) => Divergence.ratio((x - v) / c.alpha))
    const estimate = w.reduce((acc, wi, i) => acc + wi * r[i], 0) / w.reduce((a, b) => a + b, 0)
    const meanData = r.reduce((a, b) => a + b, 0) / r.length
    expect(Math.abs(meanTarget - estimate)).toBeLessThan(0.01)
    expect(meanTarget).toBeGreaterThan(meanData + 0.1)
  })
})
