/**
 * dropout: out[i] = x[i]·scale where the uniform of Philox block (i, offset) under (seed, stream) is
 * ≥ p, else 0. The comparison is done on the integer v = w0 >> 8 against `threshold`, the smallest v
 * with (v + 0.5)·2⁻²⁴ ≥ p, so the kept set equals the f64 reference's exactly.
 * Bindings: 0 params, 1 x (read), 2 out (write).
 * Dispatch: grid1d(n, WORKGROUP_SIZE), one invocation per element.
 * Reference: CpuBackend.dropout.
 */
import { philoxWgsl } from "../wgsl/philox.wgsl.ts"

export const dropoutWgsl = /* wgsl */ `
struct Params { n: u32, seed: u32, stream: u32, offset: u32, threshold: u32, scale: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;
${philoxWgsl}
@compute @workgroup_size(WORKGROUP_SIZE)
fn dropout(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.n) {
    return;
  }
  let w = philox(i, params.offset, params.seed, params.stream);
  out[i] = select(0.0, x[i] * params.scale, (w.x >> 8u) >= params.threshold);
}
`
