/**
 * unary: y[i] = f(x[i]) for every UnaryOp (op = its index in UnaryOps), plus affine (a·x + b) and
 * clamp (min(max(x, a), b)).
 * unaryBackward: dx[i] = dy[i]·f'(x[i]), plus the clamp window (dy where a ≤ x ≤ b, else 0).
 * Bindings: 0 params, 1 x (read), 2 dy (read; unused by `unary`), 3 y (write).
 * Dispatch: grid1d(n, WORKGROUP_SIZE), one invocation per element.
 * Reference: Activation.apply / Activation.derivative and CpuBackend's affine, clamp, clampBackward.
 */
import { activationWgsl } from "../wgsl/activation.wgsl.ts"

/** Op codes beyond the UnaryOps indices. */
export const UNARY_AFFINE = 100
export const UNARY_CLAMP = 101

export const unaryWgsl = /* wgsl */ `
struct Params { n: u32, op: u32, a: f32, b: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;
${activationWgsl}
@compute @workgroup_size(WORKGROUP_SIZE)
fn unary(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.n) {
    return;
  }
  let v = x[i];
  switch params.op {
    case ${UNARY_AFFINE}u: { y[i] = params.a * v + params.b; }
    case ${UNARY_CLAMP}u: { y[i] = min(max(v, params.a), params.b); }
    default: { y[i] = activate(params.op, v); }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn unaryBackward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.n) {
    return;
  }
  let v = x[i];
  switch params.op {
    case ${UNARY_CLAMP}u: { y[i] = select(0.0, dy[i], v >= params.a && v <= params.b); }
    default: { y[i] = dy[i] * activateDerivative(params.op, v); }
  }
}
`
