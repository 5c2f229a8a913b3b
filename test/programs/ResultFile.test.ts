/** Result files: one Schema for what `evaluate` writes and what `Results` and a resumed `evaluate` read back. */
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { describe, expect } from "vitest"
import * as ResultFile from "../../src/programs/ResultFile.ts"
import * as Results from "../../src/programs/Results.ts"
import { FileError } from "../../src/services/Files.ts"

const result: ResultFile.OfflineResult = {
  task: "hopper-medium-v2", method: "swg", seed: 2, normalizedScore: 51.5, returnMean: 1650.25, episodes: 10, guidanceScale: 5
}

describe("ResultFile", () => {
  it.effect("round-trips a result under <task>/<method>[-rho<ρ>]-seed<k>.json", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "results-")))
      expect(ResultFile.pathOf(dir, "t", "swg", 1)).toBe(`${dir}/t/swg-seed1.json`)
      const path = ResultFile.pathOf(dir, result.task, result.method, result.seed, 5)
      expect(path).toBe(`${dir}/hopper-medium-v2/swg-rho5-seed2.json`)
      yield* ResultFile.write(path, result)
      expect(yield* ResultFile.read(path)).toEqual(result)
      expect(yield* ResultFile.readIfExists(join(dir, "none.json"))).toBeUndefined()
      const { normalizedScore: _, ...unscored } = result
      yield* ResultFile.write(path, { ...unscored, normalizedScore: null })
      expect((yield* ResultFile.read(path)).normalizedScore).toBeNull()
    }))

  it.effect("a corrupted result file is a typed error naming the file and the field, in evaluate and Results alike", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "results-")))
      const path = ResultFile.pathOf(dir, "maze2d-umaze-v1", "iql", 0)
      yield* ResultFile.write(ResultFile.pathOf(dir, "maze2d-umaze-v1", "swg", 0), { ...result, task: "maze2d-umaze-v1" })
      yield* Effect.promise(() => writeFile(path, JSON.stringify({ ...result, returnMean: "1650.25" })))
      const reads: ReadonlyArray<Effect.Effect<unknown, FileError>> = [ResultFile.readIfExists(path), Results.collect(dir)]
      for (const read of reads) {
        const error = yield* Effect.flip(read)
        expect(error).toBeInstanceOf(FileError)
        expect(error).toMatchObject({ path, reason: { _tag: "Malformed", field: "returnMean" } })
        expect(error.message).toContain(path)
        expect(error.message).toContain("returnMean")
      }
      yield* Effect.promise(() => writeFile(path, `{"task": "maze2d-umaze-v1", "method": "iql", "seed": 0, "normalizedScore": 3`))
      expect(yield* Effect.flip(ResultFile.read(path))).toMatchObject({ path, reason: { _tag: "Malformed", field: "" } })
    }))
})
