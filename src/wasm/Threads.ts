/**
 * Worker threads for large matrix products. Each worker instantiates the kernel module over the
 * backend's shared memory and sleeps in `Atomics.wait` on a control word. A product is posted by
 * writing its words into the control block, bumping the generation and notifying; then every
 * thread, the main one included, takes row chunks from a shared counter until none is left, and
 * the main thread waits until every worker has counted down, so `run` is synchronous like every
 * op. Chunks are taken, not assigned: on a shared machine a worker that is not scheduled leaves
 * its chunks to the others instead of holding everyone up. Workers are unref'd (they never keep
 * the process alive). Until every worker has said it is ready (they start in the background),
 * `ready` is false and the backend computes on the main thread alone, so nothing ever waits on a
 * thread that is starting.
 */
import { Worker } from "node:worker_threads"
import { type GemmProblem, gemmRows, type GemmScratch, PROBLEM_WORDS, writeProblem } from "./Gemm.ts"
import type { KernelExports } from "./Kernels.ts"

/** Control block words. */
export const GENERATION = 0
export const PENDING = 1
export const STOP = 2
export const FAILED = 3
/** Workers that have instantiated the kernels and wait for work. */
export const READY = 4
/** The next chunk to take, the number of chunks and the rows per chunk. */
export const NEXT = 5
export const CHUNKS = 6
export const CHUNK_ROWS = 7
export const PROBLEM = 8
const WORDS = PROBLEM + PROBLEM_WORDS
/** How long the main thread waits for the workers before it wakes them again (ms). */
const WAKE_RETRY_MS = 100

export interface WorkerData {
  readonly module: WebAssembly.Module
  readonly memory: WebAssembly.Memory
  readonly control: SharedArrayBuffer
  readonly scratch: GemmScratch
}

/** Takes chunks of the posted product until none is left (on any thread). */
export const takeChunks = (K: KernelExports, ctl: Int32Array, p: GemmProblem, scratch: GemmScratch): void => {
  const chunks = ctl[CHUNKS]
  const rows = ctl[CHUNK_ROWS]
  for (let c = Atomics.add(ctl, NEXT, 1); c < chunks; c = Atomics.add(ctl, NEXT, 1)) {
    gemmRows(K, p, c * rows, Math.min(p.m, (c + 1) * rows), scratch)
  }
}

export interface ThreadPool {
  /** Worker threads (the main thread is one more). */
  readonly workers: number
  /** True once every worker waits for work. */
  readonly ready: () => boolean
  /** Why a worker stopped, if one did (the pool is then never ready). */
  readonly failure: () => string | undefined
  /**
   * Computes the rows of `p` in chunks of `chunkRows` on all threads, returning when all are done.
   * Throws when a worker failed.
   */
  readonly run: (p: GemmProblem, chunkRows: number) => void
  readonly close: () => void
}

export const make = (
  workers: number,
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  kernels: KernelExports,
  scratch: (slot: number) => GemmScratch
): ThreadPool => {
  const control = new SharedArrayBuffer(4 * WORDS)
  const ctl = new Int32Array(control)
  let failure: string | undefined
  const threads = Array.from({ length: workers }, (_, slot) => {
    const data: WorkerData = { module, memory, control, scratch: scratch(slot) }
    const w = new Worker(new URL("./GemmWorker.ts", import.meta.url), { workerData: data })
    w.unref()
    w.on("error", (e) => {
      failure = String(e)
    })
    return w
  })
  const mainScratch = scratch(workers)
  const run = (p: GemmProblem, chunkRows: number): void => {
    writeProblem(p, ctl, PROBLEM)
    ctl[NEXT] = 0
    ctl[CHUNKS] = Math.ceil(p.m / chunkRows)
    ctl[CHUNK_ROWS] = chunkRows
    Atomics.store(ctl, PENDING, workers)
    Atomics.add(ctl, GENERATION, 1)
    Atomics.notify(ctl, GENERATION)
    try {
      takeChunks(kernels, ctl, p, mainScratch)
    } finally {
      // Even when the main thread's share throws: the next product must not be posted while a
      // worker still counts this one down (its late decrement would end the next wait early and
      // leave PENDING at −1, a wait that never ends).
      for (let left = Atomics.load(ctl, PENDING); left > 0; left = Atomics.load(ctl, PENDING)) {
        // Re-notify on a timeout: a worker that missed the wake-up (seen once under heavy load:
        // both threads asleep in Atomics.wait, the process stuck) is woken again.
        if (Atomics.wait(ctl, PENDING, left, WAKE_RETRY_MS) === "timed-out") Atomics.notify(ctl, GENERATION)
      }
    }
    if (Atomics.exchange(ctl, FAILED, 0) !== 0) throw new Error("wasm backend: a matmul worker failed")
  }
  const close = (): void => {
    Atomics.store(ctl, STOP, 1)
    Atomics.add(ctl, GENERATION, 1)
    Atomics.notify(ctl, GENERATION)
    for (const t of threads) void t.terminate()
  }
  const ready = () => failure === undefined && Atomics.load(ctl, READY) === workers
  return { workers, ready, failure: () => failure, run, close }
}
