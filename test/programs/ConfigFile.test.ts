/**
 * User configs are decoded strictly (a key no setting reads is an error naming it), and every preset and every
 * ablation config in the repository decodes under that rule.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { describe, expect } from "vitest"
import { BanditConfig } from "../../src/programs/Bandit.ts"
import * as ConfigFile from "../../src/programs/ConfigFile.ts"
import { OfflineConfig } from "../../src/programs/Offline.ts"
import { ToyConfig } from "../../src/programs/Toy.ts"

const repo = new URL("../..", import.meta.url).pathname
const read = (path: string): Record<string, unknown> => JSON.parse(readFileSync(join(repo, path), "utf8"))
/** What the CLI adds to an offline config from its flags. */
const offlineFlags = { task: "hopper-medium-replay-v2", dataset: "d.hdf5", runDir: "runs/x" }

describe("decodeStrict", () => {
  it.effect("a key no setting reads is UnknownConfigKey naming the file and the key's path", () =>
    Effect.gen(function*() {
      const typo = yield* Effect.flip(ConfigFile.decodeStrict(OfflineConfig, { ...offlineFlags, critic: { valueLayernorm: "hidden" } }, "my.json"))
      expect(typo).toBeInstanceOf(ConfigFile.UnknownConfigKey)
      expect(typo).toMatchObject({ file: "my.json", key: "critic.valueLayernorm" })
      expect(typo.message).toBe("config my.json: no setting reads the key critic.valueLayernorm (check its spelling, or remove it)")
      const renamed = yield* Effect.flip(ConfigFile.decodeStrict(OfflineConfig, { ...offlineFlags, qgpo: { energyLayers: 4 } }, "my.json"))
      expect(renamed).toMatchObject({ _tag: "UnknownConfigKey", key: "qgpo.energyLayers" })
      const topLevel = yield* Effect.flip(ConfigFile.decodeStrict(ToyConfig, { stepz: 3 }, "toy.json"))
      expect(topLevel).toMatchObject({ _tag: "UnknownConfigKey", key: "stepz" })
    }))

  it.effect("a bad value is still the SchemaError naming its field; a clean config decodes as the lenient decoder does", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(ConfigFile.decodeStrict(OfflineConfig, { ...offlineFlags, criticSteps: 0, critic: { valueLayernorm: "hidden" } }, "my.json"))
      expect(bad._tag).toBe("SchemaError")
      expect(bad.message).toContain("criticSteps")
      const clean = { ...offlineFlags, critic: { valueLayerNorm: "hidden" } }
      expect(yield* ConfigFile.decodeStrict(OfflineConfig, clean, "my.json")).toEqual(Schema.decodeUnknownSync(OfflineConfig)(clean))
    }))
})

describe("the repository's configs decode strictly", () => {
  const presets = readdirSync(join(repo, "presets")).filter((f) => f.endsWith(".json"))
  it("the presets are the ones this test knows", () => {
    expect(presets.sort()).toEqual(["bandit-cpu.json", "offline-cpu.json", "offline-paper.json", "toy-cpu.json", "toy-paper.json"])
  })
  for (const file of presets) {
    it.effect(`presets/${file}`, () =>
      Effect.gen(function*() {
        const raw = read(join("presets", file))
        if (file.startsWith("offline-")) yield* ConfigFile.decodeStrict(OfflineConfig, { ...raw, ...offlineFlags }, file)
        else if (file.startsWith("toy-")) yield* ConfigFile.decodeStrict(ToyConfig, raw, file)
        else yield* ConfigFile.decodeStrict(BanditConfig, raw, file)
      }))
  }
  // Every JSON config at the top of an ablation's folder (outputs: *.fit.json, results.json) is an offline --config.
  const ablations = readdirSync(join(repo, "ablations"), { withFileTypes: true }).filter((d) => d.isDirectory()).flatMap((d) =>
    readdirSync(join(repo, "ablations", d.name))
      .filter((f) => f.endsWith(".json") && !f.endsWith(".fit.json") && f !== "results.json")
      .map((f) => join("ablations", d.name, f)))
  it("finds the ablation configs", () => expect(ablations.length).toBeGreaterThanOrEqual(9))
  for (const path of ablations) {
    it.effect(path, () => Effect.asVoid(ConfigFile.decodeStrict(OfflineConfig, { ...read(path), ...offlineFlags }, path)))
  }
})
