/**
 * Reductions and data movement against the CPU backend: reduce (sum and mean over rows, columns
 * and all, including lengths that need several passes), broadcastTo, concatCols, sliceCols,
 * padCols, gatherRows, scatterAddRows, copyInto, copyIntoMany (several parts per dispatch), fill,
 * upload / write / read.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { ShapeError } from "../../src/domain/Ops.ts"
import { Gpu } from "../../src/services/Gpu.ts"
import { compare, cpu, describeGpu, input, randomData, runs } from "../fixtures/GpuTest.ts"
import { assertClose, tolerances } from "../fixtures/Tolerance.ts"

const dim = fc.integer({ min: 1, max: 150 })
const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 })

/** Integer-valued float indices in [0, limit). */
const indices = (s: number, n: number, limit: number): Float32Array =>
  randomData(s, n, 0, limit).map((v) => Math.min(limit - 1, Math.floor(v)))

describeGpu("reduce", (it) => {
  it.effect("sum and mean over rows, cols and all match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const shapes = fc.oneof(
        fc.tuple(dim, dim),
        fc.tuple(fc.integer({ min: 1000, max: 3000 }), fc.integer({ min: 1, max: 8 })),
        fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1000, max: 5000 }))
      )
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(shapes, fc.constantFrom("sum" as const, "mean" as const), seed, async ([rows, cols], op, s) => {
            for (const axis of ["rows", "cols", "all"] as const) {
              await compare(B, [input(s, rows, cols)], (X, [x]) => [X.reduce(op, axis, x)], tolerances.reductions,
                `${op} over ${axis} of [${rows}, ${cols}] seed ${s}`)
            }
          }),
          { numRuns: runs(25) }
        )
      )
    }))
})

