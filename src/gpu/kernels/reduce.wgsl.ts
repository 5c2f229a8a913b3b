/**
 * reduce: one pass of a chunked sum. For every outer index o and chunk j,
 *   out[j·outer + o] = scale · Σ_{i ∈ chunk j} x[o·outerStride + i·innerStride],
 * chunk j covering inner indices [j·chunk, min((j + 1)·chunk, inner)). The host chains passes (the
 * partials of one are the input of the next, inner = chunks, innerStride = outer) until one chunk
 * remains: a tree reduction with a fixed order, so results are deterministic.
 * Bindings: 0 params, 1 x (read), 2 out (write).
 * Dispatch: grid1d(outer·chunks, WORKGROUP_SIZE), one invocation per (o, j).
 * Reference: CpuBackend.reduce (sum and mean over rows, cols or all).
 */
export const reduceWgsl = /* wgsl */ `
struct Params {
  outer: u32,
  inner: u32,
  outerStride: u32,
  innerStride: u32,
  chunk: u32,
  chunks: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn reduce(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (t >= params.outer * params.chunks) {
    return;
  }
  let o = t % params.outer;
  let j = t / params.outer;
  let start = j * params.chunk;
  let end = min(start + params.chunk, params.inner);
  var index = o * params.outerStride + start * params.innerStride;
  var sum = 0.0;
  for (var i = start; i < end; i++) {
    sum += x[index];
    index += params.innerStride;
  }
  out[t] = params.scale * sum;
}
`
