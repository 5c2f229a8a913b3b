import { spawnSync } from "node:child_process"
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { describe, expect } from "vitest"
import { DatasetError, DatasetStore } from "../../src/data/DatasetStore.ts"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import { arbitraryDataset, entriesOf, type RawEntry, writeRaw } from "./D4rlFiles.ts"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "dgrl-datasets-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const bits = (data: OfflineDataset.NumericArray | undefined): Array<number> =>
  data === undefined ? [] : Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))

/** Bit-exact equality of every key, with the array kinds of infos/metadata tensors. */
const expectSameDataset = (actual: OfflineDataset.OfflineDataset, expected: OfflineDataset.OfflineDataset) => {
  expect([actual.size, actual.observationDim, actual.actionDim]).toEqual([
    expected.size,
    expected.observationDim,
    expected.actionDim
  ])
  expect(bits(actual.observations)).toEqual(bits(expected.observations))
  expect(bits(actual.actions)).toEqual(bits(expected.actions))
  expect(bits(actual.rewards)).toEqual(bits(expected.rewards))
  expect([...actual.terminals]).toEqual([...expected.terminals])
  expect([...actual.timeouts]).toEqual([...expected.timeouts])
  expect(actual.nextObservations === undefined).toBe(expected.nextObservations === undefined)
  expect(bits(actual.nextObservations)).toEqual(bits(expected.nextObservations))
  const tensors = (record: Readonly<Record<string, OfflineDataset.MetadataValue>>) =>
    Object.fromEntries(
      Object.entries(record).map((
        [k, v]
      ) => [k, typeof v === "object" ? { kind: v.data.constructor.name, shape: v.shape, bits: bits(v.data) } : v])
    )
  expect(tensors(actual.infos)).toEqual(tensors(expected.infos))
  expect(tensors(actual.metadata)).toEqual(tensors(expected.metadata))
}

/** Every special float32 bit pattern class: ±0, subnormals, extremes. */
const SPECIAL = new Float32Array(Uint32Array.from([0x80000000, 0x00000001, 0x807fffff, 0x7f7fffff, 0xff7fffff, 0x3f800001]).buffer)

const richDataset = (): OfflineDataset.OfflineDataset => {
  const n = 6
  const observations = Float32Array.from({ length: n * 3 }, (_, i) => Math.fround(Math.sin(i) * 1e3))
  observations.set(SPECIAL, 0)
  return OfflineDataset.make({
    observationDim: 3,
    actionDim: 2,
    observations,
    actions: Float32Array.from({ length: n * 2 }, (_, i) => Math.fround(Math.cos(i))),
    rewards: Float32Array.from(SPECIAL),
    terminals: Uint8Array.from([0, 0, 1, 0, 0, 0]),
    timeouts: Uint8Array.from([0, 0, 0, 0, 0, 1]),
    nextObservations: observations.map((x) => x + 1),
    infos: {
      qpos: { data: Float64Array.from({ length: n * 4 }, (_, i) => Math.PI * i - 0), shape: [n, 4] },
      goal: { data: Float32Array.from({ length: n * 2 }, (_, i) => i / 3), shape: [n, 2] },
      "sub/flag": { data: Int8Array.from([1, 0, 1, 0, 1, -1]), shape: [n] },
      steps: { data: BigInt64Array.from([0n, 1n, -2n, 3n, 2n ** 62n, -(2n ** 63n)]), shape: [n] },
      pixels: { data: Uint16Array.from({ length: n * 2 * 2 }, (_, i) => i * 1000), shape: [n, 2, 2] }
    },
    metadata: {
      algorithm: "SAC",
      note: "ünïcode ✓",
      iteration: 1_000_000,
      negative: -3,
      temperature: 0.1,
      negativeZero: -0,
      big: 2 ** 60,
      "policy/nonlinearity": "relu",
      "policy/fc0/weight": { data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [2, 3] },
      "policy/fc0/bias": { data: Float64Array.from([0.5, -0.5]), shape: [2] }
    }
  })
}

