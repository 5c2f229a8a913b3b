/**
 * binary: out[r, c] = a[r, c] ∘ b[r, c] with broadcasting: each operand is read at
 * r·rowStride + c·colStride, so a [1, c] operand has rowStride 0 and a [r, 1] one colStride 0.
 * binaryBackward: da = ∂(a∘b)/∂a · dy and db = ∂(a∘b)/∂b · dy, both at the output shape; ties of
 * max/min send the gradient to a.
 * Bindings: 0 params, 1 a, 2 b, 3 dy (read; unused by `binary`), 4 out | da, 5 db (write; unused by
 * `binary`).
 * Dispatch: grid1d(rows·cols, WORKGROUP_SIZE), one invocation per output element.
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
  op: u32,
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

override WORKGROUP_SIZE: u32 = 256u;

fn operands(i: u32) -> vec2f {
  let r = i / params.cols;
  let col = i % params.cols;
  return vec2f(
    a[r * params.aRowStride + col * params.aColStride],
    b[r * params.bRowStride + col * params.bColStride]
  );
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binary(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.rows * params.cols) {
    return;
  }
  let v = operands(i);
  switch params.op {
    case ${c("add")}u: { out[i] = v.x + v.y; }
    case ${c("sub")}u: { out[i] = v.x - v.y; }
    case ${c("mul")}u: { out[i] = v.x * v.y; }
    case ${c("div")}u: { out[i] = v.x / v.y; }
    case ${c("max")}u: { out[i] = max(v.x, v.y); }
    case ${c("min")}u: { out[i] = min(v.x, v.y); }
    default: { out[i] = 0.0; }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binaryBackward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.rows * params.cols) {
    return;
  }
  let v = operands(i);
  var partials = vec2f(0.0);
  switch params.op {
    case ${c("add")}u: { partials = vec2f(1.0, 1.0); }
    case ${c("sub")}u: { partials = vec2f(1.0, -1.0); }
    case ${c("mul")}u: { partials = vec2f(v.y, v.x); }
    case ${c("div")}u: { partials = vec2f(1.0 / v.y, -v.x / (v.y * v.y)); }
    case ${c("max")}u: { partials = select(vec2f(0.0, 1.0), vec2f(1.0, 0.0), v.x >= v.y); }
    case ${c("min")}u: { partials = select(vec2f(0.0, 1.0), vec2f(1.0, 0.0), v.x <= v.y); }
    default: {}
  }
  let g = dy[i];
  out[i] = partials.x * g;
  db[i] = partials.y * g;
}
`
