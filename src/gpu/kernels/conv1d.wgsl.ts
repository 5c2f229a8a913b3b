/**
 * The data movement of a "same" 1-D convolution over x [rows = batch·length, channels]; the products
 * run on the matmul kernel (conv1d = U·W + bias, dW = Uᵀ·dy, dx = fold(dy·Wᵀ)).
 *   unfold: dst[r, k·C + c] = src[r − t + s, c] with t = r mod length, s = t + k − left, and 0 when
 *           s is outside [0, length) (zero padding; no row of another sequence is read);
 *   fold:   its adjoint, dst[r, c] = Σ_k src[r − s + t, k·C + c] over the taps k whose
 *           t = s − k + left lies in [0, length) (s = r mod length); at most `kernel` terms.
 * Bindings: 0 params, 1 src (read), 2 dst (write).
 * Dispatch: grid1d(rows·kernel·channels) for unfold, grid1d(rows·channels) for fold.
 * Reference: cpu/Sequence.ts unfold / fold.
 */
export const conv1dWgsl = /* wgsl */ `
struct Params { rows: u32, channels: u32, length: u32, kernel: u32, left: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn unfold(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  let C = params.channels;
  let width = params.kernel * C;
  if (i >= params.rows * width) {
    return;
  }
  let r = i / width;
  let j = i % width;
  let k = j / C;
  let c = j % C;
  let t = r % params.length;
  let s = i32(t) + i32(k) - i32(params.left);
  if (s < 0 || s >= i32(params.length)) {
    dst[i] = 0.0;
    return;
  }
  dst[i] = src[(r - t + u32(s)) * C + c];
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn fold(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  let C = params.channels;
  if (i >= params.rows * C) {
    return;
  }
  let width = params.kernel * C;
  let r = i / C;
  let c = i % C;
  let s = r % params.length;
  var acc = 0.0;
  for (var k = 0u; k < params.kernel; k++) {
    let t = i32(s) - i32(k) + i32(params.left);
    if (t >= 0 && t < i32(params.length)) {
      acc += src[(r - s + u32(t)) * width + k * C + c];
    }
  }
  dst[i] = acc;
}
`
