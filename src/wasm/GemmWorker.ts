/**
 * A matmul worker thread (see Threads.ts): waits for a new generation, takes row chunks of the
 * posted product until none is left, counts down and notifies. Any exception sets the FAILED word
 * instead of leaving the main thread waiting.
 */
import { workerData } from "node:worker_threads"
import { readProblem } from "./Gemm.ts"
import { instantiate } from "./Kernels.ts"
import { FAILED, GENERATION, PENDING, PROBLEM, READY, STOP, takeChunks, type WorkerData } from "./Threads.ts"

const { module, memory, control, scratch } = workerData as WorkerData
const kernels = instantiate(module, memory)
const ctl = new Int32Array(control)
// Generation 0 is "no work yet"; the main thread posts work only after every worker is READY.
let seen = 0
Atomics.add(ctl, READY, 1)
for (;;) {
  // With a timeout, so that a missed wake-up costs a second, not the process.
  if (Atomics.wait(ctl, GENERATION, seen, 1000) === "timed-out") continue
  seen = Atomics.load(ctl, GENERATION)
  if (Atomics.load(ctl, STOP) !== 0) break
  try {
    takeChunks(kernels, ctl, readProblem(ctl, PROBLEM), scratch)
  } catch {
    Atomics.store(ctl, FAILED, 1)
  } finally {
    if (Atomics.sub(ctl, PENDING, 1) === 1) Atomics.notify(ctl, PENDING)
  }
}
