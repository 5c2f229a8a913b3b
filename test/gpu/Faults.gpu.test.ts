/**
 * Typed failures of the GPU backend, the same as the CPU backend's: a bad gather/scatter index is IndexOutOfRange
 * naming the op, the index, its position and the row count on both backends (the CPU throws it from the op, the
 * GPU reports what its kernel recorded at the next read; of several bad indices in one gather, the CPU names the
 * first and the GPU one of them), and a tensor over the device's buffer limits is
 * OutOfMemory naming the size and the limit, raised before Dawn sees the request.
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { IndexOutOfRange } from "../../src/domain/Ops.ts"
import type { Tensor, TensorBackend } from "../../src/domain/TensorBackend.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Gpu, GpuError } from "../../src/services/Gpu.ts"
import { describeGpu, randomData } from "../fixtures/GpuTest.ts"

type Op = (B: TensorBackend, indices: Tensor) => Tensor

const gather: Op = (B, indices) => B.gatherRows(B.upload(randomData(1, 4 * 3), 4, 3), indices)
const scatter: Op = (B, indices) => B.scatterAddRows(B.upload(randomData(2, indices.rows * 3), indices.rows, 3), indices, 4)

/** Runs `op` with `indices` on the backend in context and reads the result: the error, or undefined. */
const failure = (op: Op, indices: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const backend = yield* Backend
    const out = yield* backend.run((B) => op(B, B.upload(Float32Array.from(indices), indices.length, 1)))
    yield* backend.read(out)
    backend.ops.dispose(out)
  }).pipe(Effect.flip, Effect.option, Effect.map((o) => (o._tag === "Some" ? o.value : undefined)))

const cases: ReadonlyArray<{ readonly name: string; readonly op: Op; readonly indices: ReadonlyArray<number>; readonly want: object }> = [
  { name: "gatherRows, index = rows", op: gather, indices: [0, 2, 4, 1], want: { op: "gatherRows", index: 4, position: 2, rows: 4 } },
  { name: "gatherRows, negative", op: gather, indices: [3, -1], want: { op: "gatherRows", index: -1, position: 1, rows: 4 } },
  { name: "gatherRows, not an integer", op: gather, indices: [1.5, 0], want: { op: "gatherRows", index: 1.5, position: 0, rows: 4 } },
  { name: "scatterAddRows, index = rows", op: scatter, indices: [0, 1, 4], want: { op: "scatterAddRows", index: 4, position: 2, rows: 4 } },
  { name: "scatterAddRows, the first of several", op: scatter, indices: [2, -2, 5, 1], want: { op: "scatterAddRows", index: -2, position: 1, rows: 4 } }
]

describeGpu("typed failures", (it) => {
  it.layer(Backend.layerGpuNoDeps)((it) => {
    it.effect("an out-of-range gather/scatter index is the same IndexOutOfRange on the CPU and the GPU", () =>
      Effect.gen(function*() {
        const gpu = yield* Effect.context<Backend>()
        for (const { name, op, indices, want } of cases) {
          const onCpu = yield* failure(op, indices).pipe(Effect.provide(Backend.layerCpu))
          const onGpu = yield* failure(op, indices).pipe(Effect.provide(gpu))
          assert.instanceOf(onCpu, IndexOutOfRange, `${name}: CPU`)
          assert.instanceOf(onGpu, IndexOutOfRange, `${name}: GPU`)
          assert.deepInclude(onCpu, want, `${name}: CPU`)
          assert.deepInclude(onGpu, want, `${name}: GPU`)
          assert.strictEqual(onGpu.message, onCpu.message, name)
          // the fault is reported once: the next op and read succeed
          assert.isUndefined(yield* failure(op, [0, 3]).pipe(Effect.provide(gpu)), `${name}: after the fault`)
        }
        // several bad indices in one gather: the CPU names the first; the GPU one of them (the first to record it)
        const bad = [0, 9, -3, 7]
        const onGpu = yield* failure(gather, bad).pipe(Effect.provide(gpu))
        assert.instanceOf(onGpu, IndexOutOfRange)
        const { position } = onGpu as IndexOutOfRange
        assert.include([1, 2, 3], position)
        assert.deepInclude(onGpu, { op: "gatherRows", index: bad[position], rows: 4 })
      }))

    it.effect("the GPU reports the first faulting op, at the next read of any tensor, and then clears it", () =>
      Effect.gen(function*() {
        const backend = yield* Backend
        const [first, other] = yield* backend.run((B) => {
          const bad = gather(B, B.upload(Float32Array.from([0, 6]), 2, 1))
          scatter(B, B.upload(Float32Array.from([-1, 0]), 2, 1))
          return [bad, B.fill(1, 2, 7)] as const
        })
        const error = yield* Effect.flip(backend.read(other))
        assert.deepInclude(error, { _tag: "IndexOutOfRange", op: "gatherRows", index: 6, position: 1, rows: 4 })
        assert.deepStrictEqual(Array.from(yield* backend.read(other)), [7, 7])
        // rows of bad indices are zeros, good ones are gathered
        assert.deepStrictEqual(Array.from((yield* backend.read(first)).subarray(3)), [0, 0, 0])
      }))

    it.effect("a tensor over the device's buffer limits is OutOfMemory naming its size and the limit, before Dawn", () =>
      Effect.gen(function*() {
        const backend = yield* Backend
        const { device } = yield* Gpu
        const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize)
        const rows = Math.floor(limit / 4 / 1024) + 1
        const before = backend.ops.stats()
        device.pushErrorScope("out-of-memory")
        device.pushErrorScope("validation")
        const error = yield* Effect.flip(backend.run((B) => B.zeros(rows, 1024)))
        const dawn = [yield* Effect.promise(() => device.popErrorScope()), yield* Effect.promise(() => device.popErrorScope())]
        assert.instanceOf(error, GpuError)
        const reason = (error as GpuError).reason
        assert.deepInclude(reason, { _tag: "OutOfMemory", op: "zeros", rows, cols: 1024, bytes: rows * 1024 * 4, limit })
        assert.include(error.message, `${rows * 1024 * 4} bytes`)
        assert.include(error.message, `${limit}-byte`)
        assert.deepStrictEqual(dawn, [null, null], "Dawn saw no request")
        assert.strictEqual(backend.ops.stats().allocations, before.allocations, "nothing allocated")
      }))
  })
})
