/**
 * Worker threads for large matrix products. Each worker instantiates the kernel module over the
 * backend's shared memory and sleeps in `Atomics.wait` on a control word; a product is posted by
 * writing its words into the control block, bumping the generation and notifying. The main thread
 * computes its own share of the rows meanwhile, then waits until every worker has counted down,
 * so `run` is synchronous like every op. Workers are unref'd: they never keep the process alive.
 * Until every worker has said it is ready (they start in the background), `ready` is false and the
 * backend computes on the main thread alone, so nothing ever waits on a thread that is starting.
 */
import { Worker } from "node:worker_threads"
import { type GemmProblem, type GemmScratch, PROBLEM_WORDS, writeProblem } from "./Gemm.ts"

/** Control block words. */
export const GENERATION = 0
export const PENDING = 1
export const STOP = 2
export const FAILED = 3
/** Workers that have instantiated the kernels and wait for work. */
export const READY = 4
export const PROBLEM = 5
/** Row range of worker w: words ROWS + 2w, ROWS + 2w + 1. */
export const ROWS = PROBLEM + PROBLEM_WORDS

export interface WorkerData {
  readonly module: WebAssembly.Module
  readonly memory: WebAssembly.Memory
  readonly control: SharedArrayBuffer
  readonly slot: number
  readonly scratch: GemmScratch
}

export interface ThreadPool {
  /** Worker threads (the main thread is one more). */
  readonly workers: number
  /** True once every worker waits for work. */
  readonly ready: () => boolean
  /** Why a worker stopped, if one did (the pool is then never ready). */
  readonly failure: () => string | undefined
  /**
   * Computes `share` on the main thread and the rows in `ranges[w]` on worker w, returning when
   * all are done. Throws when a worker failed.
   */
  readonly run: (p: GemmProblem, ranges: ReadonlyArray<readonly [number, number]>, share: () => void) => void
  readonly close: () => void
}

export const make = (
  workers: number,
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  scratch: (slot: number) => GemmScratch
): ThreadPool => {
  const control = new SharedArrayBuffer(4 * (ROWS + 2 * workers))
  const ctl = new Int32Array(control)
  let failure: string | undefined
  const threads = Array.from({ length: workers }, (_, slot) => {
    const data: WorkerData = { module, memory, control, slot, scratch: scratch(slot) }
    const w = new Worker(new URL("./GemmWorker.ts", import.meta.url), { workerData: data })
    w.unref()
    w.on("error", (e) => {
      failure = String(e)
    })
    return w
  })
  const run = (p: GemmProblem, ranges: ReadonlyArray<readonly [number, number]>, share: () => void): void => {
    writeProblem(p, ctl, PROBLEM)
    for (let w = 0; w < workers; w++) {
      ctl[ROWS + 2 * w] = ranges[w][0]
      ctl[ROWS + 2 * w + 1] = ranges[w][1]
    }
    Atomics.store(ctl, PENDING, workers)
    Atomics.add(ctl, GENERATION, 1)
    Atomics.notify(ctl, GENERATION)
    share()
    for (let left = Atomics.load(ctl, PENDING); left !== 0; left = Atomics.load(ctl, PENDING)) {
      Atomics.wait(ctl, PENDING, left)
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
