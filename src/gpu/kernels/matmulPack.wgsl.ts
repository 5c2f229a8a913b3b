/**
 * matmulPack: copies op(X) (X or Xᵀ) into a [rows, cols4] array of vec4 with zero padding, the
 * layout matmulRegister reads (A: vec4 along k; B: vec4 along n):
 *   out[r, q] = (op(X)[r, 4q], …, op(X)[r, 4q + 3]), elements outside [srcRows, srcCols) = 0,
 *   op(X)[r, c] = X[r·ld + c] or, transposed, X[c·ld + r].
 * Bindings: 0 params, 1 x (read), 2 out (write, vec4).
 * Dispatch: grid1d(rows·cols4, WORKGROUP_SIZE), one invocation per output vec4.
 * Reference: CpuBackend.matmul's layout handling (Matmul.transpose).
 */
export const matmulPackWgsl = /* wgsl */ `
struct Params { rows: u32, cols4: u32, srcRows: u32, srcCols: u32, ld: u32, transposed: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

override WORKGROUP_SIZE: u32 = 256u;

fn element(r: u32, c: u32) -> f32 {
  if (r >= params.srcRows || c >= params.srcCols) {
    return 0.0;
  }
  if (params.transposed != 0u) {
    return x[c * params.ld + r];
  }
  return x[r * params.ld + c];
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn matmulPack(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.rows * params.cols4) {
    return;
  }
  let r = i / params.cols4;
  let c = (i % params.cols4) * 4u;
  out[i] = vec4f(element(r, c), element(r, c + 1u), element(r, c + 2u), element(r, c + 3u));
}
`
