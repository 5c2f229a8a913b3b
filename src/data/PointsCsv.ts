/**
 * 2-D points from CSV files, for the toy program's own data (`toy --data`, `toy --target`): a labelled data file
 * (columns x1, x2, e: a point and its energy, high is better) and a target file (columns x1, x2, beta: exact
 * samples of p(x)·exp(β·e(x))/Z for one or more β). A header line names the columns, in any order; other columns
 * are ignored; blank lines are skipped; fields are plain decimal numbers separated by commas (no quoting).
 * Each row is decoded with a Schema, and every failure is a `PointsCsvError` naming the file, the line and the
 * column. Written files use JavaScript's shortest round-trip form of each number, so a read gives back the same
 * float64 values.
 */
import { readFile } from "node:fs/promises"
import { Effect, Result, Schema, SchemaIssue, SchemaTransformation } from "effect"
import type { ToySample } from "../domain/ToyData.ts"
import { attempt, Io, NotFound, writeAtomically } from "../services/Files.ts"

/** Fewest rows a data file, and each β of a target file, must hold (the target's two halves give its noise). */
export const MIN_ROWS = 20

/** A required column is not in the header. */
export class MissingColumn extends Schema.TaggedError<MissingColumn>()("MissingColumn", {
  column: Schema.String,
  header: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `no column "${this.column}" in the header (found: ${this.header.map((h) => `"${h}"`).join(", ")})`
  }
}

/** A field is not a finite decimal number; `detail` says which ("not a number" or "not finite"). */
export class BadValue extends Schema.TaggedError<BadValue>()("BadValue", {
  text: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `"${this.text}" is ${this.detail}`
  }
}

/** A row has another number of fields than the header. */
export class FieldCount extends Schema.TaggedError<FieldCount>()("FieldCount", {
  expected: Schema.Number,
  actual: Schema.Number
}) {
  override get message(): string {
    return `${this.actual} fields, the header has ${this.expected}`
  }
}

/** Fewer rows than `minimum` (in all, or for one β of a target file). */
export class TooFewRows extends Schema.TaggedError<TooFewRows>()("TooFewRows", {
  rows: Schema.Number,
  minimum: Schema.Number,
  beta: Schema.optionalKey(Schema.Number)
}) {
  override get message(): string {
    return `${this.rows} rows${this.beta === undefined ? "" : ` for β = ${this.beta}`}, at least ${this.minimum} needed`
  }
}

/** A target file's β is not one the run is conditioned on (its model could not be sampled there). */
export class BetaNotInGrid extends Schema.TaggedError<BetaNotInGrid>()("BetaNotInGrid", {
  beta: Schema.Number,
  grid: Schema.Array(Schema.Number)
}) {
  override get message(): string {
    return `β = ${this.beta} is not in the run's β grid (${this.grid.join(", ")}): add it with --betas, or drop its rows`
  }
}

/** What is wrong with a CSV file's contents. */
export const PointsCsvIssue = Schema.Union([MissingColumn, BadValue, FieldCount, TooFewRows, BetaNotInGrid])
export type PointsCsvIssue = typeof PointsCsvIssue.Type

/** A failed read or write of the CSV file at `path`; `line` (1-based, the header is line 1 of a file without blanks) and `column` where known. */
export class PointsCsvError extends Schema.TaggedError<PointsCsvError>()("PointsCsvError", {
  path: Schema.String,
  line: Schema.optionalKey(Schema.Number),
  column: Schema.optionalKey(Schema.String),
  reason: Schema.Union([NotFound, Io, PointsCsvIssue])
}) {
  override get message(): string {
    const line = this.line === undefined ? "" : ` line ${this.line}`
    const column = this.column === undefined ? "" : `${line === "" ? "" : ","} column "${this.column}"`
    return `${this.path}${line}${column}: ${this.reason.message}`
  }
}

/** Where a target file's rows for one β sit: their points [n, 2] and the line of the first. */
export interface TargetSamples {
  readonly points: Float64Array
  readonly firstLine: number
}

// ---- row schemas ----------------------------------------------------------------------------------------------

const NUMERAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/
const NON_FINITE = /^[+-]?(nan|inf|infinity)$/i

