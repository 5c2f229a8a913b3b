/**
 * The Gpu service: a WebGPU device from Dawn's Node bindings (`webgpu`, loaded when the layer is
 * built, which also installs the WebGPU globals such as GPUBufferUsage) for the lifetime of the
 * layer, and the GPU TensorBackend compiled on it. The layer holds the `create()` result until the
 * device is destroyed (Dawn loses in-flight work when it is garbage-collected, as measured here), requests
 * the adapter's largest storage-buffer limits and the optional features it offers, picks the matmul
 * kernel by adapter (register-blocked on software adapters such as lavapipe, workgroup-tiled on real
 * GPUs), enables Dawn toggles (DEFAULT_TOGGLES unless DGRL_DAWN_TOGGLES or the options say
 * otherwise), and fails with ShaderCompilation naming the kernel when any pipeline does not compile.
 */
import { Context, Effect, Layer, Schema } from "effect"
import * as GpuBackend from "../gpu/GpuBackend.ts"
import type { KernelSpec } from "../gpu/Kernel.ts"
import type { TensorBackend } from "../domain/TensorBackend.ts"

/** No adapter or device could be obtained (no driver, or the request failed). */
export class AdapterUnavailable extends Schema.TaggedError<AdapterUnavailable>()("AdapterUnavailable", {
  message: Schema.String
}) {}

/** The device was lost for a reason other than being destroyed. */
export class DeviceLost extends Schema.TaggedError<DeviceLost>()("DeviceLost", {
  message: Schema.String
}) {}

/** A kernel's WGSL module or pipeline failed to compile. */
export class ShaderCompilation extends Schema.TaggedError<ShaderCompilation>()("ShaderCompilation", {
  kernel: Schema.String,
  message: Schema.String
}) {}

/** A tensor over the device's buffer limits, raised by the op before Dawn sees it (defined beside the backend). */
export const OutOfMemory = GpuBackend.OutOfMemory
export type OutOfMemory = GpuBackend.OutOfMemory

/** The device ran out of memory creating a buffer below the per-buffer limits; the next read reports it. */
export const AllocationFailed = GpuBackend.AllocationFailed
export type AllocationFailed = GpuBackend.AllocationFailed

/** Mapping a staging buffer to read a tensor back failed. */
export class ReadbackFailed extends Schema.TaggedError<ReadbackFailed>()("ReadbackFailed", {
  message: Schema.String
}) {}

/** DGRL_DAWN_TOGGLES names a toggle that is not a DawnToggle. */
export class UnknownToggle extends Schema.TaggedError<UnknownToggle>()("UnknownToggle", {
  toggle: Schema.String
}) {}

/** What went wrong with the GPU. */
export const GpuErrorReason = Schema.Union([AdapterUnavailable, DeviceLost, ShaderCompilation, OutOfMemory, AllocationFailed, ReadbackFailed, UnknownToggle])
export type GpuErrorReason = typeof GpuErrorReason.Type

/** The Gpu service's one error, with a tagged `reason`. */
export class GpuError extends Schema.TaggedError<GpuError>()("GpuError", {
  reason: GpuErrorReason
}) {
  override get message(): string {
    const r = this.reason
    switch (r._tag) {
      case "AdapterUnavailable": return `no WebGPU adapter: ${r.message}`
      case "DeviceLost": return `WebGPU device lost: ${r.message}`
      case "ShaderCompilation": return `kernel ${r.kernel} failed to compile: ${r.message}`
      case "OutOfMemory": return `out of GPU memory: ${r.message}`
      case "AllocationFailed": return `out of GPU memory: the device could not create a ${r.bytes}-byte buffer (${r.message})`
      case "ReadbackFailed": return `reading a tensor back failed: ${r.message}`
      case "UnknownToggle": return `DGRL_DAWN_TOGGLES: unknown Dawn toggle "${r.toggle}" (known: ${DawnToggle.literals.join(", ")})`
    }
  }
}