describe("DatasetStore", () => {
  it.effect("round-trips every key bit-exactly, leaving only the target file", () =>
    Effect.gen(function*() {
      const store = yield* DatasetStore
      const dir = yield* tempDir
      const path = join(dir, "nested", "dir", "rich.hdf5")
      const ds = richDataset()
      yield* store.write(path, ds)
      const loaded = yield* store.read(path)
      expectSameDataset(loaded, ds)
      expect(Object.is(loaded.metadata.negativeZero, -0)).toBe(true)
      expect(yield* Effect.promise(() => readdir(join(dir, "nested", "dir")))).toEqual(["rich.hdf5"])
      const badLevel = yield* Effect.flip(store.write(path, ds, { compression: 12 }))
      expect(badLevel.reason).toMatchObject({ _tag: "Io" })
      expect(badLevel.message).toContain("gzip level")
      // overwrite in place, without next observations and without compression
      const { nextObservations: _, ...withoutNext } = ds
      yield* store.write(path, withoutNext, { compression: 0 })
      const reread = yield* store.read(path)
      expect(reread.nextObservations).toBeUndefined()
      expectSameDataset(reread, withoutNext)
      expect(yield* Effect.promise(() => readdir(join(dir, "nested", "dir")))).toEqual(["rich.hdf5"])
    }).pipe(Effect.provide(DatasetStore.layer)))

  it.effect("lists every dataset of a file, nested groups included, with its on-disk shape and dtype", () =>
    Effect.gen(function*() {
      const store = yield* DatasetStore
      const dir = yield* tempDir
      const path = join(dir, "rich.hdf5")
      yield* store.write(path, richDataset())
      const keys = new Map((yield* store.keys(path)).map((k) => [k.key, k]))
      expect(keys.get("observations")).toEqual({ key: "observations", shape: [6, 3], dtype: "float32" })
      // h5wasm writes flags as int8 (h5py reads them back so); h5py's own bools are 2-member enums, listed as "bool"
      expect(keys.get("terminals")).toEqual({ key: "terminals", shape: [6], dtype: "int8" })
      expect(keys.get("infos/qpos")).toEqual({ key: "infos/qpos", shape: [6, 4], dtype: "float64" })
      expect(keys.get("infos/sub/flag")).toEqual({ key: "infos/sub/flag", shape: [6], dtype: "int8" })
      expect(keys.get("infos/steps")?.dtype).toBe("int64")
      expect(keys.get("infos/pixels")).toEqual({ key: "infos/pixels", shape: [6, 2, 2], dtype: "uint16" })
      expect(keys.get("metadata/policy/fc0/weight")).toEqual({ key: "metadata/policy/fc0/weight", shape: [2, 3], dtype: "float32" })
      expect(keys.get("metadata/algorithm")).toEqual({ key: "metadata/algorithm", shape: [], dtype: "string" })
      expect(keys.size).toBe(6 + 5 + 10)
      const missing = join(dir, "missing.hdf5")
      expect((yield* Effect.flip(store.keys(missing))).reason._tag).toBe("NotFound")
    }).pipe(Effect.provide(DatasetStore.layer)))

  it.effect("round-trips arbitrary valid datasets, empty ones included (property)", () =>
    Effect.gen(function*() {
      const run = Effect.runPromiseWith(yield* Effect.context<DatasetStore>())
      const dir = yield* tempDir
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(arbitraryDataset(0), fc.integer({ min: 0, max: 9 }), async (ds, level) => {
            const path = join(dir, "arbitrary.hdf5")
            const loaded = await run(Effect.gen(function*() {
              const store = yield* DatasetStore
              yield* store.write(path, ds, { compression: level })
              return yield* store.read(path)
            }))
            expectSameDataset(loaded, ds)
          }),
          { numRuns: 40 }
        )
      )
    }).pipe(Effect.provide(DatasetStore.layer)))

  it.effect("refuses to write an invalid dataset, and leaves no file behind", () =>
    Effect.gen(function*() {
      const store = yield* DatasetStore
      const dir = yield* tempDir
      const path = join(dir, "bad.hdf5")
      const ds = richDataset()
      const rewards = Float32Array.from(ds.rewards)
      rewards[3] = Infinity
      const error = yield* Effect.flip(store.write(path, { ...ds, rewards }))
      expect(error).toBeInstanceOf(DatasetError)
      expect(error.reason).toMatchObject({ _tag: "NonFinite", key: "rewards", index: 3 })
      expect(error.message).toContain(path)
      expect(error.message).toContain(`"rewards"`)
      expect(yield* Effect.promise(() => readdir(dir))).toEqual([])
    }).pipe(Effect.provide(DatasetStore.layer)))

  it.effect("reads the D4RL layout in h5py's conventions built with h5wasm (maze2d: no next_observations)", () =>
    Effect.gen(function*() {
      const store = yield* DatasetStore
      const dir = yield* tempDir
      const path = join(dir, "maze2d-like.hdf5")
      const n = 10
      const observations = Float32Array.from({ length: n * 4 }, (_, i) => i * 0.25)
      const terminals = Int8Array.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
      const entries: Array<RawEntry> = [
        { name: "actions", data: Float32Array.from({ length: n * 2 }, (_, i) => (i - n) * 0.125), shape: [n, 2], dtype: "<f", gzip: true },
        // D4RL generation scripts append Python floats: rewards may come as float64 and as [N, 1]
        { name: "rewards", data: Float64Array.from({ length: n }, (_, i) => i % 2), shape: [n, 1], dtype: "<d", gzip: true },
        { name: "observations", data: observations, shape: [n, 4], dtype: "<f", gzip: true },
        { name: "terminals", data: terminals, shape: [n], dtype: "|b1", gzip: true },
        { name: "timeouts", data: Uint8Array.from([0, 0, 0, 0, 0, 0, 1, 0, 0, 0]), shape: [n], dtype: "<B", gzip: true },
        { name: "infos/goal", data: Float32Array.from({ length: n * 2 }, () => 3), shape: [n, 2], dtype: "<f", gzip: true },
        { name: "infos/qpos", data: Float32Array.from({ length: n * 2 }, (_, i) => i), shape: [n, 2], dtype: "<f", gzip: true },
        { name: "metadata/algorithm", data: "SAC", shape: [], dtype: "A3" },
        { name: "metadata/iteration", data: Int32Array.of(500), shape: [], dtype: "<i" },
        { name: "metadata/policy/fc0/weight", data: Float32Array.from([1, 2, 3, 4]), shape: [2, 2], dtype: "<f" },
        { name: "unrelated", data: Float32Array.of(1), shape: [1], dtype: "<f" }
      ]
      yield* Effect.promise(() => writeRaw(path, entries))
      const ds = yield* store.read(path)
      expect([ds.size, ds.observationDim, ds.actionDim]).toEqual([n, 4, 2])
      expect(ds.nextObservations).toBeUndefined()
      expect([...ds.observations]).toEqual([...observations])
      expect([...ds.rewards]).toEqual([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
      expect([...ds.terminals]).toEqual([...terminals])
      expect([...ds.timeouts]).toEqual([0, 0, 0, 0, 0, 0, 1, 0, 0, 0])
      expect(Object.keys(ds.infos).sort()).toEqual(["goal", "qpos"])
      expect(ds.infos.goal.shape).toEqual([n, 2])
      expect(ds.metadata.algorithm).toBe("SAC")
      expect(ds.metadata.iteration).toBe(500)
      expect(ds.metadata["policy/fc0/weight"]).toEqual({ data: Float32Array.from([1, 2, 3, 4]), shape: [2, 2] })
      // qlearning_dataset derives next states from the following rows
      const t = OfflineDataset.qlearningTransitions(ds)
      expect(t.size).toBe(8)
      expect([...t.nextObservations!.subarray(0, 4)]).toEqual([...observations.subarray(4, 8)])
    }).pipe(Effect.provide(DatasetStore.layer)))

  describe("h5py interoperability", () => {
    const python = process.env.H5PY_PYTHON ?? "python3"
    const probe = spawnSync(python, ["-c", "import h5py, numpy"], { encoding: "utf8" })
    const available = probe.status === 0
    // CI installs h5py and sets REQUIRE_H5PY=1: there a missing h5py is a failure, not a skip.
    it.runIf(process.env.REQUIRE_H5PY === "1")("h5py is available (REQUIRE_H5PY=1)", () => {
      expect(probe.error?.message ?? probe.stderr.trim()).toBe("")
      expect(available).toBe(true)
    })
    if (!available) {
      console.warn(
        `[DatasetStore.test] skipping the h5py tests: \`${python} -c "import h5py, numpy"\` failed ` +
          `(${probe.error?.message ?? probe.stderr.trim().split("\n").pop()}); set H5PY_PYTHON to a python with h5py`
      )
    }
    const runPython = (script: string, ...args: Array<string>) =>
      Effect.sync(() => {
        const result = spawnSync(python, ["-c", script, ...args], { encoding: "utf8" })
        expect(result.stderr).toBe("")
        expect(result.status).toBe(0)
        return result.stdout
      })

    it.effect.skipIf(!available)("reads a D4RL file written by h5py (bool enums, gzip, nested metadata)", () =>
      Effect.gen(function*() {
        const store = yield* DatasetStore
        const dir = yield* tempDir
        const path = join(dir, "h5py-d4rl.hdf5")
        yield* runPython(H5PY_WRITER, path)
        const ds = yield* store.read(path)
        const n = 12
        expect([ds.size, ds.observationDim, ds.actionDim]).toEqual([n, 3, 2])
        expect([...ds.observations]).toEqual(Array.from({ length: n * 3 }, (_, i) => i * 0.25))
        expect([...ds.nextObservations!]).toEqual(Array.from({ length: n * 3 }, (_, i) => i * 0.25 + 1))
        expect([...ds.actions]).toEqual(Array.from({ length: n * 2 }, (_, i) => (i - n) * 0.125))
        expect([...ds.rewards]).toEqual(Array.from({ length: n }, (_, i) => i * 0.5))
        expect([...ds.terminals]).toEqual(Array.from({ length: n }, (_, i) => (i === 4 ? 1 : 0)))
        expect([...ds.timeouts]).toEqual(Array.from({ length: n }, (_, i) => (i === 9 ? 1 : 0)))
        expect(ds.infos.qpos).toEqual({ data: Float64Array.from({ length: n * 4 }, (_, i) => i), shape: [n, 4] })
        expect(ds.infos.action_log_probs.data).toBeInstanceOf(Float32Array)
        expect(ds.metadata).toEqual({
          algorithm: "SAC",
          iteration: 1000000,
          "policy/nonlinearity": "relu",
          "policy/fc0/weight": { data: new Float32Array(12).fill(1), shape: [4, 3] },
          "policy/deterministic": 1
        })
      }).pipe(Effect.provide(DatasetStore.layer)))

    it.effect.skipIf(!available)("writes files h5py reads with D4RL's dtypes and gzip", () =>
      Effect.gen(function*() {
        const store = yield* DatasetStore
        const dir = yield* tempDir
        const path = join(dir, "for-h5py.hdf5")
        const ds = richDataset()
        yield* store.write(path, ds, { compression: 6 })
        const summary = JSON.parse(yield* runPython(H5PY_READER, path)) as Record<string, H5pySummary>
        expect(summary.observations).toMatchObject({ dtype: "float32", shape: [6, 3], compression: "gzip", level: 6 })
        expect(summary.terminals).toMatchObject({ dtype: "int8", shape: [6], values: [0, 0, 1, 0, 0, 0] })
        expect(summary.timeouts).toMatchObject({ dtype: "int8", values: [0, 0, 0, 0, 0, 1] })
        expect(summary.rewards.dtype).toBe("float32")
        expect(summary.next_observations.shape).toEqual([6, 3])
        expect(summary["infos/steps"]).toMatchObject({ dtype: "int64", shape: [6] })
        expect(summary["infos/pixels"]).toMatchObject({ dtype: "uint16", shape: [6, 2, 2] })
        expect(summary["metadata/algorithm"]).toMatchObject({ shape: [], values: "SAC" })
        expect(summary["metadata/note"].values).toBe("ünïcode ✓")
        expect(summary["metadata/iteration"]).toMatchObject({ dtype: "int64", values: 1000000 })
        expect(summary["metadata/temperature"]).toMatchObject({ dtype: "float64", values: 0.1 })
        expect(summary["metadata/policy/fc0/weight"]).toMatchObject({ dtype: "float32", shape: [2, 3] })
      }).pipe(Effect.provide(DatasetStore.layer)))
  })

  describe("broken files", () => {
    it.effect("a missing file is NotFound, a directory or an empty file NotHdf5", () =>
      Effect.gen(function*() {
        const store = yield* DatasetStore
        const dir = yield* tempDir
        const missing = join(dir, "missing.hdf5")
        const notFound = yield* Effect.flip(store.read(missing))
        expect(notFound.reason._tag).toBe("NotFound")
        expect(notFound.message).toBe(`dataset ${missing}: no such file`)
        expect((yield* Effect.flip(store.read(dir))).reason._tag).toBe("NotHdf5")
        const empty = join(dir, "empty.hdf5")
        yield* Effect.promise(() => writeFile(empty, ""))
        const error = yield* Effect.flip(store.read(empty))
        expect(error.reason._tag).toBe("NotHdf5")
        expect(error.message).toContain(empty)
      }).pipe(Effect.provide(DatasetStore.layer)))

    it.effect("fails with the right typed reason for each random defect and never crashes (property)", () =>
      Effect.gen(function*() {
        const run = Effect.runPromiseWith(yield* Effect.context<DatasetStore>())
        const dir = yield* tempDir
        let count = 0
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(arbitraryDataset(1), arbitraryDefect, async (ds, defect) => {
              const path = join(dir, `broken-${count++}.hdf5`)
              const expected = await applyDefect(path, ds, defect)
              const error = await run(Effect.gen(function*() {
                const store = yield* DatasetStore
                return yield* Effect.flip(store.read(path))
              }))
              expect(error).toBeInstanceOf(DatasetError)
              expect(error.path).toBe(path)
              expect(error.reason).toMatchObject(expected)
              expect(error.message).toContain(path)
              if ("key" in expected) expect(error.message).toContain(`"${expected.key}"`)
            }),
            { numRuns: 200 }
          )
        )
      }).pipe(Effect.provide(DatasetStore.layer)))
  })
})

