/**
 * Every writer of the library (result files, plots, checkpoints, datasets) replaces its target the same way: the
 * temp file is fsynced before it is renamed over the target, and the directory is fsynced after. The file system
 * calls are observed through a wrapped `node:fs/promises` (this file's own module mock).
 */
import { assert, describe, it } from "@effect/vitest"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import { vi } from "vitest"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import * as Figure from "../../src/domain/Figure.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { writeJsonAtomically } from "../../src/services/Files.ts"
import { Plots } from "../../src/services/Plots.ts"

const events: Array<string> = []

vi.mock("node:fs/promises", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs/promises")>()
  return {
    ...fs,
    open: async (path: string, flags?: string) => {
      const handle = await fs.open(path, flags)
      const sync = handle.sync.bind(handle)
      handle.sync = async () => {
        await sync()
        events.push(`sync ${path}`)
      }
      return handle
    },
    rename: async (from: string, to: string) => {
      await fs.rename(from, to)
      events.push(`rename ${from} -> ${to}`)
    }
  }
})

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "dgrl-atomic-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** The events of one atomic replace of `target`: sync temp, rename temp over target, sync directory. */
const assertReplaced = (target: string): void => {
  const renamed = events.findIndex((e) => e.startsWith("rename ") && e.endsWith(` -> ${target}`))
  assert.isAtLeast(renamed, 0, `${target} was renamed into place`)
  const temp = events[renamed].slice("rename ".length, -` -> ${target}`.length)
  assert.isTrue(temp.startsWith(`${target}.tmp-`), `${target}: written through a temp file beside it, got ${temp}`)
  assert.include(events.slice(0, renamed), `sync ${temp}`, `${target}: temp file fsynced before the rename`)
  assert.include(events.slice(renamed + 1), `sync ${dirname(target)}`, `${target}: directory fsynced after the rename`)
}

const dataset = (): OfflineDataset.OfflineDataset =>
  OfflineDataset.make({
    observationDim: 2,
    actionDim: 1,
    observations: Float32Array.from([0, 1, 2, 3]),
    actions: Float32Array.from([0.5, -0.5]),
    rewards: Float32Array.from([1, 0]),
    terminals: Uint8Array.from([0, 1]),
    timeouts: Uint8Array.from([0, 0])
  })

describe("atomic writes", () => {
  it.effect("result files, plots, checkpoints and datasets fsync the temp file and the directory", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      events.length = 0
      const json = join(dir, "results", "r.json")
      yield* writeJsonAtomically(json, { ok: true })
      assertReplaced(json)

      const plot = join(dir, "plots", "figure")
      yield* (yield* Plots).write(plot, Figure.barChart({ groups: ["a"], series: [{ name: "s", values: [1] }] }))
      assertReplaced(`${plot}.svg`)
      assertReplaced(`${plot}.png`)

      const checkpoint = join(dir, "runs", "model.safetensors")
      yield* (yield* Checkpoints).save(checkpoint, {
        header: { format: "dgrl-checkpoint/1", architecture: null, config: null, step: 0, rng: { seed: 0, counter: 0 }, createdBy: "test" },
        tensors: [{ name: "w", shape: [1], data: Float32Array.from([1]) }]
      })
      assertReplaced(checkpoint)

      const hdf5 = join(dir, "data", "d.hdf5")
      yield* (yield* DatasetStore).write(hdf5, dataset())
      assertReplaced(hdf5)
    }).pipe(Effect.provide([Plots.layer, Checkpoints.layer, DatasetStore.layer])))
})
