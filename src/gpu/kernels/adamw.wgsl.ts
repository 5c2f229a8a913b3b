/**
 * adamw: one fused AdamW step over a flat parameter buffer (optax.adamw: bias-corrected moments,
 * decoupled decay):
 *   m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²,
 *   θ ← θ − lr·(m/c₁ / (√(v/c₂) + ε) + wd·θ),  c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ.
 * The host computes 1 − β₁, 1 − β₂, c₁ and c₂ in f64: 1 − f32(0.999) is off by 1.3e-5 relative.
 * Four parameters per invocation through vec4 views (ranges rounded up to 16 bytes); the last,
 * partial group is written per component, so views of a shared buffer stay untouched past n.
 * Bindings: 0 params, 1 grad (read), 2 param, 3 m, 4 v (write).
 * Dispatch: grid1d(⌈n/4⌉, WORKGROUP_SIZE).
 * Reference: CpuBackend.adamw.
 */
export const adamwWgsl = /* wgsl */ `
struct Params {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  eps: f32,
  weightDecay: f32,
  c1: f32,
  c2: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> param: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> m: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> v: array<vec4f>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn adamw(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (4u * t >= params.n) {
    return;
  }
  let g = grad[t];
  let mt = params.beta1 * m[t] + params.oneMinusBeta1 * g;
  let vt = params.beta2 * v[t] + params.oneMinusBeta2 * g * g;
  let update = mt / params.c1 / (sqrt(vt / params.c2) + params.eps);
  let theta = param[t];
  let next = theta - params.lr * (update + params.weightDecay * theta);
  if (4u * t + 4u <= params.n) {
    m[t] = mt;
    v[t] = vt;
    param[t] = next;
    return;
  }
  for (var k = 0u; 4u * t + k < params.n; k++) {
    m[t][k] = mt[k];
    v[t][k] = vt[k];
    param[t][k] = next[k];
  }
}
`
