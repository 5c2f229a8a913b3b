/**
 * adamw: one fused AdamW step over a flat parameter buffer (optax.adamw: bias-corrected moments,
 * decoupled decay):
 *   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,
 *   θ ← θ − lr·(m/c₁ / (√(v/c₂) + ε) + wd·θ),  c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ (from the host).
 * Bindings: 0 params, 1 grad (read), 2 param, 3 m, 4 v (write).
 * Dispatch: grid1d(n, WORKGROUP_SIZE), one invocation per parameter.
 * Reference: CpuBackend.adamw.
 */
export const adamwWgsl = /* wgsl */ `
struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weightDecay: f32, c1: f32, c2: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn adamw(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.n) {
    return;
  }
  let g = grad[i];
  let mi = params.beta1 * m[i] + (1.0 - params.beta1) * g;
  let vi = params.beta2 * v[i] + (1.0 - params.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let update = mi / params.c1 / (sqrt(vi / params.c2) + params.eps);
  let theta = param[i];
  param[i] = theta - params.lr * (update + params.weightDecay * theta);
}
`
