/**
 * ema: target[i] ← target[i] + rate·(source[i] − target[i]) (EMA of weights, Polyak updates).
 * Bindings: 0 params, 1 source (read), 2 target (write).
 * Dispatch: grid1d(n, WORKGROUP_SIZE), one invocation per element.
 * Reference: CpuBackend.ema.
 */
export const emaWgsl = /* wgsl */ `
struct Params { n: u32, rate: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> source: array<f32>;
@group(0) @binding(2) var<storage, read_write> target_: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn ema(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.n) {
    return;
  }
  let t = target_[i];
  target_[i] = t + params.rate * (source[i] - t);
}
`
