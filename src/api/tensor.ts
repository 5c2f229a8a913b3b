/**
 * `diffusion-guided-rl/tensor`: the tensor engine. Row-major f32 tensors behind one synchronous op
 * interface (`TensorBackend`, what the `Backend` service's `ops` is), the CPU reference backend, the
 * counter-based Philox RNG, the tape (reverse-mode autodiff), flat parameters, modules and AdamW, and
 * the safetensors codec.
 */
export type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
export { IndexOutOfRange, ShapeError } from "../domain/Ops.ts"
export * as CpuBackend from "../domain/cpu/CpuBackend.ts"
export * as Rng from "../domain/Rng.ts"
export * as Safetensors from "../domain/Safetensors.ts"
export * as Tape from "../nn/Tape.ts"
export * as Parameters from "../nn/Parameters.ts"
export * as Model from "../nn/Model.ts"
export * as Optimizer from "../nn/Optimizer.ts"
export * as Linear from "../nn/Linear.ts"
export * as Mlp from "../nn/Mlp.ts"
export * as LnResNet from "../nn/LnResNet.ts"
export * as FourierFeatures from "../nn/FourierFeatures.ts"
