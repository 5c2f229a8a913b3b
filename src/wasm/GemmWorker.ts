/**
 * A matmul worker thread (see Threads.ts): waits for a new generation, computes its row range of
 * the posted product, counts down and notifies. Any exception sets the FAILED word instead of
 * leaving the main thread waiting.
 */
import { workerData } from "node:worker_threads"
import { gemmRows, readProblem } from "./Gemm.ts"
import { instantiate } from "./Kernels.ts"
import { FAILED, GENERATION, PENDING, PROBLEM, READY, ROWS, STOP, type WorkerData } from "./Threads.ts"

const { module, memory, control, slot, scratch } = workerData as WorkerData
const kernels = instantiate(module, memory)
const ctl = new Int32Array(control)
// Generation 0 is "no work yet"; the main thread posts work only after every worker is READY.
let seen = 0
Atomics.add(ctl, READY, 1)
for (;;) {
  Atomics.wait(ctl, GENERATION, seen)
  seen = Atomics.load(ctl, GENERATION)
  if (Atomics.load(ctl, STOP) !== 0) break
  try {
    const r0 = ctl[ROWS + 2 * slot]
    const r1 = ctl[ROWS + 2 * slot + 1]
    if (r1 > r0) gemmRows(kernels, readProblem(ctl, PROBLEM), r0, r1, scratch)
  } catch {
    Atomics.store(ctl, FAILED, 1)
  } finally {
    if (Atomics.sub(ctl, PENDING, 1) === 1) Atomics.notify(ctl, PENDING)
  }
}
