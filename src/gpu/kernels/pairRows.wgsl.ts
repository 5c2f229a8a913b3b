/**
 * Ops on pairs of adjacent rows, which along time of a [batch·length, channels] tensor with an even
 * length are pairs of time steps of one sequence (max-pool by 2, nearest upsample by 2):
 *   maxPool2:          out[r, c] = max(a[2r, c], a[2r + 1, c])                       (out rows: n)
 *   maxPool2Backward:  out[2r + j, c] = b[r, c] if 2r + j is the pair's argmax, the first row on a
 *                      tie (a = x, b = dy), else 0                                   (out rows: 2n)
 *   upsample2:         out[2r + j, c] = a[r, c]                                       (out rows: 2n)
 *   upsample2Backward: out[r, c] = a[2r, c] + a[2r + 1, c]                            (out rows: n)
 * with n pairs. Bindings: 0 params, 1 a (read), 2 b (read; a placeholder where unused), 3 out (write).
 * Dispatch: grid1d(out rows · cols), one invocation per output element.
 * Reference: cpu/Sequence.ts.
 */
export const pairRowsWgsl = /* wgsl */ `
struct Params { pairs: u32, cols: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;

fn index(wg: vec3u, groups: vec3u, li: u32) -> u32 {
  return (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn maxPool2(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = index(wg, groups, li);
  if (i >= params.pairs * params.cols) {
    return;
  }
  let r = i / params.cols;
  let c = i % params.cols;
  let x0 = a[2u * r * params.cols + c];
  let x1 = a[(2u * r + 1u) * params.cols + c];
  out[i] = select(x1, x0, x0 >= x1);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn maxPool2Backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = index(wg, groups, li);
  if (i >= 2u * params.pairs * params.cols) {
    return;
  }
  let row = i / params.cols;
  let c = i % params.cols;
  let r = row / 2u;
  let first = a[2u * r * params.cols + c] >= a[(2u * r + 1u) * params.cols + c];
  let mine = (row % 2u == 0u) == first;
  out[i] = select(0.0, b[r * params.cols + c], mine);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn upsample2(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = index(wg, groups, li);
  if (i >= 2u * params.pairs * params.cols) {
    return;
  }
  let row = i / params.cols;
  let c = i % params.cols;
  out[i] = a[(row / 2u) * params.cols + c];
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn upsample2Backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = index(wg, groups, li);
  if (i >= params.pairs * params.cols) {
    return;
  }
  let r = i / params.cols;
  let c = i % params.cols;
  out[i] = a[2u * r * params.cols + c] + a[(2u * r + 1u) * params.cols + c];
}
`
