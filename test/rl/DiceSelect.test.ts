/** Guide-then-select's selection rules against their definitions, and the ablations' plans. */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Rng from "../../src/domain/Rng.ts"
import * as DiceSelect from "../../src/rl/DiceSelect.ts"

describe("guide-then-select", () => {
  it("argmax picks the highest score of each row's candidates", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 8 }), fc.nat(), (rows, k, seed) => {
      const scores = new Float64Array(rows * k)
      Rng.fillNormal(Rng.named(seed, "scores"), scores)
      const picked = DiceSelect.pick(scores, rows, k, "argmax", Rng.named(seed, "pick"))
      picked.forEach((index, r) => {
        expect(Math.floor(index / k)).toBe(r)
        expect(scores[index]).toBe(Math.max(...scores.subarray(r * k, (r + 1) * k)))
      })
    }))
  })

  it("softmax draws each candidate with probability ∝ exp(score) (within 4 standard errors over 20 000 draws)", () => {
    const scores = [0.5, -1, 2, 0]
    const rows = 20_000
    const flat = Array.from({ length: rows }, () => scores).flat()
    const picked = DiceSelect.pick(flat, rows, 4, "softmax", Rng.named(3, "softmax"))
    const counts = [0, 0, 0, 0]
    picked.forEach((i) => counts[i % 4]++)
    const z = scores.map(Math.exp)
    const total = z.reduce((a, b) => a + b, 0)
    counts.forEach((c, j) => {
      const p = z[j] / total
      expect(Math.abs(c / rows - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / rows))
    })
  })

  it("softmax is shift-invariant and survives huge scores", () => {
    const picked = DiceSelect.pick([1000, 1e4, -Infinity], 1, 3, "softmax", Rng.named(1, "x"))
    expect(picked).toEqual([1])
  })

  it("the ablations: guide-only samples one guided candidate, select-only K unguided ones", () => {
    expect(DiceSelect.plan("d-dice", 16)).toEqual({ candidates: 16, guided: true })
    expect(DiceSelect.plan("d-dice-guide-only", 16)).toEqual({ candidates: 1, guided: true })
    expect(DiceSelect.plan("d-dice-select-only", 16)).toEqual({ candidates: 16, guided: false })
  })
})