/** A CSV field holding a finite decimal number: "1.5", "-2e-3"; "", "abc", "0x10" are not numbers, "NaN", "inf", "1e999" not finite. */
export const CsvNumber = Schema.String.check(
  Schema.makeFilter((s: string) => (NUMERAL.test(s) || NON_FINITE.test(s) ? undefined : "not a number"))
).pipe(
  Schema.decodeTo(
    Schema.Number.check(Schema.makeFilter((x: number) => (Number.isFinite(x) ? undefined : "not finite"))),
    SchemaTransformation.numberFromString
  )
)

/** A row of a data file: a point and its energy e(x). */
export const PointRow = Schema.Struct({ x1: CsvNumber, x2: CsvNumber, e: CsvNumber })

/** A row of a target file: an exact sample of p(x)·exp(β·e(x))/Z and its β. */
export const TargetRow = Schema.Struct({ x1: CsvNumber, x2: CsvNumber, beta: CsvNumber })

/** Header names read as a column: `β` is `beta`. */
const ALIASES: Readonly<Record<string, string>> = { "β": "beta" }

// ---- parsing --------------------------------------------------------------------------------------------------

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1()

const unquote = (field: string): string => {
  const t = field.trim()
  return t.length >= 2 && t.startsWith("\"") && t.endsWith("\"") ? t.slice(1, -1).trim() : t
}

type Fail = (issue: PointsCsvIssue, line?: number, column?: string) => PointsCsvError

const failAt = (path: string): Fail => (reason, line, column) =>
  new PointsCsvError({ path, reason, ...(line === undefined ? {} : { line }), ...(column === undefined ? {} : { column }) })

/**
 * The rows of `text` decoded with `schema` (a struct of CSV fields named by `columns`), each with its line number,
 * or the first failure: a missing column (at the header), a row of the wrong width, a field the schema rejects.
 */
const parseRows = <S extends Schema.Codec<Record<string, number>, Record<string, string>, never, never>>(
  text: string,
  columns: ReadonlyArray<string>,
  schema: S,
  fail: Fail
): Result.Result<Array<{ readonly row: S["Type"]; readonly line: number }>, PointsCsvError> => {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/)
  const headerIndex = lines.findIndex((l) => l.trim() !== "")
  const header = headerIndex < 0 ? [] : lines[headerIndex].split(",").map(unquote)
  const names = header.map((h) => ALIASES[h] ?? h)
  const index: Record<string, number> = {}
  for (const column of columns) {
    const i = names.indexOf(column)
    if (i < 0) return Result.fail(fail(new MissingColumn({ column, header }), headerIndex + 1, column))
    index[column] = i
  }
  const decode = Schema.decodeUnknownExit(schema)
  const rows: Array<{ row: S["Type"]; line: number }> = []
  for (let l = headerIndex + 1; l < lines.length; l++) {
    if (lines[l].trim() === "") continue
    const fields = lines[l].split(",")
    if (fields.length !== header.length) return Result.fail(fail(new FieldCount({ expected: header.length, actual: fields.length }), l + 1))
    const record: Record<string, string> = {}
    for (const column of columns) record[column] = fields[index[column]].trim()
    const decoded = decode(record)
    if (decoded._tag === "Success") {
      rows.push({ row: decoded.value, line: l + 1 })
      continue
    }
    const error = decoded.cause.reasons.find((r) => r._tag === "Fail")?.error
    const [first] = Schema.isSchemaError(error) ? standardIssues(error.issue).issues : []
    const column = String(first?.path?.[0] ?? columns[0])
    return Result.fail(fail(new BadValue({ text: record[column] ?? "", detail: first?.message ?? "not a number" }), l + 1, column))
  }
  return Result.succeed(rows)
}

