import { assert, describe, layer } from "@effect/vitest"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import * as Figure from "../../src/domain/Figure.ts"
import { PlotError, Plots } from "../../src/services/Plots.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "dgrl-plots-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const pngSignature = [137, 80, 78, 71, 13, 10, 26, 10]

/** Signature check and IHDR width/height (big-endian u32 at bytes 16 and 20). */
const pngSize = (bytes: Uint8Array): { readonly width: number; readonly height: number } => {
  assert.deepStrictEqual(Array.from(bytes.subarray(0, 8)), pngSignature)
  assert.strictEqual(new TextDecoder().decode(bytes.subarray(12, 16)), "IHDR")
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { width: view.getUint32(16), height: view.getUint32(20) }
}

const chart = (title: string) =>
  Figure.lineChart({ title, width: 320, height: 200, series: [{ name: "a", x: [0, 1, 2], y: [1, 3, 2] }] })

describe("Plots", () => {
  layer(Plots.layer)((it) => {
    it.effect("writes the SVG as given and a PNG at twice its size, creating directories", () =>
      Effect.gen(function*() {
        const plots = yield* Plots
        const dir = yield* tempDir
        const path = join(dir, "runs", "a", "curve")
        const svg = chart("first")
        const files = yield* plots.write(path, svg)
        assert.deepStrictEqual(files, { svg: `${path}.svg`, png: `${path}.png` })
        assert.strictEqual(yield* Effect.promise(() => readFile(files.svg, "utf8")), svg)
        const png = yield* Effect.promise(() => readFile(files.png))
        assert.deepStrictEqual(pngSize(png), { width: 640, height: 400 })
        assert.deepStrictEqual((yield* Effect.promise(() => readdir(join(dir, "runs", "a")))).sort(), ["curve.png", "curve.svg"])
      }))

    it.effect("replaces an existing plot", () =>
      Effect.gen(function*() {
        const plots = yield* Plots
        const dir = yield* tempDir
        const path = join(dir, "bars")
        yield* plots.write(path, chart("old"))
        const next = Figure.barChart({ groups: ["x", "y"], series: [{ name: "s", values: [1, 2] }], width: 250, height: 150 })
        const files = yield* plots.write(path, next)
        assert.strictEqual(yield* Effect.promise(() => readFile(files.svg, "utf8")), next)
        assert.deepStrictEqual(pngSize(yield* Effect.promise(() => readFile(files.png))), { width: 500, height: 300 })
        assert.deepStrictEqual((yield* Effect.promise(() => readdir(dir))).sort(), ["bars.png", "bars.svg"])
      }))

    it.effect("fails with PlotError naming the path when the parent is a regular file", () =>
      Effect.gen(function*() {
        const plots = yield* Plots
        const dir = yield* tempDir
        const blocker = join(dir, "blocker")
        yield* Effect.promise(() => writeFile(blocker, "not a directory"))
        const path = join(blocker, "sub", "figure")
        const error = yield* Effect.flip(plots.write(path, chart("blocked")))
        assert.instanceOf(error, PlotError)
        assert.strictEqual(error._tag, "PlotError")
        assert.strictEqual(error.path, path)
        assert.include(error.message, path)
        assert.include(error.reason, `cannot create directory ${join(blocker, "sub")}`)
        assert.include(error.reason, "ENOTDIR")
        assert.deepStrictEqual(yield* Effect.promise(() => readdir(dir)), ["blocker"])
      }))

    it.effect("fails with PlotError before writing anything when the SVG cannot be rendered", () =>
      Effect.gen(function*() {
        const plots = yield* Plots
        const dir = yield* tempDir
        const path = join(dir, "broken")
        const error = yield* Effect.flip(plots.write(path, "<svg"))
        assert.strictEqual(error.path, path)
        assert.include(error.reason, `cannot render ${path}.png`)
        assert.deepStrictEqual(yield* Effect.promise(() => readdir(dir)), [])
      }))
  })
})
