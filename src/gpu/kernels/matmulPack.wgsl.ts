/**
 * matmulPack: copies op(X) (X or Xᵀ) of up to two operands into [rows, cols4] arrays of vec4 with
 * zero padding, the layouts matmulRegister reads (A: vec4 along k; B: vec4 along n), in one
 * dispatch:
 *   out[r, q] = (op(X)[r, 4q], …, op(X)[r, 4q + 3]), elements outside [srcRows, srcCols) = 0,
 *   op(X)[r, c] = X[r·ld + c] or, transposed, X[c·ld + r].
 * Invocations [0, rows₀·cols4₀) pack operand 0, the next rows₁·cols4₁ operand 1 (none when 0).
 * Bindings: 0 params, 1 x0, 2 x1 (read), 3 out0, 4 out1 (write, vec4).
 * Dispatch: grid1d(rows₀·cols4₀ + rows₁·cols4₁, WORKGROUP_SIZE), one invocation per output vec4.
 * Reference: CpuBackend.matmul's layout handling (Matmul.transpose).
 */
export const matmulPackWgsl = /* wgsl */ `
struct Operand { rows: u32, cols4: u32, srcRows: u32, srcCols: u32, ld: u32, transposed: u32 }
struct Params { first: Operand, @align(16) second: Operand }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x0: array<f32>;
@group(0) @binding(2) var<storage, read> x1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out0: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out1: array<vec4f>;

override WORKGROUP_SIZE: u32 = 256u;

fn source(which: u32, i: u32) -> f32 {
  if (which == 0u) {
    return x0[i];
  }
  return x1[i];
}

fn element(which: u32, o: Operand, r: u32, c: u32) -> f32 {
  if (r >= o.srcRows || c >= o.srcCols) {
    return 0.0;
  }
  if (o.transposed != 0u) {
    return source(which, c * o.ld + r);
  }
  return source(which, r * o.ld + c);
}

fn packed(which: u32, o: Operand, i: u32) -> vec4f {
  let r = i / o.cols4;
  let c = (i % o.cols4) * 4u;
  return vec4f(element(which, o, r, c), element(which, o, r, c + 1u), element(which, o, r, c + 2u), element(which, o, r, c + 3u));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn matmulPack(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  let count0 = params.first.rows * params.first.cols4;
  if (i < count0) {
    out0[i] = packed(0u, params.first, i);
    return;
  }
  let j = i - count0;
  if (j < params.second.rows * params.second.cols4) {
    out1[j] = packed(1u, params.second, j);
  }
}
`