/** A data file's text as a toy sample (`points` [n, 2], `energy` [n]), in file order; `path` names the file in errors. */
export const parsePoints = (text: string, path: string): Result.Result<ToySample, PointsCsvError> => {
  const fail = failAt(path)
  return Result.flatMap(parseRows(text, ["x1", "x2", "e"], PointRow, fail), (rows) => {
    if (rows.length < MIN_ROWS) return Result.fail(fail(new TooFewRows({ rows: rows.length, minimum: MIN_ROWS })))
    const points = new Float64Array(2 * rows.length)
    const energy = new Float64Array(rows.length)
    rows.forEach(({ row }, i) => {
      points[2 * i] = row.x1
      points[2 * i + 1] = row.x2
      energy[i] = row.e
    })
    return Result.succeed({ points, energy })
  })
}

/**
 * A target file's text as exact samples per β (points [n_β, 2] in file order). Every β must be in `grid` (the
 * run's β grid) and hold at least `MIN_ROWS` rows; β values of the grid the file lacks are simply absent.
 */
export const parseTargets = (
  text: string,
  path: string,
  grid: ReadonlyArray<number>
): Result.Result<ReadonlyMap<number, TargetSamples>, PointsCsvError> => {
  const fail = failAt(path)
  return Result.flatMap(parseRows(text, ["x1", "x2", "beta"], TargetRow, fail), (rows) => {
    const byBeta = new Map<number, { values: Array<number>; firstLine: number }>()
    for (const { line, row } of rows) {
      if (!grid.includes(row.beta)) return Result.fail(fail(new BetaNotInGrid({ beta: row.beta, grid: [...grid] }), line, "beta"))
      const entry = byBeta.get(row.beta) ?? { values: [], firstLine: line }
      entry.values.push(row.x1, row.x2)
      byBeta.set(row.beta, entry)
    }
    if (byBeta.size === 0) return Result.fail(fail(new TooFewRows({ rows: 0, minimum: MIN_ROWS })))
    const out = new Map<number, TargetSamples>()
    for (const [beta, { firstLine, values }] of byBeta) {
      if (values.length / 2 < MIN_ROWS) {
        return Result.fail(fail(new TooFewRows({ rows: values.length / 2, minimum: MIN_ROWS, beta }), firstLine, "beta"))
      }
      out.set(beta, { points: Float64Array.from(values), firstLine })
    }
    return Result.succeed(out)
  })
}

/** A toy sample as a data file's text: header `x1,x2,e`, one row per point, numbers in round-trip form. */
export const formatPoints = (sample: ToySample): string => {
  const lines = ["x1,x2,e"]
  for (let i = 0; i < sample.energy.length; i++) lines.push(`${sample.points[2 * i]},${sample.points[2 * i + 1]},${sample.energy[i]}`)
  return lines.join("\n") + "\n"
}

/** Exact samples per β (`points` [n, 2] each) as a target file's text: header `x1,x2,beta`. */
export const formatTargets = (targets: ReadonlyArray<{ readonly beta: number; readonly points: Float64Array }>): string => {
  const lines = ["x1,x2,beta"]
  for (const { beta, points } of targets) for (let i = 0; i < points.length; i += 2) lines.push(`${points[i]},${points[i + 1]},${beta}`)
  return lines.join("\n") + "\n"
}

// ---- files ----------------------------------------------------------------------------------------------------

const readText = (path: string): Effect.Effect<string, PointsCsvError> =>
  attempt(`cannot read ${path}`, () => readFile(path, "utf8")).pipe(Effect.mapError((reason) => new PointsCsvError({ path, reason })))

/** Reads and validates the data file at `path` (see `parsePoints`). */
export const readPoints = (path: string): Effect.Effect<ToySample, PointsCsvError> =>
  Effect.flatMap(readText(path), (text) => Effect.fromResult(parsePoints(text, path)))

/** Reads and validates the target file at `path` against the run's β grid (see `parseTargets`). */
export const readTargets = (path: string, grid: ReadonlyArray<number>): Effect.Effect<ReadonlyMap<number, TargetSamples>, PointsCsvError> =>
  Effect.flatMap(readText(path), (text) => Effect.fromResult(parseTargets(text, path, grid)))

/** Writes `sample` as a data file at `path`, atomically. */
export const writePoints = (path: string, sample: ToySample): Effect.Effect<void, PointsCsvError> =>
  writeAtomically(path, formatPoints(sample)).pipe(Effect.mapError((reason: NotFound | Io) => new PointsCsvError({ path, reason })))
