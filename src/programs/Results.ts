/**
 * Builds the results table from a results directory (one JSON per task, method and seed, written
 * by `evaluate` over any number of sittings): mean ± standard error over seeds of the normalised
 * score, as markdown, as `results.json` (all runs) and as a bar chart; the ρ sweep as a line chart.
 */
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import * as Figure from "../domain/Figure.ts"
import * as Statistics from "../domain/Statistics.ts"
import { writeJsonAtomically, writeTextAtomically } from "../services/Files.ts"
import { Plots } from "../services/Plots.ts"
import type { OfflineResult } from "./Offline.ts"

const ResultFile = Schema.Struct({
  task: Schema.String,
  method: Schema.String,
  seed: Schema.Int,
  normalizedScore: Schema.NullOr(Schema.Finite),
  returnMean: Schema.Finite,
  episodes: Schema.Int,
  guidanceScale: Schema.optionalKey(Schema.Finite)
})

export class ResultsError extends Schema.TaggedError<ResultsError>()("ResultsError", {
  path: Schema.String,
  cause: Schema.String
}) {
  override get message(): string {
    return `results ${this.path}: ${this.cause}`
  }
}

/** Every result file under `dir` (recursively). */
export const collect = Effect.fn("Results.collect")(function*(dir: string) {
  const entries = yield* Effect.tryPromise({
    try: () => readdir(dir, { recursive: true }),
    catch: (e) => new ResultsError({ path: dir, cause: String(e) })
  })
  const results: Array<{ readonly file: string; readonly result: OfflineResult }> = []
  for (const entry of entries.filter((e) => e.endsWith(".json") && e.includes("/")).sort()) {
    const path = join(dir, entry)
    const text = yield* Effect.tryPromise({ try: () => readFile(path, "utf8"), catch: (e) => new ResultsError({ path, cause: String(e) }) })
    const result = yield* Schema.decodeUnknownEffect(Schema.fromJsonString(ResultFile))(text).pipe(
      Effect.mapError((e) => new ResultsError({ path, cause: e.message }))
    )
    results.push({ file: entry, result })
  }
  return results
})

export interface Summary {
  readonly task: string
  readonly method: string
  readonly seeds: number
  readonly mean: number
  readonly standardError: number
}

/** Mean and standard error over seeds of each (task, method); sweep files (…-rhoX-…) are excluded. */
export const summarize = (results: ReadonlyArray<{ readonly file: string; readonly result: OfflineResult }>): Array<Summary> => {
  const groups = new Map<string, Array<number>>()
  for (const { file, result } of results) {
    if (file.includes("-rho")) continue
    const value = result.normalizedScore ?? result.returnMean
    const key = `${result.task}\u0000${result.method}`
    groups.set(key, [...(groups.get(key) ?? []), value])
  }
  return [...groups.entries()].map(([key, values]) => {
    const [task, method] = key.split("\u0000")
    return { task, method, seeds: values.length, mean: Statistics.mean(values), standardError: Statistics.standardError(values) }
  })
}

/** Tasks named in `order` first, in that order, then the others alphabetically. */
const orderTasks = (tasks: ReadonlyArray<string>, order: ReadonlyArray<string>): Array<string> => {
  const rank = (t: string) => (order.includes(t) ? order.indexOf(t) : order.length)
  return [...tasks].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
}

/** Markdown: tasks as rows (`taskOrder` first), methods as columns, "mean ± s.e. (n)". */
export const table = (summaries: ReadonlyArray<Summary>, methods: ReadonlyArray<string>, taskOrder: ReadonlyArray<string> = []): string => {
  const tasks = orderTasks([...new Set(summaries.map((s) => s.task))], taskOrder)
  const cell = (task: string, method: string) => {
    const s = summaries.find((x) => x.task === task && x.method === method)
    return s === undefined ? "—" : `${s.mean.toFixed(1)} ± ${s.standardError.toFixed(1)} (${s.seeds})`
  }
  return [
    `| task | ${methods.join(" | ")} |`,
    `| --- | ${methods.map(() => "---").join(" | ")} |`,
    ...tasks.map((t) => `| ${t} | ${methods.map((m) => cell(t, m)).join(" | ")} |`)
  ].join("\n") + "\n"
}

