/**
 * Device buffers are pooled by size class and never destroyed before the device: on Dawn's Vulkan
 * backend a buffer that received `queue.writeBuffer` is not freed by `destroy()` (measured on lavapipe),
 * so a training loop must reuse buffers rather than allocate per step. Because commands execute in
 * queue order, a buffer can return to the pool as soon as its last use is recorded.
 *
 * Scopes: every allocation made while a scope is open is recorded in the innermost frame; closing
 * the frame releases those not in the caller's reachable set and hands the rest to the parent frame.
 */

/** One acquisition of a pooled buffer; `live` turns false when it goes back to the pool. */
export class Allocation {
  readonly buffer: GPUBuffer
  /** The buffer's size in bytes (its size class). */
  readonly bytes: number
  live = true
  constructor(buffer: GPUBuffer, bytes: number) {
    this.buffer = buffer
    this.bytes = bytes
  }
}

/** A size-class pool of device buffers with nested scopes. */
export interface BufferPool {
  /** A buffer of at least `bytes` bytes, reused when one of its size class is free. */
  acquire(bytes: number): Allocation
  /** Returns an allocation's buffer to the pool (idempotent). */
  release(allocation: Allocation): void
  /** Opens a scope frame. */
  enter(): void
  /** Closes the innermost frame, releasing its allocations that are not in `keep`. */
  exit(keep: ReadonlySet<Allocation>): void
  /** Buffers created since the pool was made. */
  readonly created: () => number
  /** Allocations acquired and not yet released (flat over a loop that leaks nothing). */
  readonly live: () => number
  /**
   * The first buffer creation Dawn refused for lack of memory since the last call (its size and Dawn's message),
   * once every creation's error scope has resolved; undefined when there was none. Each new buffer (not a reused
   * one) is created inside an out-of-memory error scope: a device can run out below its per-buffer limits.
   */
  readonly takeAllocationFailure: () => Promise<{ readonly bytes: number; readonly message: string } | undefined>
}

/**
 * The size class of a request: the smallest m·2^e ≥ bytes with m ∈ {4, 5, 6, 7}, at least 256 bytes.
 * Classes are at most 25 % larger than the request.
 */
export const sizeClass = (bytes: number): number => {
  if (bytes <= 256) return 256
  const e = Math.floor(Math.log2(bytes)) - 2
  const step = 2 ** e
  return Math.ceil(bytes / step) * step
}

/** A pool creating buffers with `usage`, labelled `label[size]`. */
export const makeBufferPool = (
  device: GPUDevice,
  usage: number,
  label: string
): BufferPool => {
  const free = new Map<number, Array<GPUBuffer>>()
  const frames: Array<Array<Allocation>> = []
  let created = 0
  let live = 0

  const acquire = (bytes: number): Allocation => {
    const size = sizeClass(bytes)
    const buffer = free.get(size)?.pop() ?? createBuffer(size)
    const allocation = new Allocation(buffer, size)
    live++
    frames.at(-1)?.push(allocation)
    return allocation
  }

  const pending = new Set<Promise<void>>()
  let failure: { readonly bytes: number; readonly message: string } | undefined

  const createBuffer = (size: number): GPUBuffer => {
    created++
    device.pushErrorScope("out-of-memory")
    const buffer = device.createBuffer({ label: `${label}[${size}]`, size, usage })
    const check: Promise<void> = device.popErrorScope().then(
      (error) => {
        if (error !== null && failure === undefined) failure = { bytes: size, message: error.message }
      },
      () => undefined // a lost device rejects every scope: the read that follows reports it
    ).finally(() => pending.delete(check))
    pending.add(check)
    return buffer
  }

  const takeAllocationFailure = async () => {
    if (pending.size > 0) await Promise.all(pending)
    const taken = failure
    failure = undefined
    return taken
  }

  const release = (allocation: Allocation): void => {
    if (!allocation.live) return
    allocation.live = false
    live--
    const list = free.get(allocation.bytes)
    if (list === undefined) free.set(allocation.bytes, [allocation.buffer])
    else list.push(allocation.buffer)
  }

  const exit = (keep: ReadonlySet<Allocation>): void => {
    const frame = frames.pop()
    if (frame === undefined) throw new Error("BufferPool.exit without a matching enter")
    const parent = frames.at(-1)
    for (const allocation of frame) {
      if (!allocation.live) continue
      if (keep.has(allocation)) parent?.push(allocation)
      else release(allocation)
    }
  }

  return { acquire, release, enter: () => void frames.push([]), exit, created: () => created, live: () => live, takeAllocationFailure }
}