// ---------------------------------------------------------------------------------------------------------------
// Defects

const CORE = ["observations", "actions", "rewards", "terminals", "timeouts"] as const
const FLOAT_KEYS = ["observations", "actions", "rewards"] as const

type Defect =
  | { readonly kind: "drop"; readonly key: (typeof CORE)[number] }
  | { readonly kind: "rank"; readonly key: (typeof CORE)[number] }
  | { readonly kind: "length"; readonly key: string; readonly grow: boolean }
  | { readonly kind: "nonFinite"; readonly key: string; readonly at: number; readonly value: number }
  | { readonly kind: "dtype"; readonly key: (typeof CORE)[number] }
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "garbage"; readonly bytes: Uint8Array }

const arbitraryDefect: fc.Arbitrary<Defect> = fc.oneof(
  fc.record({ kind: fc.constant("drop" as const), key: fc.constantFrom(...CORE) }),
  fc.record({ kind: fc.constant("rank" as const), key: fc.constantFrom(...CORE) }),
  fc.record({
    kind: fc.constant("length" as const),
    key: fc.constantFrom(...CORE, "next_observations", "infos/qpos", "infos/goal"),
    grow: fc.boolean()
  }),
  fc.record({
    kind: fc.constant("nonFinite" as const),
    key: fc.constantFrom(...FLOAT_KEYS, "next_observations"),
    at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    value: fc.constantFrom(NaN, Infinity, -Infinity)
  }),
  fc.record({ kind: fc.constant("dtype" as const), key: fc.constantFrom(...CORE) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) }),
  fc.record({ kind: fc.constant("garbage" as const), bytes: fc.uint8Array({ maxLength: 4096 }) })
)

