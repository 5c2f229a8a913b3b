/**
 * Progress of long work: step, rate, time left and named values (loss…), printed as one line at
 * most every `intervalMs` (and always at the first and last step), so it reads the same in a
 * terminal and in CI logs. `layerSilent` prints nothing (tests).
 */
import { Clock, Console, Context, Effect, Layer } from "effect"

export interface Tracker {
  /** Reports that `done` of `total` steps are complete, with values to show. */
  readonly update: (done: number, values?: Record<string, number | string>) => Effect.Effect<void>
}

const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "?"
  const s = Math.round(seconds)
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`
}

const formatValue = (v: number | string): string =>
  typeof v === "string" ? v : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4)

/** One progress line: the rate and time left count the steps done since `from`, over `elapsed` seconds. */
export const lineOf = (
  label: string,
  done: number,
  total: number,
  from: number,
  elapsed: number,
  values: Record<string, number | string>
): string => {
  const rate = Math.max(done - from, 0) / elapsed
  const shown = Object.entries(values).map(([k, v]) => `${k} ${formatValue(v)}`).join("  ")
  return `${label} ${done}/${total}  ${shown}  ${rate.toFixed(rate < 10 ? 2 : 1)}/s  elapsed ${formatDuration(elapsed)}  eta ${formatDuration((total - done) / rate)}`
}

export class Progress extends Context.Service<Progress, {
  /**
   * Starts tracking `total` steps. `from` is where a resumed run picks up: the rate and time left count only the
   * steps done since then (a run resumed at 14 000 of 20 000 would otherwise claim 14 000 steps in its first seconds).
   */
  readonly start: (label: string, total: number, from?: number) => Effect.Effect<Tracker>
}>()("dgrl/services/Progress") {
  static readonly layerWith = (intervalMs: number) =>
    Layer.succeed(Progress, Progress.of({
      start: (label, total, from = 0) =>
        Effect.gen(function*() {
          const started = yield* Clock.currentTimeMillis
          let lastPrinted = -Infinity
          return {
            update: (done, values = {}) =>
              Effect.gen(function*() {
                const now = yield* Clock.currentTimeMillis
                if (done !== total && done !== 1 && now - lastPrinted < intervalMs) return
                lastPrinted = now
                yield* Console.log(lineOf(label, done, total, from, Math.max(now - started, 1) / 1000, values))
              })
          }
        })
    }))

  static readonly layer = Progress.layerWith(2000)
  static readonly layerSilent = Layer.succeed(Progress, Progress.of({
    start: () => Effect.succeed({ update: () => Effect.void })
  }))
}
