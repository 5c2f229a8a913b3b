/**
 * gatherRows: out[j, c] = x[idx[j], c], the index (an integer-valued float) clamped into [0, rows).
 * Bindings: 0 params, 1 x (read), 2 indices (read), 3 out (write).
 * Dispatch: grid1d(n·cols, WORKGROUP_SIZE), one invocation per output element.
 * Reference: CpuBackend.gatherRows (which rejects out-of-range indices; the GPU cannot, so it clamps).
 */
export const gatherRowsWgsl = /* wgsl */ `
struct Params { n: u32, rows: u32, cols: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn gatherRows(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.n * params.cols) {
    return;
  }
  let j = i / params.cols;
  let c = i % params.cols;
  let row = min(u32(max(indices[j], 0.0)), params.rows - 1u);
  out[i] = x[row * params.cols + c];
}
`
