/**
 * What every compute kernel shares: a spec (name, WGSL, binding list, pipelines), its compiled
 * pipelines with an explicit bind-group layout, and the compile step that reports WGSL or pipeline
 * errors per kernel through a validation error scope. Binding 0 of every kernel is its parameter
 * block, a uniform bound with a dynamic offset into the recorder's arena (see Recorder.ts).
 *
 * A kernel may have several pipelines: one per entry point and per value of its `override`
 * constants. Op codes are overrides rather than uniforms because llvmpipe runs every case of a
 * switch on a uniform under masks; specialised, the dead cases fold away (4× faster on unary ops).
 */

/** How a storage binding is accessed; binding 0 (the uniform parameter block) is implicit. */
export type Access = "read" | "write"

/** One pipeline of a kernel: an entry point with values for the module's `override` declarations. */
export interface PipelineSpec {
  /** What the wrapper dispatches by, e.g. "fill" or "unary/silu"; also the pipeline's label. */
  readonly key: string
  readonly entryPoint: string
  readonly constants?: Readonly<Record<string, number>>
}

/** Everything needed to build a kernel: its WGSL, bindings and pipelines. */
export interface KernelSpec {
  /** The kernel's one name: file stem, label prefix and (for single-entry kernels) entry point. */
  readonly name: string
  readonly code: string
  /** Storage bindings 1..n in order. */
  readonly bindings: ReadonlyArray<Access>
  /** The pipelines built from `code`, all sharing the bind-group layout. */
  readonly pipelines: ReadonlyArray<PipelineSpec>
}

/** A compiled kernel: the shared bind-group layout and its pipelines by key. */
export interface Kernel {
  readonly name: string
  readonly layout: GPUBindGroupLayout
  readonly pipelines: ReadonlyMap<string, GPUComputePipeline>
  readonly bindings: ReadonlyArray<Access>
}

/** The one pipeline of a single-entry kernel, keyed and labelled by the kernel's name. */
export const singlePipeline = (name: string, constants?: Readonly<Record<string, number>>): ReadonlyArray<PipelineSpec> => [
  constants === undefined ? { key: name, entryPoint: name } : { key: name, entryPoint: name, constants }
]

/** Size in bytes of one parameter slot; also the dynamic-offset alignment. */
export const PARAMS_SLOT_BYTES = 256

/** A kernel and, asynchronously, whether it compiled. */
export interface Compiled {
  readonly kernel: Kernel
  /** Resolves with the error message when the module or a pipeline failed, else undefined. */
  readonly error: Promise<string | undefined>
}

/** Builds a kernel's layout and pipelines inside one validation error scope. */
export const compileKernel = (device: GPUDevice, spec: KernelSpec): Compiled => {
  device.pushErrorScope("validation")
  const layout = device.createBindGroupLayout({
    label: `${spec.name}.bindGroupLayout`,
    entries: [
      {
        binding: 0,
        visibility: GPU_SHADER_STAGE_COMPUTE,
        buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: PARAMS_SLOT_BYTES }
      },
      ...spec.bindings.map((access, i): GPUBindGroupLayoutEntry => ({
        binding: i + 1,
        visibility: GPU_SHADER_STAGE_COMPUTE,
        buffer: { type: access === "read" ? "read-only-storage" : "storage" }
      }))
    ]
  })
  const module = device.createShaderModule({ label: `${spec.name}.shaderModule`, code: spec.code })
  const pipelineLayout = device.createPipelineLayout({ label: `${spec.name}.pipelineLayout`, bindGroupLayouts: [layout] })
  const pipelines = new Map<string, GPUComputePipeline>()
  for (const p of spec.pipelines) {
    pipelines.set(
      p.key,
      device.createComputePipeline({
        label: `${p.key}.pipeline`,
        layout: pipelineLayout,
        compute: { module, entryPoint: p.entryPoint, ...(p.constants === undefined ? {} : { constants: p.constants }) }
      })
    )
  }
  const error = device.popErrorScope().then((e) => e?.message)
  return { kernel: { name: spec.name, layout, pipelines, bindings: spec.bindings }, error }
}

/** GPUShaderStage.COMPUTE (spec value), so this module needs no WebGPU globals installed. */
const GPU_SHADER_STAGE_COMPUTE = 0x4

/** Number of workgroups for `n` invocations in groups of `size`, split over x and y (≤ 65535 each). */
export const grid1d = (n: number, size: number): readonly [number, number] => {
  const groups = Math.max(1, Math.ceil(n / size))
  if (groups <= MAX_GROUPS) return [groups, 1]
  const y = Math.ceil(groups / MAX_GROUPS)
  return [Math.ceil(groups / y), y]
}

const MAX_GROUPS = 65535