describeGpu("data movement", (it) => {
  it.effect("broadcastTo from every broadcastable shape matches the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, dim, fc.integer({ min: 0, max: 3 }), seed, async (rows, cols, kind, s) => {
            const from = [{ rows, cols }, { rows: 1, cols }, { rows, cols: 1 }, { rows: 1, cols: 1 }][kind]
            await compare(B, [input(s, from.rows, from.cols)], (X, [x]) => [X.broadcastTo(x, rows, cols)],
              tolerances.elementwise, `broadcastTo [${from.rows}, ${from.cols}] → [${rows}, ${cols}]`)
          }),
          { numRuns: runs(30) }
        )
      )
    }))

  it.effect("concatCols of 1..5 parts, sliceCols and padCols match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const widths = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 })
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, widths, seed, fc.nat(), fc.nat(), async (rows, ws, s, p, q) => {
            const parts = ws.map((w, i) => input(s + i, rows, w))
            await compare(B, parts, (X, xs) => [X.concatCols(xs)], tolerances.elementwise, `concatCols ${ws}`)
            const total = ws.reduce((a, b) => a + b, 0)
            const start = p % total
            const width = 1 + (q % (total - start))
            await compare(B, [input(s, rows, total)], (X, [x]) => [X.sliceCols(x, start, width)],
              tolerances.elementwise, `sliceCols [${rows}, ${total}] from ${start} width ${width}`)
            const into = total + (q % 7)
            const at = p % (into - ws[0] + 1)
            await compare(B, [parts[0]], (X, [x]) => [X.padCols(x, at, into)], tolerances.elementwise,
              `padCols [${rows}, ${ws[0]}] at ${at} into ${into}`)
          }),
          { numRuns: runs(30) }
        )
      )
    }))

  it.effect("gatherRows and scatterAddRows (with repeated indices) match the CPU", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, dim, dim, seed, async (rows, cols, n, s) => {
            const idx = { data: indices(s + 5, n, rows), shape: { rows: n, cols: 1 } }
            await compare(B, [input(s, rows, cols), idx], (X, [x, i]) => [X.gatherRows(x, i)], tolerances.elementwise,
              `gatherRows [${rows}, ${cols}] by ${n}`)
            await compare(B, [input(s, n, cols), idx], (X, [dy, i]) => [X.scatterAddRows(dy, i, rows)],
              tolerances.reductions, `scatterAddRows [${n}, ${cols}] into ${rows}`)
          }),
          { numRuns: runs(30) }
        )
      )
    }))

  it.effect("copyInto a view, fill, zeros, write and read round-trip", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(dim, dim, seed, fc.double({ min: -10, max: 10, noNaN: true }), async (rows, cols, s, value) => {
            const n = rows * cols
            const data = randomData(s, n)
            const flat = B.zeros(1, 64 + n + 64)
            const window = B.view(flat, 64, rows, cols)
            B.scope(() => B.copyInto(window, B.upload(data, rows, cols)))
            const all = await B.read(flat)
            assertClose(all.subarray(64, 64 + n), data, tolerances.elementwise, "copyInto a view")
            assert.isTrue(all.subarray(0, 64).every((v) => v === 0) && all.subarray(64 + n).every((v) => v === 0),
              "copyInto wrote outside its view")
            const filled = B.fill(rows, cols, value)
            assertClose(await B.read(filled), new Float32Array(n).fill(value), tolerances.elementwise, "fill")
            B.write(filled, data)
            assertClose(await B.read(filled), data, tolerances.elementwise, "write")
            B.dispose(filled)
            B.dispose(flat)
          }),
          { numRuns: runs(20) }
        )
      )
    }))

  it.effect("copyIntoMany of 1..20 tensors into views of a flat tensor matches the CPU, one dispatch per 7", () =>
    Effect.gen(function*() {
      const { backend: B, device } = yield* Gpu
      device.pushErrorScope("validation")
      // Parts up to 3 × 1500 elements (several workgroups of 1024), at offsets with gaps that must keep their values.
      const part = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 1500 }), fc.integer({ min: 0, max: 2 }))
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(part, { minLength: 1, maxLength: 20 }), seed, async (parts, s) => {
            const offsets: Array<number> = []
            let size = 0
            for (const [rows, cols, gap] of parts) {
              size += 64 * gap
              offsets.push(size)
              size += Math.ceil((rows * cols) / 64) * 64
            }
            const inputs = [input(s, 1, size), ...parts.map(([rows, cols], i) => input(s + i + 1, rows, cols))]
            let dispatches = 0
            await compare(B, inputs, (X, [flat, ...sources]) => {
              const before = X.stats().dispatches
              // In reverse, so the destinations are not in the order of the buffer.
              X.copyIntoMany(sources.map((src, i) => [X.view(flat, offsets[i], src.rows, src.cols), src] as const).reverse())
              if (X === B) dispatches = X.stats().dispatches - before
              return [flat]
            }, tolerances.elementwise, `copyIntoMany of ${parts.length} parts, seed ${s}`)
            assert.strictEqual(dispatches, Math.ceil(parts.length / 7), `dispatches for ${parts.length} parts`)
          }),
          { numRuns: runs(25) }
        )
      )
      B.flush()
      const error = yield* Effect.promise(() => device.popErrorScope())
      assert.isNull(error, `Dawn reported ${error?.message}`)
    }))

  it.effect("copyIntoMany (and copyInto) copy a source that lives in the destination's buffer; overlapping destinations are a ShapeError", () =>
    Effect.gen(function*() {
      const { backend: B, device } = yield* Gpu
      device.pushErrorScope("validation")
      for (const X of [B, cpu]) {
        const flat = X.upload(Float32Array.from({ length: 256 }, (_, i) => i), 1, 256)
        const other = X.upload(Float32Array.from({ length: 10 }, (_, i) => -i), 2, 5)
        X.copyIntoMany([[X.view(flat, 0, 2, 5), X.view(flat, 128, 2, 5)], [X.view(flat, 64, 2, 5), other]])
        const got = yield* Effect.promise(() => X.read(flat))
        const want = Float32Array.from({ length: 256 }, (_, i) => (i < 10 ? 128 + i : i >= 64 && i < 74 ? -(i - 64) : i))
        assertClose(got, want, tolerances.elementwise, `${X.kind}: a source inside the destination's buffer`)
        const thrown = (() => {
          try {
            X.copyIntoMany([[X.view(flat, 0, 2, 40), X.upload(new Float32Array(80), 2, 40)], [X.view(flat, 64, 2, 5), other]])
          } catch (e) {
            return e
          }
        })()
        assert.instanceOf(thrown, ShapeError, `${X.kind}: overlapping destinations`)
        assert.match((thrown as ShapeError).message, /destinations 0 \[2, 40\] and 1 \[2, 5\] share storage/)
        X.dispose(flat)
        X.dispose(other)
      }
      B.flush()
      const error = yield* Effect.promise(() => device.popErrorScope())
      assert.isNull(error, `Dawn reported ${error?.message}`)
    }))
})
