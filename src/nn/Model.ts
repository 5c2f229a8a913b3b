/**
 * A trainable model's device state: the flat parameters, their gradients, AdamW moments and an
 * optional EMA copy, all in the same layout. `trainStep` is one optimisation step recorded as a
 * single batch of work: forward, backward, AdamW, EMA; it allocates nothing that outlives it.
 */
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Optimizer from "./Optimizer.ts"
import * as Parameters from "./Parameters.ts"
import { Tape, type Var } from "./Tape.ts"

export interface Model {
  readonly layout: Parameters.Layout
  readonly params: Tensor
  readonly grads: Tensor
  readonly adam: Optimizer.AdamWState
  /** EMA of the parameters (what SWG/IDQL evaluate with), when asked for. */
  readonly ema: Tensor | undefined
}

export const create = (
  backend: TensorBackend,
  specs: ReadonlyArray<Parameters.ParamSpec>,
  key: RngKey,
  options: { readonly ema?: boolean } = {}
): Model => {
  const layout = Parameters.layout(specs)
  const init = Parameters.initialize(layout, key)
  const params = backend.upload(init, 1, layout.size)
  return {
    layout,
    params,
    grads: backend.zeros(1, layout.size),
    adam: Optimizer.adamwState(backend, params),
    ema: options.ema ? backend.upload(init, 1, layout.size) : undefined
  }
}

export interface StepOptions {
  readonly lr: number
  readonly adamw: Optimizer.AdamWConfig
  /** EMA rate per step (SWG/IDQL: 0.001); ignored without an EMA copy. */
  readonly emaRate: number
  /** Dropout stream for this step. */
  readonly rng: RngKey
}

/** One step; returns the loss tensor [1, 1] (read it only every N steps: reading waits). */
export const trainStep = (
  backend: TensorBackend,
  model: Model,
  options: StepOptions,
  loss: (p: Parameters.Bound) => Var
): Tensor =>
  backend.scope(() => {
    const tape = new Tape(backend, { training: true, rng: options.rng })
    const p = new Parameters.Bound(tape, model.layout, model.params)
    const l = loss(p)
    p.gradInto(l, model.grads)
    Optimizer.adamwStep(backend, options.adamw, model.adam, model.params, model.grads, options.lr)
    if (model.ema !== undefined) backend.ema(model.ema, model.params, options.emaRate)
    return l.value
  })

/** Parameters for inference: a tape without dropout over `flat` (the EMA copy or the live one). */
export const bind = (backend: TensorBackend, model: Model, flat: Tensor = model.ema ?? model.params) => {
  const tape = new Tape(backend)
  return new Parameters.Bound(tape, model.layout, flat)
}
