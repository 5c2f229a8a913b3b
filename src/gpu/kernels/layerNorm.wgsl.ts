/**
 * layerNorm: per row, mean μ, rstd = 1/√(var + eps), out = (x − μ)·rstd·γ + β (γ, β optional).
 * layerNormBackward: per row, with x̂ = (x − μ)·rstd and g = dy·γ,
 *   dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), and (when `affine`) dyXhat = dy·x̂, whose column sums
 *   are dγ (the host reduces it and dy over rows for dγ and dβ).
 * Bindings of layerNorm: 0 params, 1 x, 2 gamma, 3 beta (read), 4 out, 5 mean, 6 rstd (write).
 * Bindings of layerNormBackward (its own module): 0 params, 1 x, 2 dy, 3 gamma, 4 mean, 5 rstd
 *   (read), 6 dx, 7 dyXhat (write). Absent γ/β/dyXhat are bound to placeholders and flagged off.
 * Dispatch: grid1d(rows, WORKGROUP_SIZE), one invocation per row.
 * Reference: CpuBackend.layerNorm / layerNormBackward.
 */
export const layerNormWgsl = /* wgsl */ `
struct Params { rows: u32, cols: u32, eps: f32, hasGamma: u32, hasBeta: u32, affine: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

override WORKGROUP_SIZE: u32 = 64u;

fn gammaAt(c: u32) -> f32 {
  return select(1.0, gamma[c], params.hasGamma != 0u);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn layerNorm(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (r >= params.rows) {
    return;
  }
  let n = params.cols;
  let base = r * n;
  var s = 0.0;
  for (var c = 0u; c < n; c++) {
    s += x[base + c];
  }
  let mu = s / f32(n);
  var v = 0.0;
  for (var c = 0u; c < n; c++) {
    let d = x[base + c] - mu;
    v += d * d;
  }
  let rs = 1.0 / sqrt(v / f32(n) + params.eps);
  mean[r] = mu;
  rstd[r] = rs;
  for (var c = 0u; c < n; c++) {
    let b = select(0.0, beta[c], params.hasBeta != 0u);
    out[base + c] = (x[base + c] - mu) * rs * gammaAt(c) + b;
  }
}
`

/**
 * The backward entry point lives in its own module: its bindings differ (it reads dy, mean and
 * rstd and writes dx and dyXhat).
 */
export const layerNormBackwardWgsl = /* wgsl */ `
struct Params { rows: u32, cols: u32, eps: f32, hasGamma: u32, hasBeta: u32, affine: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dyXhat: array<f32>;

override WORKGROUP_SIZE: u32 = 64u;

fn gammaAt(c: u32) -> f32 {
  return select(1.0, gamma[c], params.hasGamma != 0u);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn layerNormBackward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (r >= params.rows) {
    return;
  }
  let n = params.cols;
  let base = r * n;
  let mu = mean[r];
  let rs = rstd[r];
  var sumG = 0.0;
  var sumGX = 0.0;
  for (var c = 0u; c < n; c++) {
    let xhat = (x[base + c] - mu) * rs;
    let g = dy[base + c] * gammaAt(c);
    sumG += g;
    sumGX += g * xhat;
  }
  let meanG = sumG / f32(n);
  let meanGX = sumGX / f32(n);
  for (var c = 0u; c < n; c++) {
    let xhat = (x[base + c] - mu) * rs;
    let d = dy[base + c];
    dx[base + c] = rs * (d * gammaAt(c) - meanG - xhat * meanGX);
    if (params.affine != 0u) {
      dyXhat[base + c] = d * xhat;
    }
  }
}
`
