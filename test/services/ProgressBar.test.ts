/** The progress bar's text: cell counts, percentages and the eta/elapsed tail. */
import { describe, expect, it } from "vitest"
import * as ProgressBar from "../../src/services/ProgressBar.ts"

describe("ProgressBar", () => {
  it("fills whole and partial cells in proportion", () => {
    expect(ProgressBar.bar(0, 10, 8)).toBe("░".repeat(8))
    expect(ProgressBar.bar(10, 10, 8)).toBe("█".repeat(8))
    expect(ProgressBar.bar(5, 10, 8)).toBe("████░░░░")
    // 1/16 of 8 cells = half a cell: four eighths
    expect(ProgressBar.bar(1, 16, 8)).toBe("▌░░░░░░░")
    for (let done = 0; done <= 37; done++) expect([...ProgressBar.bar(done, 37, 10)]).toHaveLength(10)
  })

  it("shows the count, the values and the time left, then the time taken", () => {
    expect(ProgressBar.line("train", 50, 200, 10, { loss: 0.5 })).toBe(`train [${ProgressBar.bar(50, 200)}]  25%  50/200  loss 0.5000  eta 30s`)
    expect(ProgressBar.line("train", 200, 200, 75, {})).toBe(`train [${ProgressBar.bar(200, 200)}] 100%  200/200  1m15s`)
  })
})