/** Rows ([N, ...] with `width` elements per row) of `data` resized to `rows`, repeating the last row to grow. */
const resizeRows = (data: OfflineDataset.NumericArray, width: number, rows: number): OfflineDataset.NumericArray =>
  OfflineDataset.gatherRows(data, width, Array.from({ length: rows }, (_, r) => Math.min(r, data.length / width - 1)))

/** The entries with `name` replaced by `f(entry)`. */
const replace = (entries: ReadonlyArray<RawEntry>, name: string, f: (e: RawEntry) => RawEntry): Array<RawEntry> =>
  entries.map((e) => (e.name === name ? f(e) : e))

/** Writes `ds` with the defect at `path` and returns the reason the read must fail with. */
const applyDefect = async (
  path: string,
  ds: OfflineDataset.OfflineDataset,
  defect: Defect
): Promise<Record<string, unknown>> => {
  const entries = entriesOf(ds)
  const n = ds.size
  switch (defect.kind) {
    case "drop": {
      await writeRaw(path, entries.filter((e) => e.name !== defect.key))
      return { _tag: "MissingKey", key: defect.key }
    }
    case "rank": {
      const broken = replace(entries, defect.key, (e) =>
        e.shape.length === 2
          ? { ...e, shape: [e.data.length] } // [N, d] flattened to [N·d]
          : { ...e, data: resizeRows(e.data as OfflineDataset.NumericArray, 1, 2 * n), shape: [n, 2] })
      await writeRaw(path, broken)
      return { _tag: "WrongShape", key: defect.key }
    }
    case "length": {
      // next_observations may be absent: then the defect goes to observations' neighbour, actions
      const key = defect.key === "next_observations" && ds.nextObservations === undefined ? "actions" : defect.key
      const rows = defect.grow ? n + 1 : n - 1
      const broken = replace(entries, key, (e) => {
        const width = OfflineDataset.elementCount(e.shape.slice(1))
        return { ...e, data: resizeRows(e.data as OfflineDataset.NumericArray, width, rows), shape: [rows, ...e.shape.slice(1)] }
      })
      await writeRaw(path, broken)
      return { _tag: "LengthMismatch", key, expected: n, actual: rows }
    }
    case "nonFinite": {
      const key = defect.key === "next_observations" && ds.nextObservations === undefined ? "observations" : defect.key
      const entry = entries.find((e) => e.name === key)!
      const data = Float32Array.from(entry.data as Float32Array)
      const at = Math.floor(defect.at * data.length)
      data[at] = defect.value
      await writeRaw(path, replace(entries, key, (e) => ({ ...e, data })))
      return { _tag: "NonFinite", key, index: Math.floor(at / OfflineDataset.elementCount(entry.shape.slice(1))) }
    }
    case "dtype": {
      const broken = replace(entries, defect.key, (e) => {
        const values = e.data as Float32Array | Uint8Array
        switch (defect.key) {
          case "observations":
            return { ...e, data: Int32Array.from(values, Math.trunc), dtype: "<i" }
          case "actions":
            return { ...e, data: Int8Array.from(values, Math.trunc), dtype: "<b" }
          case "rewards":
            return { ...e, data: Int16Array.from(values, Math.trunc), dtype: "<h" }
          case "terminals":
            return { ...e, data: Float32Array.from(values), dtype: "<f" }
          case "timeouts":
            return { ...e, data: Float64Array.from(values), dtype: "<d" }
        }
      })
      await writeRaw(path, broken)
      return { _tag: "WrongDtype", key: defect.key }
    }
    case "truncate": {
      await writeRaw(path, entries)
      const size = (await readFile(path)).length
      await truncate(path, Math.floor(defect.at * size))
      return { _tag: "NotHdf5" }
    }
    case "garbage": {
      await writeFile(path, defect.bytes)
      return { _tag: "NotHdf5" }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// h5py scripts

interface H5pySummary {
  readonly dtype: string
  readonly shape: ReadonlyArray<number>
  readonly compression: string | null
  readonly level: number | null
  readonly values: unknown
}

/** Writes a D4RL-style file the way D4RL's generation scripts do (`create_dataset(k, data=v, compression='gzip')`). */
const H5PY_WRITER = `
import sys
import h5py, numpy as np
n = 12
obs = np.arange(n * 3, dtype=np.float32).reshape(n, 3) * np.float32(0.25)
data = {
    'observations': obs,
    'next_observations': obs + np.float32(1),
    'actions': ((np.arange(n * 2, dtype=np.float32) - n) * np.float32(0.125)).reshape(n, 2),
    'rewards': np.arange(n, dtype=np.float32) * np.float32(0.5),
    'terminals': np.arange(n) == 4,
    'timeouts': np.arange(n) == 9,
    'infos/qpos': np.arange(n * 4, dtype=np.float64).reshape(n, 4),
    'infos/action_log_probs': -np.arange(n, dtype=np.float32),
}
with h5py.File(sys.argv[1], 'w') as f:
    for k, v in data.items():
        f.create_dataset(k, data=v, compression='gzip')
    f['metadata/algorithm'] = np.bytes_('SAC')
    f['metadata/iteration'] = np.array([1000000], dtype=np.int32)[0]
    f['metadata/policy/nonlinearity'] = np.bytes_('relu')
    f['metadata/policy/fc0/weight'] = np.ones((4, 3), dtype=np.float32)
    f['metadata/policy/deterministic'] = np.bool_(True)
`

/** Prints {key: {dtype, shape, compression, level, values}} for every dataset of a file, as JSON. */
const H5PY_READER = `
import sys, json
import h5py, numpy as np
out = {}
def visit(name, item):
    if isinstance(item, h5py.Dataset):
        v = item[()]
        if isinstance(v, bytes):
            v = v.decode('utf-8')
        elif isinstance(v, np.ndarray):
            v = v.tolist() if v.dtype.kind in 'iub' else None
        elif isinstance(v, np.generic):
            v = v.item()
        out[name] = dict(dtype=str(item.dtype), shape=list(item.shape), compression=item.compression,
                         level=item.compression_opts, values=v)
with h5py.File(sys.argv[1], 'r') as f:
    f.visititems(visit)
print(json.dumps(out))
`
