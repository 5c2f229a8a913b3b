/**
 * unary: y = f(x) for every UnaryOp (OP = its index in UnaryOps), plus affine (a·x + b) and clamp
 * (min(max(x, a), b)).
 * unaryBackward: dx = dy·f'(x), plus the clamp window (dy where a ≤ x ≤ b, else 0).
 * Four elements per invocation: the bindings are read as vec4 (ranges rounded up to 16 bytes, which
 * pooled storage always has), and the last, partial group is stored component by component so
 * nothing past n is written.
 * Bindings: 0 params, 1 x (read), 2 dy (read; unused by `unary`), 3 y (write).
 * Dispatch: grid1d(⌈n/4⌉, WORKGROUP_SIZE); one pipeline per OP.
 * Reference: Activation.apply / Activation.derivative and CpuBackend's affine, clamp, clampBackward.
 */
import { activationWgsl } from "../wgsl/activation.wgsl.ts"

/** Op codes beyond the UnaryOps indices. */
export const UNARY_AFFINE = 100
export const UNARY_CLAMP = 101

export const unaryWgsl = /* wgsl */ `
struct Params { n: u32, a: f32, b: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> dy: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>;

override OP: u32;
override WORKGROUP_SIZE: u32 = 256u;
${activationWgsl}
fn store(t: u32, v: vec4f) {
  if (4u * t + 4u <= params.n) {
    y[t] = v;
    return;
  }
  for (var k = 0u; 4u * t + k < params.n; k++) {
    y[t][k] = v[k];
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn unary(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (4u * t >= params.n) {
    return;
  }
  let v = x[t];
  switch OP {
    case ${UNARY_AFFINE}u: { store(t, params.a * v + params.b); }
    case ${UNARY_CLAMP}u: { store(t, min(max(v, vec4f(params.a)), vec4f(params.b))); }
    default: { store(t, activate(OP, v)); }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn unaryBackward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (4u * t >= params.n) {
    return;
  }
  let v = x[t];
  switch OP {
    case ${UNARY_CLAMP}u: {
      store(t, select(vec4f(0.0), dy[t], (v >= vec4f(params.a)) & (v <= vec4f(params.b))));
    }
    default: { store(t, dy[t] * activateDerivative(OP, v)); }
  }
}
`
