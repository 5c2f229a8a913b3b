/**
 * The Backend service: tensor ops on the GPU (WGSL through Dawn) or on the CPU (the f64-accumulating
 * reference), behind one interface. The choice is made here and nowhere else: `auto` takes a real
 * GPU when Dawn offers one, and otherwise the WebAssembly backend, which on a CPU-only machine
 * trains 3–5× and samples 3–50× faster than the same kernels on a software Vulkan adapter (lavapipe)
 * (`npm run bench`; README "Benchmarks"). `gpu` still takes a software adapter when asked.
 */
import { Context, Effect, Layer, Schema } from "effect"
import * as CpuBackend from "../domain/cpu/CpuBackend.ts"
import { IndexOutOfRange, MemoryLimit, ShapeError } from "../domain/Ops.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as WasmBackend from "../wasm/WasmBackend.ts"
import { AllocationFailed, Gpu, GpuError, OutOfMemory, probeAdapter, ReadbackFailed } from "./Gpu.ts"

export const BackendChoice = Schema.Literals(["auto", "gpu", "cpu", "wasm"])
export type BackendChoice = typeof BackendChoice.Type

export class Backend extends Context.Service<Backend, {
  /** The synchronous op interface (record on GPU, compute on CPU). */
  readonly ops: TensorBackend
  /**
   * Runs graph-building code; a shape error, a bad gather/scatter index (CPU: found by the op) or a tensor over
   * the device's limits (GPU: GpuError with reason OutOfMemory; WASM: MemoryLimit, over 4 GiB in all) thrown inside
   * becomes a typed failure.
   */
  readonly run: <A>(build: (ops: TensorBackend) => A) => Effect.Effect<A, ShapeError | IndexOutOfRange | MemoryLimit | GpuError>
  /**
   * Reads a tensor back to the host, waiting for pending work; fails with IndexOutOfRange when a GPU gather or
   * scatter recorded since the last read met a bad index (the GPU checks indices on the device).
   */
  readonly read: (t: Tensor) => Effect.Effect<Float32Array, GpuError | IndexOutOfRange>
}>()("dgrl/services/Backend") {
  /** The CPU reference backend (f32 storage, f64 accumulation). */
  static readonly layerCpu: Layer.Layer<Backend> = Layer.sync(Backend, () => make(CpuBackend.make()))

  /** f32 WebAssembly SIMD kernels on worker threads; its workers stop with the layer. */
  static readonly layerWasm: Layer.Layer<Backend> = Layer.effect(
    Backend,
    Effect.map(Effect.acquireRelease(Effect.sync(() => WasmBackend.make()), (b) => Effect.sync(b.close)), (b) => make(b))
  )

  /** The WebGPU backend of the Gpu service it is given. */
  static readonly layerGpuNoDeps: Layer.Layer<Backend, never, Gpu> = Layer.effect(
    Backend,
    Effect.gen(function*() {
      const gpu = yield* Gpu
      return make(gpu.backend)
    })
  )

  /** The WebGPU backend; fails when no adapter is available. */
  static readonly layerGpu: Layer.Layer<Backend, GpuError> = Backend.layerGpuNoDeps.pipe(Layer.provide(Gpu.layer))

  /** Chosen by `choice`; `auto` falls back to the CPU (and says so) when the GPU layer fails. */
  static readonly layer = (choice: BackendChoice): Layer.Layer<Backend, GpuError> => {
    switch (choice) {
      case "cpu":
        return Backend.layerCpu
      case "wasm":
        return Backend.layerWasm
      case "gpu":
        return Backend.layerGpu
      case "auto":
        return Layer.unwrap(Effect.gen(function*() {
          const adapter = yield* probeAdapter
          if (adapter.kind === "hardware") {
            return Backend.layerGpu.pipe(
              Layer.catch((error: GpuError) =>
                Layer.unwrap(Effect.as(Effect.logWarning(`the GPU failed (${error.message}); using the WASM backend`), Backend.layerWasm))
              )
            )
          }
          yield* Effect.logInfo(
            adapter.kind === "software"
              ? `software WebGPU adapter (${adapter.description}): using the WASM backend, faster on this machine`
              : `no WebGPU adapter (${adapter.description}): using the WASM backend`
          )
          return Backend.layerWasm
        }))
    }
  }
}

const make = (ops: TensorBackend) =>
  Backend.of({
    ops,
    run: (build) =>
      Effect.try({ try: () => build(ops), catch: (e) => e }).pipe(
        Effect.catch((e): Effect.Effect<never, ShapeError | IndexOutOfRange | MemoryLimit | GpuError> =>
          e instanceof ShapeError || e instanceof IndexOutOfRange || e instanceof MemoryLimit
            ? Effect.fail(e)
            : e instanceof OutOfMemory
            ? Effect.fail(new GpuError({ reason: e }))
            : Effect.die(e)
        )
      ),
    read: (t) =>
      Effect.tryPromise({
        try: () => ops.read(t),
        catch: (e) =>
          e instanceof IndexOutOfRange
            ? e
            : new GpuError({ reason: e instanceof AllocationFailed ? e : new ReadbackFailed({ message: String(e) }) })
      })
  })
