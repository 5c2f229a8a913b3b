/**
 * The unary ops of `src/domain/Activation.ts` in WGSL: `activate(op, x)` and
 * `activateDerivative(op, x)`, with op = the op's index in `UnaryOps`. Written to stay finite where the
 * f64 reference is (tanh and the gelu polynomial are evaluated on clamped arguments, whose results
 * equal the limits in f32). Concatenated into the unary and matmul kernels.
 */
import { type UnaryOp, UnaryOps } from "../../domain/Ops.ts"

/** The code a kernel receives for `op`: its index in `UnaryOps`. */
export const unaryOpCode = (op: UnaryOp): number => UnaryOps.indexOf(op)

const c = unaryOpCode

export const activationWgsl = /* wgsl */ `
const GELU_C = 0.7978845608028654;
const GELU_A = 0.044715;

fn sigmoidOf(x: f32) -> f32 {
  if (x >= 0.0) {
    return 1.0 / (1.0 + exp(-x));
  }
  let e = exp(x);
  return e / (1.0 + e);
}

fn softplusOf(x: f32) -> f32 {
  return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

fn tanhOf(x: f32) -> f32 {
  return tanh(clamp(x, -15.0, 15.0));
}

fn isFiniteF32(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn activate(op: u32, x: f32) -> f32 {
  switch op {
    case ${c("identity")}u: { return x; }
    case ${c("relu")}u: { return select(0.0, x, x > 0.0); }
    case ${c("silu")}u: { return x * sigmoidOf(x); }
    case ${c("mish")}u: { return x * tanhOf(softplusOf(x)); }
    case ${c("gelu")}u: { return 0.5 * x * (1.0 + tanhOf(GELU_C * (x + GELU_A * x * x * x))); }
    case ${c("tanh")}u: { return tanhOf(x); }
    case ${c("sigmoid")}u: { return sigmoidOf(x); }
    case ${c("softplus")}u: { return softplusOf(x); }
    case ${c("exp")}u: { return exp(x); }
    case ${c("log")}u: { return log(x); }
    case ${c("square")}u: { return x * x; }
    case ${c("sqrt")}u: { return sqrt(x); }
    case ${c("abs")}u: { return abs(x); }
    case ${c("sin")}u: { return sin(x); }
    case ${c("cos")}u: { return cos(x); }
    case ${c("finiteOrZero")}u: { return select(0.0, x, isFiniteF32(x)); }
    default: { return x; }
  }
}

fn activateDerivative(op: u32, x: f32) -> f32 {
  switch op {
    case ${c("identity")}u: { return 1.0; }
    case ${c("relu")}u: { return select(0.0, 1.0, x > 0.0); }
    case ${c("silu")}u: {
      let s = sigmoidOf(x);
      return s * (1.0 + x * (1.0 - s));
    }
    case ${c("mish")}u: {
      let t = tanhOf(softplusOf(x));
      return t + x * (1.0 - t * t) * sigmoidOf(x);
    }
    case ${c("gelu")}u: {
      let z = clamp(x, -15.0, 15.0);
      let t = tanhOf(GELU_C * (z + GELU_A * z * z * z));
      return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * z * z);
    }
    case ${c("tanh")}u: {
      let t = tanhOf(x);
      return 1.0 - t * t;
    }
    case ${c("sigmoid")}u: {
      let s = sigmoidOf(x);
      return s * (1.0 - s);
    }
    case ${c("softplus")}u: { return sigmoidOf(x); }
    case ${c("exp")}u: { return exp(x); }
    case ${c("log")}u: { return 1.0 / x; }
    case ${c("square")}u: { return 2.0 * x; }
    case ${c("sqrt")}u: { return 0.5 / sqrt(x); }
    case ${c("abs")}u: { return sign(x); }
    case ${c("sin")}u: { return cos(x); }
    case ${c("cos")}u: { return -sin(x); }
    case ${c("finiteOrZero")}u: { return select(0.0, 1.0, isFiniteF32(x)); }
    default: { return 1.0; }
  }
}
`
