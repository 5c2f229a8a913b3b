/**
 * CSV files of 2-D points for the toy program: a round trip gives back the same float64 values whatever the column
 * order, and each bad input is a `PointsCsvError` naming the file, the line and the column.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { describe, expect } from "vitest"
import * as PointsCsv from "../../src/data/PointsCsv.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as ToyData from "../../src/domain/ToyData.ts"

const dir = mkdtempSync(join(tmpdir(), "points-csv-"))

/** `rows` lines under `header`, each from `row(i)`. */
const csv = (header: string, rows: number, row: (i: number) => string): string =>
  [header, ...Array.from({ length: rows }, (_, i) => row(i))].join("\n") + "\n"

const good = (i: number) => `${i / 7},${-i / 3},${(i % 5) / 4}`

/** The error of parsing `text` as a data file named `file`. */
const pointsError = (text: string, file = "d.csv") => {
  const r = PointsCsv.parsePoints(text, file)
  if (Result.isSuccess(r)) throw new Error("expected a failure")
  return r.failure
}

const targetsError = (text: string, grid: ReadonlyArray<number>, file = "t.csv") => {
  const r = PointsCsv.parseTargets(text, file, grid)
  if (Result.isSuccess(r)) throw new Error("expected a failure")
  return r.failure
}

describe("PointsCsv round trip", () => {
  it.effect("a built-in dataset written and read back: the same float64 points and energies, row for row", () =>
    Effect.gen(function*() {
      const sample = ToyData.generate("swissroll", 500, Rng.named(3, "csv"))
      const path = join(dir, "swissroll.csv")
      yield* PointsCsv.writePoints(path, sample)
      const back = yield* PointsCsv.readPoints(path)
      expect(Array.from(back.points)).toEqual(Array.from(sample.points))
      expect(Array.from(back.energy)).toEqual(Array.from(sample.energy))
    }))

  it("columns are found by name in any order; extra columns, blank lines, CRLF and quoted names are fine", () => {
    const text = "id,\"e\", x2 ,x1\r\n" + Array.from({ length: 25 }, (_, i) => `row${i},${i},${2 * i},${3 * i}\r\n\r\n`).join("")
    const r = PointsCsv.parsePoints(text, "d.csv")
    if (Result.isFailure(r)) throw new Error(r.failure.message)
    expect(r.success.energy[4]).toBe(4)
    expect([r.success.points[8], r.success.points[9]]).toEqual([12, 8])
  })

  it("a target file groups its rows by β (the header may say β), in file order", () => {
    const text = csv("β,x1,x2", 50, (i) => `${i % 2 === 0 ? 0 : 3},${i},${-i}`)
    const r = PointsCsv.parseTargets(text, "t.csv", [0, 1, 3])
    if (Result.isFailure(r)) throw new Error(r.failure.message)
    expect([...r.success.keys()]).toEqual([0, 3])
    expect(Array.from(r.success.get(3)!.points.slice(0, 4))).toEqual([1, -1, 3, -3])
    expect(r.success.get(3)!.firstLine).toBe(3)
    expect(r.success.get(0)!.points.length).toBe(50)
  })
})

