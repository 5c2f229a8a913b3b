/**
 * The toy program on a dataset given as files (`toy --data FILE.csv [--target FILE.csv]`): the file's points and
 * energies reach training exactly as the built-in generator's do (a CSV round trip trains the same parameters, bit
 * for bit; swapped columns or ignored energies would not), each β is measured against the right reference, and a
 * tiny run writes the same outputs as a built-in dataset, its rows labelled with their reference.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { describe, expect } from "vitest"
import * as PointsCsv from "../../src/data/PointsCsv.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as ToyData from "../../src/domain/ToyData.ts"
import * as Toy from "../../src/programs/Toy.ts"
import * as ToySource from "../../src/programs/ToySource.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { Plots } from "../../src/services/Plots.ts"
import { Progress } from "../../src/services/Progress.ts"

const layers = Layer.mergeAll(Backend.layerCpu, Checkpoints.layer, Plots.layer, Progress.layerSilent)

const tiny = (outDir: string) =>
  Schema.decodeUnknownEffect(Toy.ToyConfig)({
    datasets: ["8gaussians"], dataSize: 300, betas: [0, 3], hidden: 16, layers: 2, diffusionSteps: 10, steps: 4, batch: 32,
    samples: 64, projections: 8, sweepScales: [0], qgpoSweepScales: [], qgpoGroups: 2, sweepBeta: 3, logEvery: 2, outDir
  })

/** The trained parameters of `source` under `c`. */
const trainedParams = (c: Toy.ToyConfig, source: ToySource.ToySource) =>
  Effect.gen(function*() {
    const backend = yield* Backend
    const trained = yield* Toy.train(c, source)
    return Array.from(yield* backend.read(trained.model.params))
  })

/** `sample` as CSV with columns (e, x1, note, x2) under the names `names` (swap them to swap the columns). */
const shuffledCsv = (sample: ToyData.ToySample, names: { x1: string; x2: string; e: string }, energy = (e: number) => e) =>
  [`${names.e},${names.x1},note,${names.x2}`, ...Array.from(sample.energy, (e, i) => `${energy(e)},${sample.points[2 * i]},n${i},${sample.points[2 * i + 1]}`)]
    .join("\n") + "\n"

describe("toy --data: the file's points reach training as the built-in path's", () => {
  it.effect("a built-in dataset written to CSV (columns reordered, an extra one) trains the same parameters bit for bit; swapped x1/x2 or an ignored e would not", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "toy-source-"))
      const c = yield* tiny(dir)
      const builtIn = ToySource.builtIn(c, "8gaussians")
      const path = join(dir, "8gaussians.csv")
      writeFileSync(path, shuffledCsv(builtIn.data, { x1: "x1", x2: "x2", e: "e" }))
      const fromFile = yield* ToySource.fromFiles({ data: path, betas: c.betas })
      expect(fromFile.name).toBe("8gaussians")
      expect(Array.from(fromFile.data.points)).toEqual(Array.from(builtIn.data.points))
      expect(Array.from(fromFile.data.energy)).toEqual(Array.from(builtIn.data.energy))
      const reference = yield* trainedParams(c, builtIn)
      expect(yield* trainedParams(c, fromFile)).toEqual(reference)
      // The same check fails for a file whose x1 and x2 are swapped, or whose energies are all 0 (e ignored).
      const swappedPath = join(dir, "swapped", "8gaussians.csv")
      mkdirSync(join(dir, "swapped"))
      writeFileSync(swappedPath, shuffledCsv(builtIn.data, { x1: "x2", x2: "x1", e: "e" }))
      expect(yield* trainedParams(c, yield* ToySource.fromFiles({ data: swappedPath, betas: c.betas }))).not.toEqual(reference)
      const flatPath = join(dir, "flat", "8gaussians.csv")
      mkdirSync(join(dir, "flat"))
      writeFileSync(flatPath, shuffledCsv(builtIn.data, { x1: "x1", x2: "x2", e: "e" }, () => 0))
      expect(yield* trainedParams(c, yield* ToySource.fromFiles({ data: flatPath, betas: c.betas }))).not.toEqual(reference)
    }).pipe(Effect.provide(layers)), 60_000)

  it.effect("--name overrides the file's name, and must be usable as a directory", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "toy-source-"))
      const path = join(dir, "points.v2.csv")
      yield* PointsCsv.writePoints(path, ToyData.generate("moons", 40, Rng.named(0, "n")))
      expect((yield* ToySource.fromFiles({ data: path, betas: [0] })).name).toBe("points.v2")
      expect((yield* ToySource.fromFiles({ data: path, betas: [0], name: "my_density" })).name).toBe("my_density")
      const error = yield* Effect.flip(ToySource.fromFiles({ data: path, betas: [0], name: "../escape" }))
      expect(error.message).toContain("may hold only letters, digits")
    }))
})

