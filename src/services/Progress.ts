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

export class Progress extends Context.Service<Progress, {
  readonly start: (label: string, total: number) => Effect.Effect<Tracker>
}>()("dgrl/services/Progress") {
  static readonly layerWith = (intervalMs: number) =>
    Layer.succeed(Progress, Progress.of({
      start: (label, total) =>
        Effect.gen(function*() {
          const started = yield* Clock.currentTimeMillis
          let lastPrinted = -Infinity
          return {
            update: (done, values = {}) =>
              Effect.gen(function*() {
                const now = yield* Clock.currentTimeMillis
                if (done !== total && done !== 1 && now - lastPrinted < intervalMs) return
                lastPrinted = now
                const elapsed = Math.max(now - started, 1) / 1000
                const rate = done / elapsed
                const shown = Object.entries(values).map(([k, v]) => `${k} ${formatValue(v)}`).join("  ")
                yield* Console.log(
                  `${label} ${done}/${total}  ${shown}  ${rate.toFixed(rate < 10 ? 2 : 1)}/s  elapsed ${formatDuration(elapsed)}  eta ${formatDuration((total - done) / rate)}`
                )
              })
          }
        })
    }))

  static readonly layer = Progress.layerWith(2000)
  static readonly layerSilent = Layer.succeed(Progress, Progress.of({
    start: () => Effect.succeed({ update: () => Effect.void })
  }))
}