/** Options of `Gpu.layerWith`. */
export interface GpuOptions {
  /** Force a matmul kernel; by default register-blocked on software adapters, tiled otherwise. */
  readonly matmul?: GpuBackend.MatmulVariant
  /** Rewrites kernel specs before compiling (tests inject broken shaders with it). */
  readonly patch?: (spec: KernelSpec) => KernelSpec
  /**
   * Dawn toggles to enable on the instance (and so on its device); by default those DGRL_DAWN_TOGGLES
   * lists when it is set ("" for none), else DEFAULT_TOGGLES.
   */
  readonly toggles?: ReadonlyArray<DawnToggle>
}

/**
 * Dawn toggles that trade checks for speed. `skip_validation` skips WebGPU's validation of API
 * calls (an invalid call is then undefined behaviour instead of an error), `disable_robustness`
 * drops the index clamps Dawn adds to shaders, `disable_workgroup_init` the zeroing of workgroup
 * memory, and `disable_lazy_clear_for_mapped_at_creation_buffer` the zeroing of buffers created
 * mapped. Dawn ignores a name it does not know, hence the closed list.
 */
export const DawnToggle = Schema.Literals([
  "skip_validation",
  "disable_robustness",
  "disable_workgroup_init",
  "disable_lazy_clear_for_mapped_at_creation_buffer"
])
export type DawnToggle = typeof DawnToggle.Type

/**
 * The toggles a GPU device gets unless told otherwise: our kernels clamp or check their own indices
 * and write workgroup memory before reading it, so Dawn's shader clamps and zeroing are dead weight.
 * Interleaved on lavapipe they made the cpu preset's SWG step 8–32 % faster in CPU time (README,
 * "Levers 1 and 2 on lavapipe"); skip_validation is left out: with it an invalid shader aborts the
 * process instead of failing with ShaderCompilation.
 */
export const DEFAULT_TOGGLES: ReadonlyArray<DawnToggle> = ["disable_robustness", "disable_workgroup_init"]

/** The toggles a comma-separated list (DGRL_DAWN_TOGGLES) names; UnknownToggle for a name not in DawnToggle. */
export const parseToggles = (list: string | undefined): Effect.Effect<ReadonlyArray<DawnToggle>, GpuError> =>
  Effect.forEach((list ?? "").split(",").map((t) => t.trim()).filter((t) => t !== ""), (toggle) =>
    Schema.is(DawnToggle)(toggle) ? Effect.succeed(toggle) : fail(new UnknownToggle({ toggle })))

/** The `create()` options of Dawn's Node bindings that enable `toggles`. */
export const dawnOptions = (toggles: ReadonlyArray<DawnToggle>): Array<string> =>
  toggles.length === 0 ? [] : [`enable-dawn-features=${toggles.join(",")}`]

/** Dawn instances kept reachable while their device lives (see the module comment). */
const instances = new Set<GPU>()

const fail = (reason: GpuErrorReason) => Effect.fail(new GpuError({ reason }))

const OPTIONAL_FEATURES: ReadonlyArray<GPUFeatureName> = ["shader-f16", "timestamp-query", "subgroups"]

const isSoftwareAdapter = (info: GPUAdapterInfo): boolean =>
  info.isFallbackAdapter ||
  info.architecture === "software" ||
  (info.vendor === "mesa" && /llvmpipe|lavapipe|softpipe/i.test(`${info.device} ${info.description}`))

const describeAdapter = (info: GPUAdapterInfo): string =>
  info.description !== "" ? info.description : `${info.vendor} ${info.architecture} ${info.device}`.trim()

/** What Dawn's default adapter is, without creating a device: a real GPU, a software one, or none. */
export const probeAdapter: Effect.Effect<{ readonly kind: "hardware" | "software" | "none"; readonly description: string }> =
  Effect.tryPromise(async () => {
    const dawn = await import("webgpu")
    Object.assign(globalThis, dawn.globals)
    const instance = dawn.create([])
    instances.add(instance)
    try {
      const adapter = await instance.requestAdapter()
      if (adapter === null) return { kind: "none" as const, description: "requestAdapter() returned null" }
      return { kind: isSoftwareAdapter(adapter.info) ? "software" as const : "hardware" as const, description: describeAdapter(adapter.info) }
    } finally {
      instances.delete(instance)
    }
  }).pipe(Effect.orElseSucceed(() => ({ kind: "none" as const, description: "Dawn (webgpu) could not be loaded" })))

