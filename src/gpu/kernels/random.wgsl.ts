/**
 * random: out[i] from the Philox block of counter (i, offset) under key (seed, stream):
 *   uniform: philoxUniform(w0); normal: √(−2 ln u(w0))·cos(2π u(w1)); randint: mulhi(w0, n).
 * Bindings: 0 params, 1 out (write).
 * Dispatch: grid1d(count, WORKGROUP_SIZE), one invocation per element; one pipeline per OP.
 * Reference: Rng.fillUniform / fillNormal / fillInt (uniform and randint bit-identical).
 */
import { philoxWgsl } from "../wgsl/philox.wgsl.ts"

/** OP codes (the `override OP` of each pipeline). */
export const RANDOM_UNIFORM = 0
export const RANDOM_NORMAL = 1
export const RANDOM_INT = 2

export const randomWgsl = /* wgsl */ `
struct Params { count: u32, seed: u32, stream: u32, offset: u32, n: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

override OP: u32;
override WORKGROUP_SIZE: u32 = 256u;
${philoxWgsl}
@compute @workgroup_size(WORKGROUP_SIZE)
fn random(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.count) {
    return;
  }
  let w = philox(i, params.offset, params.seed, params.stream);
  switch OP {
    case ${RANDOM_UNIFORM}u: { out[i] = philoxUniform(w.x); }
    case ${RANDOM_NORMAL}u: { out[i] = philoxNormal(w.x, w.y); }
    default: { out[i] = f32(philoxInt(w.x, params.n)); }
  }
}
`
