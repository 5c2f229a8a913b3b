import { describe, expect, it } from "vitest"
import * as Results from "../../src/programs/Results.ts"

const result = (task: string, method: string, seed: number, score: number) => ({
  file: `${task}/${method}-seed${seed}.json`,
  result: { task, method, seed, normalizedScore: score, returnMean: score * 2, episodes: 10 }
})

describe("Results", () => {
  it("averages over seeds with the standard error, ignoring sweep files", () => {
    const summaries = Results.summarize([
      result("maze2d-umaze-v1", "swg", 0, 10),
      result("maze2d-umaze-v1", "swg", 1, 20),
      result("maze2d-umaze-v1", "swg", 2, 30),
      result("maze2d-umaze-v1", "iql", 0, 5),
      { ...result("maze2d-umaze-v1", "swg", 0, 99), file: "maze2d-umaze-v1/swg-rho5-seed0.json" }
    ])
    const swg = summaries.find((s) => s.method === "swg")!
    expect(swg.mean).toBe(20)
    expect(swg.seeds).toBe(3)
    // s.d. 10, s.e. 10/√3
    expect(swg.standardError).toBeCloseTo(10 / Math.sqrt(3), 12)
    expect(Results.table(summaries, ["swg", "iql", "idql"])).toBe(
      "| task | swg | iql | idql |\n| --- | --- | --- | --- |\n| maze2d-umaze-v1 | 20.0 ± 5.8 (3) | 5.0 ± 0.0 (1) | — |\n"
    )
  })

  it("orders the rows as asked, then alphabetically", () => {
    const summaries = Results.summarize([result("b-task", "swg", 0, 1), result("a-task", "swg", 0, 2), result("c-task", "swg", 0, 3)])
    const rows = Results.table(summaries, ["swg"], ["c-task"]).split("\n").slice(2, 5).map((r) => r.split(" | ")[0])
    expect(rows).toEqual(["| c-task", "| a-task", "| b-task"])
  })

  it("summarises the ρ sweep per task and scale from the sweep files only", () => {
    const sweepFile = (seed: number, rho: number, score: number) => ({
      file: `maze2d-umaze-v1/swg-rho${rho}-seed${seed}.json`,
      result: { task: "maze2d-umaze-v1", method: "swg", seed, normalizedScore: score, returnMean: 0, episodes: 10, guidanceScale: rho }
    })
    const sweep = Results.summarizeSweep([
      sweepFile(0, 10, 4), sweepFile(1, 10, 8), sweepFile(0, 1, 2), sweepFile(1, 1, 2),
      { ...result("maze2d-umaze-v1", "swg", 0, 99), result: { ...result("maze2d-umaze-v1", "swg", 0, 99).result, guidanceScale: 10 } }
    ])
    expect(sweep.map((s) => [s.guidanceScale, s.mean, s.seeds])).toEqual([[1, 2, 2], [10, 6, 2]])
    expect(Results.sweepTable(sweep)).toBe(
      "| SWG, task | ρ = 1 | ρ = 10 |\n| --- | --- | --- |\n| maze2d-umaze-v1 | 2.0 ± 0.0 (2) | 6.0 ± 2.0 (2) |\n"
    )
  })

  it("tabulates the clip share in percent per method, leaving out results without it", () => {
    const withShare = (task: string, method: string, seed: number, share: number | undefined) => {
      const r = result(task, method, seed, 1)
      return share === undefined ? r : { ...r, result: { ...r.result, clipShare: share } }
    }
    const clip = Results.summarizeClipShare([
      withShare("hopper", "data", 0, 0.01),
      withShare("hopper", "swg", 0, 0.2),
      withShare("hopper", "swg", 1, 0.4),
      withShare("hopper", "iql", 0, undefined)
    ])
    expect(Results.table(clip, ["data", "swg", "iql"])).toBe(
      "| task | data | swg | iql |\n| --- | --- | --- | --- |\n| hopper | 1.0 ± 0.0 (1) | 30.0 ± 10.0 (2) | — |\n"
    )
  })

  it("names each task's best ρ of the sweep beside the table, ties to the smaller ρ", () => {
    const sweepFile = (task: string, rho: number, seed: number, score: number) => {
      const r = result(task, "swg", seed, score)
      return { file: `${task}/swg-rho${rho}-seed${seed}.json`, result: { ...r.result, guidanceScale: rho } }
    }
    const sweep = Results.summarizeSweep([
      sweepFile("a", 1, 0, 10), sweepFile("a", 1, 1, 20),
      sweepFile("a", 5, 0, 30), sweepFile("a", 5, 1, 40),
      sweepFile("a", 10, 0, 35),
      sweepFile("b", 1, 0, 7), sweepFile("b", 5, 0, 7)
    ])
    expect(Results.bestScales(sweep).map((b) => [b.task, b.guidanceScale, b.mean])).toEqual([["a", 5, 35], ["b", 1, 7]])
    expect(Results.bestScaleTable(sweep)).toContain("| a | 5 | 35.0 ± 5.0 (2) |")
  })
})
