/**
 * The unary ops of `src/domain/Activation.ts` in WGSL, on vec4f (four elements at once; scalar
 * callers splat): `activate(op, x)` and `activateDerivative(op, x)`, op = the op's index in
 * `UnaryOps`. Kernels pass op as an `override` constant so the switch folds to one case. Written to
 * stay finite where the f64 reference is (tanh and the gelu polynomial are evaluated on clamped
 * arguments, whose results equal the limits in f32). Concatenated into the unary and matmul kernels.
 */
import { type UnaryOp, UnaryOps } from "../../domain/Ops.ts"

/** The code a kernel receives for `op`: its index in `UnaryOps`. */
export const unaryOpCode = (op: UnaryOp): number => UnaryOps.indexOf(op)

const c = unaryOpCode

export const activationWgsl = /* wgsl */ `
const GELU_C = 0.7978845608028654;
const GELU_A = 0.044715;

// 1/(1 + e^-x) for x ≥ 0 and e^x/(1 + e^x) below, both from e^-|x| so nothing overflows.
fn sigmoidOf(x: vec4f) -> vec4f {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= vec4f(0.0));
}

fn softplusOf(x: vec4f) -> vec4f {
  return max(x, vec4f(0.0)) + log(1.0 + exp(-abs(x)));
}

fn tanhOf(x: vec4f) -> vec4f {
  return tanh(clamp(x, vec4f(-15.0), vec4f(15.0)));
}

fn isFiniteOf(x: vec4f) -> vec4<bool> {
  return (bitcast<vec4u>(x) & vec4u(0x7f800000u)) != vec4u(0x7f800000u);
}

fn activate(op: u32, x: vec4f) -> vec4f {
  switch op {
    case ${c("identity")}u: { return x; }
    case ${c("relu")}u: { return select(vec4f(0.0), x, x > vec4f(0.0)); }
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
    case ${c("finiteOrZero")}u: { return select(vec4f(0.0), x, isFiniteOf(x)); }
    default: { return x; }
  }
}

fn activateDerivative(op: u32, x: vec4f) -> vec4f {
  switch op {
    case ${c("identity")}u: { return vec4f(1.0); }
    case ${c("relu")}u: { return select(vec4f(0.0), vec4f(1.0), x > vec4f(0.0)); }
    case ${c("silu")}u: {
      let s = sigmoidOf(x);
      return s * (1.0 + x * (1.0 - s));
    }
    case ${c("mish")}u: {
      let t = tanhOf(softplusOf(x));
      return t + x * (1.0 - t * t) * sigmoidOf(x);
    }
    case ${c("gelu")}u: {
      let z = clamp(x, vec4f(-15.0), vec4f(15.0));
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
    case ${c("finiteOrZero")}u: { return select(vec4f(0.0), vec4f(1.0), isFiniteOf(x)); }
    default: { return vec4f(1.0); }
  }
}
`
