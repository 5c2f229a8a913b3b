/**
 * binary: out[r, c] = a[r, c] ∘ b[r, c] with broadcasting: each operand is read at
 * r·rowStride + c·colStride, so a [1, c] operand has rowStride 0 and a [r, 1] one colStride 0.
 * binaryBackward: da = ∂(a∘b)/∂a · dy and db = ∂(a∘b)/∂b · dy, both at the output shape; ties of
 * max/min send the gradient to a.
 * binarySame / binaryBackwardSame: the same when neither operand broadcasts, four elements per
 * invocation through vec4 views of the bindings (the last, partial group stored per component).
 * Bindings: 0 params, 1 a, 2 b, 3 dy (read; dy unused forward), 4 out | da, 5 db (write; db unused
 * forward).
 * Dispatch: grid1d(rows·cols, WORKGROUP_SIZE), or grid1d(⌈rows·cols/4⌉, …) for the *Same entry
 * points; one pipeline per entry point and OP (the op's index in BinaryOps).
 * Reference: CpuBackend.binary / binaryBackward.
 */
import { type BinaryOp, BinaryOps } from "../../domain/Ops.ts"

/** The code the kernel receives for `op`: its index in `BinaryOps`. */
export const binaryOpCode = (op: BinaryOp): number => BinaryOps.indexOf(op)

const c = binaryOpCode

export const binaryWgsl = /* wgsl */ `
struct Params {
  rows: u32,
  cols: u32,
  aRowStride: u32,
  aColStride: u32,
  bRowStride: u32,
  bColStride: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> db: array<f32>;
@group(0) @binding(1) var<storage, read> a4: array<vec4f>;
@group(0) @binding(2) var<storage, read> b4: array<vec4f>;
@group(0) @binding(3) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> db4: array<vec4f>;

override OP: u32;
override WORKGROUP_SIZE: u32 = 256u;

fn apply(x: vec4f, y: vec4f) -> vec4f {
  switch OP {
    case ${c("add")}u: { return x + y; }
    case ${c("sub")}u: { return x - y; }
    case ${c("mul")}u: { return x * y; }
    case ${c("div")}u: { return x / y; }
    case ${c("max")}u: { return max(x, y); }
    case ${c("min")}u: { return min(x, y); }
    default: { return vec4f(0.0); }
  }
}

struct Partials { da: vec4f, db: vec4f }

fn partials(x: vec4f, y: vec4f) -> Partials {
  let one = vec4f(1.0);
  let zero = vec4f(0.0);
  switch OP {
    case ${c("add")}u: { return Partials(one, one); }
    case ${c("sub")}u: { return Partials(one, -one); }
    case ${c("mul")}u: { return Partials(y, x); }
    case ${c("div")}u: { return Partials(one / y, -x / (y * y)); }
    case ${c("max")}u: { return Partials(select(zero, one, x >= y), select(one, zero, x >= y)); }
    case ${c("min")}u: { return Partials(select(zero, one, x <= y), select(one, zero, x <= y)); }
    default: { return Partials(zero, zero); }
  }
}

fn elementIndex(wg: vec3u, groups: vec3u, li: u32) -> u32 {
  return (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
}

fn operands(i: u32) -> vec2f {
  let r = i / params.cols;
  let col = i % params.cols;
  return vec2f(a[r * params.aRowStride + col * params.aColStride], b[r * params.bRowStride + col * params.bColStride]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binary(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = elementIndex(wg, groups, li);
  if (i >= params.rows * params.cols) {
    return;
  }
  let v = operands(i);
  out[i] = apply(vec4f(v.x), vec4f(v.y)).x;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binaryBackward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = elementIndex(wg, groups, li);
  if (i >= params.rows * params.cols) {
    return;
  }
  let v = operands(i);
  let p = partials(vec4f(v.x), vec4f(v.y));
  let g = dy[i];
  out[i] = p.da.x * g;
  db[i] = p.db.x * g;
}

fn storeOut(t: u32, n: u32, v: vec4f) {
  if (4u * t + 4u <= n) {
    out4[t] = v;
    return;
  }
  for (var k = 0u; 4u * t + k < n; k++) {
    out4[t][k] = v[k];
  }
}

fn storeDb(t: u32, n: u32, v: vec4f) {
  if (4u * t + 4u <= n) {
    db4[t] = v;
    return;
  }
  for (var k = 0u; 4u * t + k < n; k++) {
    db4[t][k] = v[k];
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binarySame(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = elementIndex(wg, groups, li);
  let n = params.rows * params.cols;
  if (4u * t >= n) {
    return;
  }
  storeOut(t, n, apply(a4[t], b4[t]));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binaryBackwardSame(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = elementIndex(wg, groups, li);
  let n = params.rows * params.cols;
  if (4u * t >= n) {
    return;
  }
  let p = partials(a4[t], b4[t]);
  let g = dy4[t];
  storeOut(t, n, p.da * g);
  storeDb(t, n, p.db * g);
}
`
