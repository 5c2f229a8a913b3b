/**
 * The buffer pool's out-of-memory check, on a stand-in device (no GPU needed): every new buffer is created inside
 * an out-of-memory error scope and a refused one is reported once, with its size; reused buffers open no scope.
 */
import { describe, expect, it } from "vitest"
import { makeBufferPool } from "../../src/gpu/BufferPool.ts"

/** A device whose `refuse`-th buffer creation (1-based) an out-of-memory scope reports. */
const standIn = (refuse: number) => {
  const scopes: Array<string> = []
  let creations = 0
  let refused = false
  const device = {
    pushErrorScope: (filter: string) => void scopes.push(filter),
    createBuffer: ({ size }: { size: number }) => {
      creations++
      if (creations === refuse) refused = true
      return { size } as unknown as GPUBuffer
    },
    popErrorScope: () => {
      const filter = scopes.pop()
      const error = filter === "out-of-memory" && refused ? { message: "Out of memory" } : null
      refused = false
      return Promise.resolve(error as GPUError | null)
    }
  } as unknown as GPUDevice
  return { device, scopes }
}

describe("BufferPool allocation failures", () => {
  it("reports the refused creation once, with its size class, and nothing when none was refused", async () => {
    const { device, scopes } = standIn(2)
    const pool = makeBufferPool(device, 0, "t")
    const first = pool.acquire(1000)
    expect(await pool.takeAllocationFailure()).toBeUndefined()
    pool.acquire(5000) // the second creation: refused
    pool.acquire(300)
    expect(await pool.takeAllocationFailure()).toEqual({ bytes: 5120, message: "Out of memory" })
    expect(await pool.takeAllocationFailure()).toBeUndefined()
    expect(scopes).toEqual([]) // every scope pushed was popped
    // a reused buffer opens no scope and creates nothing
    pool.release(first)
    const created = pool.created()
    let pushed = 0
    const push = device.pushErrorScope.bind(device)
    device.pushErrorScope = (f: GPUErrorFilter) => { pushed++; push(f) }
    pool.acquire(1000)
    expect(pool.created()).toBe(created)
    expect(pushed).toBe(0)
  })
})
