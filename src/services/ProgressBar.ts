/**
 * The Progress service drawn as a bar: `label [██████░░░░░░]  50%  1000/2000  loss 0.41  eta 12s`. In a terminal the
 * line is redrawn in place and ends with a newline at the last step; elsewhere (CI logs, pipes) it is printed as a
 * new line at most every `intervalMs`, and always at the first and last step, like `Progress.layer`.
 */
import { Clock, Console, Effect, Layer } from "effect"
import { Progress } from "./Progress.ts"

const WIDTH = 24
/** A terminal's bar is redrawn at most this often. */
const TTY_INTERVAL_MS = 100

/** The bar of `done` out of `total` steps, `width` cells wide (eighths of a cell for the partial one). */
export const bar = (done: number, total: number, width = WIDTH): string => {
  const fraction = total <= 0 ? 1 : Math.min(1, Math.max(0, done / total))
  const eighths = Math.round(fraction * width * 8)
  const full = Math.floor(eighths / 8)
  const partial = eighths % 8
  const partials = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
  return "█".repeat(full) + partials[partial] + "░".repeat(width - full - (partial > 0 ? 1 : 0))
}

const formatSeconds = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "?"
  const s = Math.round(seconds)
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`
}

const formatValue = (v: number | string): string =>
  typeof v === "string" ? v : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(4)

/** One progress line (no newline); the time left counts the rate of the steps done since `from` (a resumed run's start). */
export const line = (label: string, done: number, total: number, elapsedSeconds: number, values: Record<string, number | string>, from = 0): string => {
  const shown = Object.entries(values).map(([k, v]) => `  ${k} ${formatValue(v)}`).join("")
  const rate = Math.max(done - from, 0) / Math.max(elapsedSeconds, 1e-3)
  const tail = done >= total ? `  ${formatSeconds(elapsedSeconds)}` : `  eta ${formatSeconds((total - done) / rate)}`
  return `${label} [${bar(done, total)}] ${String(Math.floor((100 * done) / Math.max(total, 1))).padStart(3)}%  ${done}/${total}${shown}${tail}`
}

/** Redraws in place when `tty` (at most every 100 ms), else prints a line at most every `intervalMs`. */
export const layerWith = (options: { readonly tty: boolean; readonly intervalMs: number }) =>
  Layer.succeed(Progress, Progress.of({
    start: (label, total, from = 0) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        let lastPrinted = -Infinity
        return {
          update: (done, values = {}) =>
            Effect.gen(function*() {
              const now = yield* Clock.currentTimeMillis
              const last = done >= total
              if (!last && done !== 1 && now - lastPrinted < (options.tty ? TTY_INTERVAL_MS : options.intervalMs)) return
              lastPrinted = now
              const text = line(label, done, total, (now - started) / 1000, values, from)
              if (options.tty) yield* Effect.sync(() => process.stdout.write(`\r${text}\x1b[K${last ? "\n" : ""}`))
              else yield* Console.log(text)
            })
        }
      })
  }))

/** A bar redrawn in place on a terminal; a line every 5 s otherwise. */
export const layer = layerWith({ tty: process.stdout.isTTY === true, intervalMs: 5000 })