describe("PointsCsv bad input: the file, the line and the column", () => {
  it("a missing column: the header line and the column, with what the header has", () => {
    const e = pointsError(csv("x1,x2,energy", 30, good))
    expect(e.reason._tag).toBe("MissingColumn")
    expect([e.path, e.line, e.column]).toEqual(["d.csv", 1, "e"])
    expect(e.message).toBe(`d.csv line 1, column "e": no column "e" in the header (found: "x1", "x2", "energy")`)
  })

  it("a field that is not a number: its line and column, quoting it", () => {
    const e = pointsError(csv("x1,x2,e", 30, (i) => (i === 6 ? "0.5,abc,1" : good(i))))
    expect(e.reason._tag).toBe("BadValue")
    expect([e.line, e.column]).toEqual([8, "x2"])
    expect(e.message).toBe(`d.csv line 8, column "x2": "abc" is not a number`)
  })

  it("an empty field and a hexadecimal one are not numbers", () => {
    expect(pointsError(csv("x1,x2,e", 30, (i) => (i === 0 ? ",1,1" : good(i)))).message).toBe(`d.csv line 2, column "x1": "" is not a number`)
    expect(pointsError(csv("x1,x2,e", 30, (i) => (i === 0 ? "0x10,1,1" : good(i)))).column).toBe("x1")
  })

  it("a non-finite value (NaN, inf, an overflowing numeral): its line and column", () => {
    for (const bad of ["NaN", "-inf", "Infinity", "1e999"]) {
      const e = pointsError(csv("x1,x2,e", 30, (i) => (i === 11 ? `1,2,${bad}` : good(i))))
      expect(e.reason._tag).toBe("BadValue")
      expect(e.message).toBe(`d.csv line 13, column "e": "${bad}" is not finite`)
    }
  })

  it("a row with another number of fields than the header: its line", () => {
    const e = pointsError(csv("x1,x2,e", 30, (i) => (i === 2 ? "1,2" : good(i))))
    expect(e.reason._tag).toBe("FieldCount")
    expect(e.line).toBe(4)
    expect(e.message).toBe("d.csv line 4: 2 fields, the header has 3")
  })

  it("fewer rows than the minimum: the count and the minimum", () => {
    const e = pointsError(csv("x1,x2,e", PointsCsv.MIN_ROWS - 1, good))
    expect(e.reason._tag).toBe("TooFewRows")
    expect(e.message).toBe(`d.csv: ${PointsCsv.MIN_ROWS - 1} rows, at least ${PointsCsv.MIN_ROWS} needed`)
    expect(Result.isSuccess(PointsCsv.parsePoints(csv("x1,x2,e", PointsCsv.MIN_ROWS, good), "d.csv"))).toBe(true)
    expect(pointsError("").reason._tag).toBe("MissingColumn")
  })

  it("a target β not in the run's grid: the line of its first row, the column beta, and the grid", () => {
    const e = targetsError(csv("x1,x2,beta", 60, (i) => `${i},${i},${i < 40 ? 3 : 2}`), [0, 1, 3, 10])
    expect(e.reason._tag).toBe("BetaNotInGrid")
    expect([e.line, e.column]).toEqual([42, "beta"])
    expect(e.message).toBe(`t.csv line 42, column "beta": β = 2 is not in the run's β grid (0, 1, 3, 10): add it with --betas, or drop its rows`)
  })

  it("a target β with too few rows: the line of its first row", () => {
    const e = targetsError(csv("x1,x2,beta", 45, (i) => `${i},${i},${i < 40 ? 3 : 1}`), [0, 1, 3])
    expect(e.reason._tag).toBe("TooFewRows")
    expect(e.line).toBe(42)
    expect(e.message).toBe(`t.csv line 42, column "beta": 5 rows for β = 1, at least ${PointsCsv.MIN_ROWS} needed`)
  })

  it.effect("a missing file: NotFound naming the path", () =>
    Effect.gen(function*() {
      const path = join(dir, "nope.csv")
      const e = yield* Effect.flip(PointsCsv.readPoints(path))
      expect(e.reason._tag).toBe("NotFound")
      expect(e.message).toBe(`${path}: no such file`)
    }))

  it.effect("readTargets reads a file and checks it against the grid", () =>
    Effect.gen(function*() {
      const path = join(dir, "target.csv")
      writeFileSync(path, csv("x1,x2,beta", 30, (i) => `${i},0,10`))
      expect((yield* PointsCsv.readTargets(path, [0, 10])).get(10)!.points.length).toBe(60)
      const e = yield* Effect.flip(PointsCsv.readTargets(path, [0, 3]))
      expect(e.message).toContain(`${path} line 2, column "beta": β = 10 is not in the run's β grid (0, 3)`)
    }))
})
