/**
 * The pending command stream of a GPU backend: one command encoder with one open compute pass that
 * kernels append dispatches to, and a CPU-side arena of 256-byte parameter slots that is written with
 * a single `queue.writeBuffer` right before the submit and bound with dynamic offsets. Nothing here
 * waits; `flush` submits. A full arena flushes by itself.
 *
 * Bind groups are cached by layout and bound ranges: creating one costs ~35 µs in Dawn's Node
 * bindings, as much as a dispatch on lavapipe, and a training loop over pooled buffers binds the
 * same ranges every step.
 */
import { type Kernel, PARAMS_SLOT_BYTES } from "./Kernel.ts"

/** A storage binding: a byte range of a buffer (offset a multiple of 256, size a multiple of 4). */
export interface Binding {
  readonly buffer: GPUBuffer
  readonly offset: number
  readonly size: number
}

/** Appends 4-byte scalars to a parameter slot, in the order of the kernel's WGSL `Params` struct. */
export interface ParamWriter {
  u32(value: number): ParamWriter
  f32(value: number): ParamWriter
}

/** The pending command stream kernels record into. */
export interface Recorder {
  /** Records one dispatch of the kernel's pipeline `key` with `bindings` as storage bindings 1..n. */
  dispatch(
    kernel: Kernel,
    key: string,
    bindings: ReadonlyArray<Binding>,
    params: (p: ParamWriter) => void,
    workgroups: readonly [number, number?, number?]
  ): void
  /** True when dispatches are recorded but not yet submitted. */
  pending(): boolean
  /** Ends the pass, uploads the parameter arena and submits; no-op when nothing is pending. */
  flush(): void
  readonly counters: { dispatches: number; submits: number }
}

/** Cached bind groups before the cache is cleared (they hold no memory beyond their descriptors). */
const BIND_GROUP_CACHE_SIZE = 4096

/** WebGPU spec values, so this module needs no globals installed. */
const UNIFORM = 0x40
const COPY_DST = 0x08

/** A recorder with an arena of `slots` parameter slots (a full arena submits). */
export const makeRecorder = (device: GPUDevice, slots = 1024): Recorder => {
  const arena = new ArrayBuffer(slots * PARAMS_SLOT_BYTES)
  const words = new Uint32Array(arena)
  const floats = new Float32Array(arena)
  const uniforms = device.createBuffer({
    label: "Recorder.params",
    size: arena.byteLength,
    usage: UNIFORM | COPY_DST
  })
  let encoder: GPUCommandEncoder | undefined
  let pass: GPUComputePassEncoder | undefined
  let used = 0
  const counters = { dispatches: 0, submits: 0 }

  const bindGroups = new Map<string, GPUBindGroup>()
  const bufferIds = new WeakMap<GPUBuffer, number>()
  let nextBufferId = 0
  const bufferId = (buffer: GPUBuffer): number => {
    let id = bufferIds.get(buffer)
    if (id === undefined) {
      id = nextBufferId++
      bufferIds.set(buffer, id)
    }
    return id
  }

  const bindGroupFor = (kernel: Kernel, key: string, bindings: ReadonlyArray<Binding>): GPUBindGroup => {
    let cacheKey = kernel.name
    for (const b of bindings) cacheKey += `|${bufferId(b.buffer)}:${b.offset}:${b.size}`
    const cached = bindGroups.get(cacheKey)
    if (cached !== undefined) return cached
    const entries: Array<GPUBindGroupEntry> = [
      { binding: 0, resource: { buffer: uniforms, offset: 0, size: PARAMS_SLOT_BYTES } }
    ]
    for (let i = 0; i < bindings.length; i++) {
      const b = bindings[i]
      entries.push({ binding: i + 1, resource: { buffer: b.buffer, offset: b.offset, size: b.size } })
    }
    const bindGroup = device.createBindGroup({ label: `${key}.bindGroup`, layout: kernel.layout, entries })
    if (bindGroups.size >= BIND_GROUP_CACHE_SIZE) bindGroups.clear()
    bindGroups.set(cacheKey, bindGroup)
    return bindGroup
  }

  let cursor = 0
  let limit = 0
  const writer: ParamWriter = {
    u32(value) {
      if (cursor >= limit) throw new Error("parameter block exceeds its 256-byte slot")
      words[cursor++] = value >>> 0
      return writer
    },
    f32(value) {
      if (cursor >= limit) throw new Error("parameter block exceeds its 256-byte slot")
      floats[cursor++] = value
      return writer
    }
  }

  const flush = (): void => {
    if (encoder === undefined || pass === undefined) return
    pass.end()
    device.queue.writeBuffer(uniforms, 0, arena, 0, used * PARAMS_SLOT_BYTES)
    device.queue.submit([encoder.finish()])
    counters.submits++
    encoder = undefined
    pass = undefined
    used = 0
  }

  const dispatch: Recorder["dispatch"] = (kernel, key, bindings, params, workgroups) => {
    const pipeline = kernel.pipelines.get(key)
    if (pipeline === undefined) throw new Error(`${kernel.name} has no pipeline ${key}`)
    if (used === slots) flush()
    if (encoder === undefined || pass === undefined) {
      encoder = device.createCommandEncoder({ label: "Recorder.encoder" })
      pass = encoder.beginComputePass({ label: "Recorder.pass" })
    }
    const slot = used++
    cursor = (slot * PARAMS_SLOT_BYTES) / 4
    limit = cursor + PARAMS_SLOT_BYTES / 4
    words.fill(0, cursor, limit)
    params(writer)
    pass.setPipeline(pipeline)
    pass.setBindGroup(0, bindGroupFor(kernel, key, bindings), [slot * PARAMS_SLOT_BYTES])
    pass.dispatchWorkgroups(workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1)
    counters.dispatches++
  }

  return { dispatch, pending: () => encoder !== undefined, flush, counters }
}
