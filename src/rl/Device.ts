/**
 * What an agent's `act` needs of a backend: the synchronous ops, and a read-back as an effect that
 * fails with the backend's own typed error. The Backend service has this shape (a failed GPU read
 * is its `GpuError`), so programs pass it as it is; tests can wrap bare ops.
 */
import type { Effect } from "effect"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"

export interface Device<E> {
  readonly ops: TensorBackend
  /** Reads a tensor back to the host, waiting for pending work. */
  readonly read: (t: Tensor) => Effect.Effect<Float32Array, E>
}
