/**
 * ema: target ← target + rate·(source − target) (EMA of weights, Polyak updates), four elements per
 * invocation through vec4 views (ranges rounded up to 16 bytes); the last, partial group is
 * written per component, so views of a shared buffer stay untouched past n.
 * Bindings: 0 params, 1 source (read), 2 target (write).
 * Dispatch: grid1d(⌈n/4⌉, WORKGROUP_SIZE).
 * Reference: CpuBackend.ema.
 */
export const emaWgsl = /* wgsl */ `
struct Params { n: u32, rate: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> source: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> target_: array<vec4f>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn ema(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (4u * t >= params.n) {
    return;
  }
  let current = target_[t];
  let next = current + params.rate * (source[t] - current);
  if (4u * t + 4u <= params.n) {
    target_[t] = next;
    return;
  }
  for (var k = 0u; 4u * t + k < params.n; k++) {
    target_[t][k] = next[k];
  }
}
`
