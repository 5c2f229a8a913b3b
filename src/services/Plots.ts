/**
 * Writes a figure as `<path>.svg` plus a `<path>.png` rendered by resvg (zoom 2, white background, system DejaVu
 * fonts). Each file goes to a temp file in the target's directory first and is renamed over the target.
 */
import { randomBytes } from "node:crypto"
import { mkdir, rename, rm, writeFile } from "node:fs/promises"
import { dirname } from "node:path"
import { renderAsync } from "@resvg/resvg-js"
import { Context, Effect, Layer, Schema } from "effect"

/** A failed plot write for `path` (without extension); `reason` names the step and file that failed. */
export class PlotError extends Schema.TaggedError<PlotError>()("PlotError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `plot ${this.path}: ${this.reason}`
  }
}

/** The files a plot was written to. */
export interface PlotFiles {
  readonly svg: string
  readonly png: string
}

/** Writes SVG figures and their PNG renderings to the local file system. */
export class Plots extends Context.Service<Plots, {
  /** Writes `<path>.svg` and `<path>.png` atomically, creating the directory; the PNG is rendered first. */
  readonly write: (path: string, svg: string) => Effect.Effect<PlotFiles, PlotError>
}>()("dgrl/services/Plots") {
  static readonly layer: Layer.Layer<Plots> = Layer.sync(Plots, () => {
    const write = Effect.fn("Plots.write")(function*(path: string, svg: string) {
      const files = { svg: `${path}.svg`, png: `${path}.png` }
      const rendered = yield* attempt(`cannot render ${files.png}`, () =>
        renderAsync(svg, {
          fitTo: { mode: "zoom", value: 2 },
          background: "white",
          font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" }
        }))
      const png = rendered.asPng()
      const directory = dirname(path)
      yield* attempt(`cannot create directory ${directory}`, () => mkdir(directory, { recursive: true }))
      yield* writeAtomically(files.svg, svg)
      yield* writeAtomically(files.png, png)
      return files
    }, (effect, path) => Effect.mapError(effect, (reason) => new PlotError({ path, reason })))
    return Plots.of({ write })
  })
}

// internal

/** Runs `run`; a rejection becomes a reason string: `what`, then the cause's message. */
const attempt = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, string> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => `${what}: ${cause instanceof Error ? cause.message : String(cause)}`
  })

const writeAtomically = (file: string, data: string | Uint8Array): Effect.Effect<void, string> => {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`
  return attempt(`cannot write ${file}`, () => writeFile(temp, data)).pipe(
    Effect.andThen(attempt(`cannot rename ${temp} to ${file}`, () => rename(temp, file))),
    Effect.onError(() => Effect.ignore(attempt("", () => rm(temp, { force: true }))))
  )
}
