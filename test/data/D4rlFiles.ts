/**
 * Test fixtures for D4RL-layout files: a raw h5wasm writer that writes whatever it is given (broken files too),
 * the D4RL layout of a dataset as raw entries, and fast-check arbitraries for small valid datasets.
 */
import fc from "fast-check"
import h5wasm from "h5wasm/node"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"

/** One HDF5 dataset to write: `dtype` in h5wasm's numpy-like codes (`<f`, `<d`, `<i`, `|b1`, `A3`, ...). */
export interface RawEntry {
  readonly name: string
  readonly data: OfflineDataset.NumericArray | string
  readonly shape: ReadonlyArray<number>
  readonly dtype?: string
  readonly gzip?: boolean
}

/** Writes `entries` with h5wasm as they are (groups created first), gzip-chunked where asked. */
export const writeRaw = async (path: string, entries: ReadonlyArray<RawEntry>): Promise<void> => {
  await h5wasm.ready
  const file = new h5wasm.File(path, "w")
  const groups = new Set<string>()
  for (const e of entries) {
    const parts = e.name.split("/").slice(0, -1)
    for (let k = 1; k <= parts.length; k++) {
      const group = parts.slice(0, k).join("/")
      if (!groups.has(group)) file.create_group(group)
      groups.add(group)
    }
    const chunked = e.gzip === true && e.shape.length > 0 && e.shape.every((d) => d > 0)
    file.create_dataset({
      name: e.name,
      data: e.data,
      shape: [...e.shape],
      ...(e.dtype === undefined ? {} : { dtype: e.dtype }),
      ...(chunked ? { chunks: [...e.shape], compression: "gzip" as const, compression_opts: 4 } : {})
    })
    if (file.get(e.name) === null) throw new Error(`writeRaw: h5wasm did not create ${e.name}`)
  }
  file.close()
}

/** The D4RL layout of `ds` as raw entries (h5py conventions: bools as int8, gzip, metadata as datasets). */
export const entriesOf = (ds: OfflineDataset.OfflineDataset): Array<RawEntry> => {
  const n = ds.size
  const out: Array<RawEntry> = [
    { name: "observations", data: ds.observations, shape: [n, ds.observationDim], dtype: "<f", gzip: true },
    { name: "actions", data: ds.actions, shape: [n, ds.actionDim], dtype: "<f", gzip: true },
    { name: "rewards", data: ds.rewards, shape: [n], dtype: "<f", gzip: true },
    { name: "terminals", data: ds.terminals, shape: [n], dtype: "|b1", gzip: true },
    { name: "timeouts", data: ds.timeouts, shape: [n], dtype: "|b1", gzip: true }
  ]
  if (ds.nextObservations !== undefined) {
    out.push({ name: "next_observations", data: ds.nextObservations, shape: [n, ds.observationDim], dtype: "<f" })
  }
  for (const [key, t] of Object.entries(ds.infos)) out.push({ name: `infos/${key}`, data: t.data, shape: t.shape })
  return out
}

/** A small valid dataset: N in [minSize, 24], dims in [1, 4], optional next observations, infos `qpos`/`goal`. */
export const arbitraryDataset = (minSize = 1): fc.Arbitrary<OfflineDataset.OfflineDataset> =>
  fc.record({
    n: fc.integer({ min: minSize, max: 24 }),
    obsDim: fc.integer({ min: 1, max: 4 }),
    actDim: fc.integer({ min: 1, max: 4 }),
    withNext: fc.boolean()
  }).chain(({ n, obsDim, actDim, withNext }) =>
    fc.record({
      observations: fc.float32Array({ minLength: n * obsDim, maxLength: n * obsDim, noNaN: true, noDefaultInfinity: true }),
      actions: fc.float32Array({ minLength: n * actDim, maxLength: n * actDim, noNaN: true, noDefaultInfinity: true }),
      rewards: fc.float32Array({ minLength: n, maxLength: n, noNaN: true, noDefaultInfinity: true }),
      terminals: fc.uint8Array({ minLength: n, maxLength: n, max: 1 }),
      timeouts: fc.uint8Array({ minLength: n, maxLength: n, max: 1 }),
      next: fc.float32Array({ minLength: n * obsDim, maxLength: n * obsDim, noNaN: true, noDefaultInfinity: true }),
      qpos: fc.array(fc.double({ noNaN: true }), { minLength: n * 2, maxLength: n * 2 }),
      goal: fc.array(fc.integer({ min: -128, max: 127 }), { minLength: n, maxLength: n })
    }).map((a) =>
      OfflineDataset.make({
        observationDim: obsDim,
        actionDim: actDim,
        observations: a.observations,
        actions: a.actions,
        rewards: a.rewards,
        terminals: a.terminals,
        timeouts: a.timeouts,
        nextObservations: withNext ? a.next : undefined,
        infos: {
          qpos: { data: Float64Array.from(a.qpos), shape: [n, 2] },
          goal: { data: Int8Array.from(a.goal), shape: [n] }
        },
        metadata: { algorithm: "SAC", iteration: 7 }
      })
    )
  )
