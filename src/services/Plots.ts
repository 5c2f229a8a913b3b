/**
 * Writes a figure as `<path>.svg` plus a `<path>.png` rendered by resvg (zoom 2, white background, system DejaVu
 * fonts). Each file replaces its target atomically (`Files.writeAtomically`).
 */
import { renderAsync } from "@resvg/resvg-js"
import { Context, Effect, Layer, Schema } from "effect"
import { writeAtomically } from "./Files.ts"

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
      const rendered = yield* Effect.tryPromise({
        try: () =>
          renderAsync(svg, {
            fitTo: { mode: "zoom", value: 2 },
            background: "white",
            font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" }
          }),
        catch: (cause) => `cannot render ${files.png}: ${cause instanceof Error ? cause.message : String(cause)}`
      })
      const png = rendered.asPng()
      for (const [file, data] of [[files.svg, svg], [files.png, png]] as const) {
        yield* writeAtomically(file, data).pipe(Effect.mapError((reason) => `${file}: ${reason.message}`))
      }
      return files
    }, (effect, path) => Effect.mapError(effect, (reason) => new PlotError({ path, reason })))
    return Plots.of({ write })
  })
}
