/**
 * fill: dst[i] = value for i < n, four elements per invocation through a vec4 view of dst (range
 * rounded up to 16 bytes; the last, partial group is stored per component).
 * Bindings: 0 params, 1 dst (write).
 * Dispatch: grid1d(⌈n/4⌉, WORKGROUP_SIZE).
 * Reference: CpuBackend.fill / zeros.
 */
export const fillWgsl = /* wgsl */ `
struct Params { n: u32, value: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn fill(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (4u * t + 4u <= params.n) {
    dst[t] = vec4f(params.value);
    return;
  }
  for (var k = 0u; 4u * t + k < params.n; k++) {
    dst[t][k] = params.value;
  }
}
`