/** One (task, ρ) of the guidance-scale sweep over seeds. */
export interface SweepSummary {
  readonly task: string
  readonly guidanceScale: number
  readonly seeds: number
  readonly mean: number
  readonly standardError: number
}

/** Mean and standard error over seeds of each (task, ρ) among the sweep files (…-rhoX-seedK.json). */
export const summarizeSweep = (results: ReadonlyArray<{ readonly file: string; readonly result: OfflineResult }>): Array<SweepSummary> => {
  const groups = new Map<string, { task: string; rho: number; values: Array<number> }>()
  for (const { file, result } of results) {
    if (!file.includes("-rho") || result.guidanceScale === undefined) continue
    const key = `${result.task}\u0000${result.guidanceScale}`
    const group = groups.get(key) ?? { task: result.task, rho: result.guidanceScale, values: [] }
    group.values.push(result.normalizedScore ?? result.returnMean)
    groups.set(key, group)
  }
  return [...groups.values()]
    .map((g) => ({ task: g.task, guidanceScale: g.rho, seeds: g.values.length, mean: Statistics.mean(g.values), standardError: Statistics.standardError(g.values) }))
    .sort((a, b) => a.task.localeCompare(b.task) || a.guidanceScale - b.guidanceScale)
}

/** Markdown: tasks as rows, guidance scales as columns, "mean ± s.e. (n)". */
export const sweepTable = (sweep: ReadonlyArray<SweepSummary>): string => {
  const rhos = [...new Set(sweep.map((s) => s.guidanceScale))].sort((a, b) => a - b)
  const tasks = [...new Set(sweep.map((s) => s.task))]
  const cell = (task: string, rho: number) => {
    const s = sweep.find((x) => x.task === task && x.guidanceScale === rho)
    return s === undefined ? "—" : `${s.mean.toFixed(1)} ± ${s.standardError.toFixed(1)} (${s.seeds})`
  }
  return [
    `| SWG, task | ${rhos.map((r) => `ρ = ${r}`).join(" | ")} |`,
    `| --- | ${rhos.map(() => "---").join(" | ")} |`,
    ...tasks.map((t) => `| ${t} | ${rhos.map((r) => cell(t, r)).join(" | ")} |`)
  ].join("\n") + "\n"
}

/** Writes results.json, results.md (scores, then the ρ sweep if any) and the plots into `dir`. */
export const build = Effect.fn("Results.build")(function*(dir: string, methods: ReadonlyArray<string>, taskOrder: ReadonlyArray<string> = []) {
  const plots = yield* Plots
  const results = yield* collect(dir)
  const summaries = summarize(results)
  const sweep = summarizeSweep(results)
  const markdown = table(summaries, methods, taskOrder) + (sweep.length === 0 ? "" : `\n${sweepTable(sweep)}`)
  yield* writeJsonAtomically(join(dir, "results.json"), results.filter((r) => !r.file.includes("-rho")).map((r) => r.result))
  yield* writeTextAtomically(join(dir, "results.md"), markdown)
  const tasks = orderTasks([...new Set(summaries.map((s) => s.task))], taskOrder)
  if (tasks.length > 0) {
    yield* plots.write(join(dir, "scores"), Figure.barChart({
      groups: tasks,
      series: methods.map((m) => ({
        name: m,
        values: tasks.map((t) => summaries.find((s) => s.task === t && s.method === m)?.mean ?? Number.NaN),
        errors: tasks.map((t) => summaries.find((s) => s.task === t && s.method === m)?.standardError ?? 0)
      })),
      title: "Normalised score (mean ± s.e. over seeds)",
      yLabel: "D4RL normalised score"
    }))
  }
  for (const task of new Set(sweep.map((s) => s.task))) {
    const mine = sweep.filter((s) => s.task === task)
    yield* plots.write(join(dir, `${task}-sweep`), Figure.lineChart({
      series: [{ name: "SWG", x: mine.map((s) => s.guidanceScale), y: mine.map((s) => s.mean), error: mine.map((s) => s.standardError) }],
      title: `${task}: guidance scale sweep (mean ± s.e. over seeds)`,
      xLabel: "guidance scale ρ",
      yLabel: "normalised score"
    }))
  }
  return { summaries, markdown }
})