describe("references", () => {
  const data = ToyData.generate("checkerboard", 400, Rng.named(1, "ref"))
  const key = Rng.named(2, "eval")

  it("a built-in dataset's reference is its exact sampler on the streams the toy program has always used", () => {
    const source = ToySource.builtIn({ seed: 0, dataSize: 50 }, "moons")
    const r = source.reference(3, 100, key)
    expect(r.kind).toBe("exact")
    expect(Array.from(r.target)).toEqual(Array.from(ToyData.sampleTarget("moons", 3, 100, Rng.split(key, "target-3")).points))
    expect(Array.from(r.noise[0])).toEqual(Array.from(ToyData.sampleTarget("moons", 3, 100, Rng.split(key, "target2-3")).points))
    expect(r.noise[1]).toBe(r.target)
  })

  it("a target file's β: all its rows are the target, and its noise pair splits them into two halves", () => {
    const rows = ToyData.sampleTarget("checkerboard", 3, 41, Rng.named(4, "t")).points
    const source = ToySource.fromSample("c", "test", data, new Map([[3, { points: rows, firstLine: 2 }]]))
    const r = source.reference(3, 100, key)
    expect(r.kind).toBe("target-file")
    expect(r.target).toBe(rows)
    expect([r.noise[0].length, r.noise[1].length]).toEqual([40, 42])
    const pairs = (p: Float64Array) => Array.from({ length: p.length / 2 }, (_, i) => `${p[2 * i]},${p[2 * i + 1]}`)
    expect([...pairs(r.noise[0]), ...pairs(r.noise[1])].sort()).toEqual(pairs(rows).sort())
    // a random split, not the file's first and second halves
    expect(pairs(r.noise[0])).not.toEqual(pairs(rows).slice(0, 20))
  })

  it("a β the target file lacks: the data resampled ∝ exp(β·e) (at β = 40 nearly only e = 1 points; at β = 0 both)", () => {
    const source = ToySource.fromSample("c", "test", data)
    const energyOf = new Map(Array.from(data.energy, (e, i) => [`${data.points[2 * i]},${data.points[2 * i + 1]}`, e]))
    const energies = (beta: number) => {
      const r = source.reference(beta, 500, key)
      expect(r.kind).toBe("data-resampled")
      return Array.from({ length: 500 }, (_, i) => energyOf.get(`${r.target[2 * i]},${r.target[2 * i + 1]}`))
    }
    const hot = energies(40)
    expect(hot.every((e) => e !== undefined)).toBe(true)
    // P(e = 0) = exp(−40)·n₀ / (n₁ + exp(−40)·n₀) < 1e-15 per draw
    expect(hot.every((e) => e === 1)).toBe(true)
    const flat = energies(0).filter((e) => e === 1).length / 500
    const share = data.energy.filter((e) => e === 1).length / 400
    expect(Math.abs(flat - share)).toBeLessThan(4 * Math.sqrt(share * (1 - share) / 500))
  })
})

describe("a tiny toy run on files", () => {
  it.effect("writes metrics.json rows under the file's name, each labelled with its reference, the table's reference column, the figure and checkpoints", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "toy-run-"))
      const c = yield* tiny(join(dir, "out"))
      const dataPath = join(dir, "ring-density.csv")
      const targetPath = join(dir, "ring-density-target.csv")
      yield* PointsCsv.writePoints(dataPath, ToyData.generate("rings", 300, Rng.named(5, "data")))
      writeFileSync(targetPath, PointsCsv.formatTargets([{ beta: 3, points: ToyData.sampleTarget("rings", 3, 80, Rng.named(5, "target")).points }]))
      const source = yield* ToySource.fromFiles({ data: dataPath, target: targetPath, betas: c.betas })
      const metrics = yield* Toy.toy(c, [source])
      const written = JSON.parse(readFileSync(join(c.outDir, "metrics.json"), "utf8")) as Array<Toy.ToyMetric>
      expect(written).toEqual(JSON.parse(JSON.stringify(metrics)))
      expect(new Set(written.map((m) => m.dataset))).toEqual(new Set(["ring-density"]))
      // β = 0: not in the target file, so the data resampled; β = 3: the file's exact samples
      expect(new Set(written.filter((m) => m.beta === 0).map((m) => m.reference))).toEqual(new Set(["data-resampled"]))
      expect(new Set(written.filter((m) => m.beta === 3).map((m) => m.reference))).toEqual(new Set(["target-file"]))
      expect(new Set(written.map((m) => m.method))).toEqual(new Set(["swg", "qgpo"]))
      for (const m of written) expect(Number.isFinite(m.sw2) && Number.isFinite(m.sw2SampleNoise)).toBe(true)
      const table = readFileSync(join(c.outDir, "metrics.md"), "utf8")
      expect(table).toContain("| dataset | method | β | reference | ρ or s |")
      expect(table).toContain("| ring-density | swg | 3 | exact target (file) | 1 |")
      expect(table).toContain("| ring-density | swg | 0 | data resampled ∝ exp(β·e) | 1 |")
      for (const file of ["samples.svg", "model.safetensors", "energy.safetensors"]) {
        expect(existsSync(join(c.outDir, "ring-density", file))).toBe(true)
      }
    }).pipe(Effect.provide(layers)), 60_000)
})
