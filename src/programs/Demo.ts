/**
 * A small regression task computed on the device, which the training tests (CPU, WebAssembly and GPU backends)
 * fit with an MLP: x ∼ N(0, I₈), y = [sin x₀ + x₁x₂, tanh(x₃ − x₄)]. It was the first-run demo's task; the first
 * run is now `npm start` (Start.ts), SWG on a toy and on Pendulum.
 */
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"

export const INPUTS = 8

/** The regression target, computed on the device: y = [sin x₀ + x₁x₂, tanh(x₃ − x₄)]. */
export const target = (B: TensorBackend, x: Tensor): Tensor => {
  const col = (i: number) => B.sliceCols(x, i, 1)
  const y0 = B.binary("add", B.unary("sin", col(0)), B.binary("mul", col(1), col(2)))
  const y1 = B.unary("tanh", B.binary("sub", col(3), col(4)))
  return B.concatCols([y0, y1])
}
