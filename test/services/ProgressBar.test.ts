/** The progress text: the bar's cell counts, percentages and the eta/elapsed tail; the plain line's rate after a resume. */
import { describe, expect, it } from "vitest"
import * as Progress from "../../src/services/Progress.ts"
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

  it("after a resume, the rate and the time left count only the steps done since", () => {
    // resumed at 14 000 of 20 000: 1 000 steps in 10 s is 100/s, so the 5 000 left take 50 s (counting from step 0 would claim 1 500/s and 3 s)
    expect(ProgressBar.line("swg", 15_000, 20_000, 10, {}, 14_000)).toBe(`swg [${ProgressBar.bar(15_000, 20_000)}]  75%  15000/20000  eta 50s`)
    expect(Progress.lineOf("swg", 15_000, 20_000, 14_000, 10, { loss: 0.5 })).toBe("swg 15000/20000  loss 0.5000  100.0/s  elapsed 10s  eta 50s")
    expect(Progress.lineOf("swg", 1_000, 20_000, 0, 10, {})).toBe("swg 1000/20000    100.0/s  elapsed 10s  eta 3m10s")
  })
})
