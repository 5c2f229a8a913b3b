/**
 * fill: dst[i] = value for i < n.
 * Bindings: 0 params, 1 dst (write).
 * Dispatch: grid1d(n, WORKGROUP_SIZE), one invocation per element.
 * Reference: CpuBackend.fill / zeros.
 */
export const fillWgsl = /* wgsl */ `
struct Params { n: u32, value: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn fill(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i < params.n) {
    dst[i] = params.value;
  }
}
`