/** The WebGPU device, its adapter's description and kind, and the GPU TensorBackend built on it. */
export class Gpu extends Context.Service<Gpu, {
  readonly device: GPUDevice
  readonly adapterDescription: string
  readonly isSoftware: boolean
  readonly backend: TensorBackend
}>()("dgrl/services/Gpu") {
  /** A device on the default adapter with the matmul kernel chosen for it. */
  static readonly layer: Layer.Layer<Gpu, GpuError> = Layer.effect(Gpu, Effect.suspend(() => make({})))

  /** As `layer`, with a forced matmul variant or patched kernels. */
  static readonly layerWith = (options: GpuOptions): Layer.Layer<Gpu, GpuError> =>
    Layer.effect(Gpu, Effect.suspend(() => make(options)))
}

const make = Effect.fnUntraced(function*(options: GpuOptions) {
  const dawn = yield* Effect.tryPromise({
    try: () => import("webgpu"),
    catch: (e) => new GpuError({ reason: new AdapterUnavailable({ message: `cannot load Dawn (webgpu): ${String(e)}` }) })
  })
  Object.assign(globalThis, dawn.globals)
  const listed = process.env.DGRL_DAWN_TOGGLES
  const toggles = options.toggles ?? (listed === undefined ? DEFAULT_TOGGLES : yield* parseToggles(listed))
  const gpu = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const instance = dawn.create(dawnOptions(toggles))
      instances.add(instance)
      return instance
    }),
    (instance) => Effect.sync(() => instances.delete(instance))
  )
  const adapter = yield* Effect.tryPromise({
    try: () => gpu.requestAdapter(),
    catch: (e) => new GpuError({ reason: new AdapterUnavailable({ message: String(e) }) })
  })
  if (adapter === null) {
    return yield* fail(new AdapterUnavailable({ message: "requestAdapter() returned null (no Vulkan/Metal/D3D driver?)" }))
  }
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f))
  const device = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        adapter.requestDevice({
          label: "dgrl",
          requiredFeatures: features,
          requiredLimits: {
            maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
            maxBufferSize: adapter.limits.maxBufferSize,
            maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage
          }
        }),
      catch: (e) => new GpuError({ reason: new AdapterUnavailable({ message: `requestDevice failed: ${String(e)}` }) })
    }),
    (d) => Effect.sync(() => d.destroy())
  )
  yield* Effect.forkScoped(
    Effect.promise(() => device.lost).pipe(
      Effect.flatMap((info) =>
        info.reason === "destroyed"
          ? Effect.void
          : Effect.logError(new GpuError({ reason: new DeviceLost({ message: info.message }) }).message)
      )
    )
  )
  device.addEventListener("uncapturederror", (event) => {
    console.error(`WebGPU uncaptured error: ${(event as GPUUncapturedErrorEvent).error.message}`)
  })

  const info = adapter.info
  const isSoftware = isSoftwareAdapter(info)
  const matmul = options.matmul ?? (isSoftware && GpuBackend.supportsRegisterMatmul(device) ? "register" : "tiled")
  const adapterDescription = describeAdapter(info)
  const { backend, compilation } = GpuBackend.make(device, {
    matmul,
    description: `${adapterDescription} (${isSoftware ? "software" : "hardware"}, ${matmul} matmul${
      toggles.length === 0 ? "" : `, Dawn toggles ${toggles.join(",")}`
    })`,
    ...(options.patch === undefined ? {} : { patch: options.patch })
  })
  const failures = yield* Effect.promise(() => compilation)
  if (failures.length > 0) {
    const [first] = failures
    const others = failures.length > 1 ? ` (also failed: ${failures.slice(1).map((f) => f.kernel).join(", ")})` : ""
    return yield* fail(new ShaderCompilation({ kernel: first.kernel, message: first.message + others }))
  }
  return Gpu.of({ device, adapterDescription, isSoftware, backend })
})
