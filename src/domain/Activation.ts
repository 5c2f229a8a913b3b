/**
 * Scalar definitions of the unary ops and their derivatives, in f64: the reference for the CPU
 * backend and for every WGSL kernel that applies them. `gelu` is the tanh approximation
 * (Hendrycks & Gimpel 2016, JAX's default `approximate=True`).
 */
import type { UnaryOp } from "./Ops.ts"

const GELU_C = Math.sqrt(2 / Math.PI)
const GELU_A = 0.044715

export const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)))

/** log(1 + eˣ) without overflow. */
export const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)))

export const apply = (op: UnaryOp, x: number): number => {
  switch (op) {
    case "identity": return x
    case "relu": return x > 0 ? x : 0
    case "silu": return x * sigmoid(x)
    case "mish": return x * Math.tanh(softplus(x))
    case "gelu": return 0.5 * x * (1 + Math.tanh(GELU_C * (x + GELU_A * x * x * x)))
    case "tanh": return Math.tanh(x)
    case "sigmoid": return sigmoid(x)
    case "softplus": return softplus(x)
    case "exp": return Math.exp(x)
    case "log": return Math.log(x)
    case "square": return x * x
    case "sqrt": return Math.sqrt(x)
    case "abs": return Math.abs(x)
    case "sin": return Math.sin(x)
    case "cos": return Math.cos(x)
    case "finiteOrZero": return Number.isFinite(x) ? x : 0
  }
}

/** op'(x). */
export const derivative = (op: UnaryOp, x: number): number => {
  switch (op) {
    case "identity": return 1
    case "relu": return x > 0 ? 1 : 0
    case "silu": {
      const s = sigmoid(x)
      return s * (1 + x * (1 - s))
    }
    case "mish": {
      const t = Math.tanh(softplus(x))
      return t + x * (1 - t * t) * sigmoid(x)
    }
    case "gelu": {
      const t = Math.tanh(GELU_C * (x + GELU_A * x * x * x))
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x)
    }
    case "tanh": {
      const t = Math.tanh(x)
      return 1 - t * t
    }
    case "sigmoid": {
      const s = sigmoid(x)
      return s * (1 - s)
    }
    case "softplus": return sigmoid(x)
    case "exp": return Math.exp(x)
    case "log": return 1 / x
    case "square": return 2 * x
    case "sqrt": return 0.5 / Math.sqrt(x)
    case "abs": return x > 0 ? 1 : x < 0 ? -1 : 0
    case "sin": return Math.cos(x)
    case "cos": return -Math.sin(x)
    case "finiteOrZero": return Number.isFinite(x) ? 1 : 0
  }
}
