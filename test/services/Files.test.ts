import { assert, describe, it } from "@effect/vitest"
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { FileError, readJson, writeJsonAtomically, writeTextAtomically } from "../../src/services/Files.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "dgrl-files-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const Nested = Schema.Struct({
  name: Schema.String,
  parts: Schema.Array(Schema.Struct({ seed: Schema.Int, weight: Schema.Finite }))
})

describe("Files", () => {
  it.effect("writes text and JSON atomically, creating directories and replacing the old file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = join(dir, "a", "b", "out.json")
      yield* writeTextAtomically(path, "old")
      yield* writeJsonAtomically(path, { name: "x", parts: [{ seed: 1, weight: 0.5 }] })
      assert.strictEqual(yield* Effect.promise(() => readFile(path, "utf8")), `{\n  "name": "x",\n  "parts": [\n    {\n      "seed": 1,\n      "weight": 0.5\n    }\n  ]\n}\n`)
      assert.deepStrictEqual(yield* Effect.promise(() => readdir(join(dir, "a", "b"))), ["out.json"])
      assert.deepStrictEqual(yield* readJson(path, Nested), { name: "x", parts: [{ seed: 1, weight: 0.5 }] })
    }))

  it.effect("a failed rename leaves the target and no temp file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = join(dir, "occupied")
      yield* Effect.promise(() => mkdir(path))
      const error = yield* Effect.flip(writeTextAtomically(path, "new"))
      assert.instanceOf(error, FileError)
      assert.strictEqual(error.path, path)
      assert.strictEqual(error.reason._tag, "Io")
      assert.include(error.message, "cannot rename")
      assert.deepStrictEqual(yield* Effect.promise(() => readdir(dir)), ["occupied"])
    }))

  describe("readJson", () => {
    const read = (dir: string, text: string | undefined) =>
      Effect.gen(function*() {
        const path = join(dir, "file.json")
        if (text !== undefined) yield* Effect.promise(() => writeFile(path, text))
        const error = yield* Effect.flip(readJson(path, Nested))
        assert.instanceOf(error, FileError)
        assert.strictEqual(error.path, path)
        assert.include(error.message, path)
        return error.reason
      })

    it.effect("a missing file is NotFound", () =>
      Effect.gen(function*() {
        const reason = yield* read(yield* tempDir, undefined)
        assert.strictEqual(reason._tag, "NotFound")
      }))

    it.effect("text that is not JSON is Malformed at the top level", () =>
      Effect.gen(function*() {
        const reason = yield* read(yield* tempDir, `{"name": "x", "parts": [`)
        assert.deepInclude(reason, { _tag: "Malformed", field: "" })
      }))

    it.effect("a wrong, missing or nested bad field is Malformed naming the field", () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const cases: ReadonlyArray<readonly [string, string]> = [
          [`{"name": 3, "parts": []}`, "name"],
          [`{"parts": []}`, "name"],
          [`{"name": "x", "parts": [{"seed": 1, "weight": 1}, {"seed": 2.5, "weight": 1}]}`, "parts[1].seed"],
          [`{"name": "x", "parts": [{"seed": 1, "weight": "heavy"}]}`, "parts[0].weight"]
        ]
        for (const [text, field] of cases) {
          const reason = yield* read(dir, text)
          assert.strictEqual(reason._tag, "Malformed", text)
          if (reason._tag !== "Malformed") continue
          assert.strictEqual(reason.field, field, text)
          assert.include(reason.message, field)
        }
      }))
  })
})
