/**
 * The WASM backend's memory: one shared `WebAssembly.Memory` (so worker threads compute on the
 * same bytes) carved into allocations by size class, like the GPU backend's buffer pool: a request
 * gets the smallest m·2^e ≥ bytes with m ∈ {4, 5, 6, 7} (at least 256 bytes, so every allocation
 * starts on a 64-byte boundary), freed blocks are reused per class, and the memory grows when no
 * free block fits. Scopes record allocations in frames; closing one frees those the caller does
 * not keep. Owners that become unreachable without being freed are freed by a
 * FinalizationRegistry, so code written for the garbage-collected CPU backend does not leak; the
 * backend registers an allocation made inside a scope only if it leaves the outermost scope (a
 * registration and its removal cost about as much as the allocation itself).
 */
import { MemoryLimit } from "../domain/Ops.ts"
import { MAX_PAGES } from "./Kernels.ts"

/** One block of the memory; `live` turns false when it is freed. */
export class Allocation {
  readonly byteOffset: number
  /** The block's size in bytes (its size class). */
  readonly bytes: number
  live = true
  /** Registered with the arena's FinalizationRegistry (see `Arena.track`). */
  tracked = false
  /** Bumped by every op that writes into existing storage (caches of its contents compare it). */
  version = 0
  constructor(byteOffset: number, bytes: number) {
    this.byteOffset = byteOffset
    this.bytes = bytes
  }
}

export const sizeClass = (bytes: number): number => {
  if (bytes <= 256) return 256
  const step = 2 ** (Math.floor(Math.log2(bytes)) - 2)
  return Math.ceil(bytes / step) * step
}

const PAGE = 65536
/** Bytes kept free above the last block. */
const GUARD = 64

export class Arena {
  readonly memory: WebAssembly.Memory
  private readonly free = new Map<number, Array<number>>()
  private readonly frames: Array<Array<Allocation>> = []
  private readonly registry = new FinalizationRegistry<Allocation>((a) => this.release(a))
  /** First byte never handed out; address 0..255 stays reserved so 0 can mean "absent". */
  private top = 256
  /** Blocks handed out since the arena was made. */
  created = 0

  constructor(initialBytes = 16 * 2 ** 20) {
    const pages = Math.ceil(initialBytes / PAGE)
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true })
  }

  /** A block of at least `bytes` bytes; `scoped` false keeps it out of the open scope (caches). */
  acquire(bytes: number, scoped = true): Allocation {
    const size = sizeClass(bytes)
    const reused = this.free.get(size)?.pop()
    const allocation = new Allocation(reused ?? this.carve(size), size)
    if (reused === undefined) this.created++
    if (scoped) this.frames.at(-1)?.push(allocation)
    return allocation
  }

  private carve(size: number): number {
    const offset = this.top
    const end = offset + size
    const have = this.memory.buffer.byteLength
    if (end + GUARD > have) {
      // Grow by at least half the current size, so growth is rare.
      const pages = Math.max(Math.ceil((end + GUARD - have) / PAGE), Math.ceil(have / PAGE / 2))
      const allowed = Math.min(pages, MAX_PAGES - have / PAGE)
      if (have / PAGE + allowed < Math.ceil((end + GUARD) / PAGE)) {
        throw new MemoryLimit({ backend: "wasm", bytes: size, inUse: offset, limit: MAX_PAGES * PAGE })
      }
      this.memory.grow(allowed)
    }
    this.top = end
    return offset
  }

  /** Frees a block (idempotent). */
  release(allocation: Allocation): void {
    if (!allocation.live) return
    allocation.live = false
    if (allocation.tracked) this.registry.unregister(allocation)
    const list = this.free.get(allocation.bytes)
    if (list === undefined) this.free.set(allocation.bytes, [allocation.byteOffset])
    else list.push(allocation.byteOffset)
  }

  /** Frees `allocation` when `owner` becomes unreachable, unless it was freed before. */
  track(owner: object, allocation: Allocation): void {
    if (allocation.tracked || !allocation.live) return
    allocation.tracked = true
    this.registry.register(owner, allocation, allocation)
  }

  /** True inside a scope: a new allocation is then freed by the scope's exit or returned from it. */
  get scoped(): boolean {
    return this.frames.length > 0
  }

  /** `length` f32s at byte `offset`, over the memory's current buffer. */
  floats(offset: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, offset, length)
  }

  enter(): void {
    this.frames.push([])
  }

  /** Closes the innermost frame, freeing its live allocations not in `keep`. */
  exit(keep: ReadonlySet<Allocation>): void {
    const frame = this.frames.pop()
    if (frame === undefined) throw new Error("Arena.exit without a matching enter")
    const parent = this.frames.at(-1)
    for (const allocation of frame) {
      if (!allocation.live) continue
      if (keep.has(allocation)) parent?.push(allocation)
      else this.release(allocation)
    }
  }

  /** Bytes of the memory in use or free for reuse. */
  get reserved(): number {
    return this.top
  }
}
