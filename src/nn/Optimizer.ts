/**
 * AdamW over a model's flat parameter buffer (one fused kernel per step) and the EMA copy of the
 * weights that SWG/IDQL evaluate with. Defaults are optax.adamw's (b1 0.9, b2 0.999, eps 1e-8,
 * weight decay 1e-4).
 */
import type { AdamWParams } from "../domain/Ops.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"

export interface AdamWConfig {
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
}

export const adamwDefaults: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4 }

export interface AdamWState {
  readonly m: Tensor
  readonly v: Tensor
  /** Steps taken so far. */
  step: number
}

export const adamwState = (backend: TensorBackend, params: Tensor): AdamWState => ({
  m: backend.zeros(params.rows, params.cols),
  v: backend.zeros(params.rows, params.cols),
  step: 0
})

/** One AdamW step at learning rate `lr`: params, m and v change in place. */
export const adamwStep = (
  backend: TensorBackend,
  config: AdamWConfig,
  state: AdamWState,
  params: Tensor,
  grads: Tensor,
  lr: number
): void => {
  state.step += 1
  const hp: AdamWParams = { ...config, lr, step: state.step }
  backend.adamw(params, grads, state.m, state.v, hp)
}
