/**
 * Group norm over x [rows = batch·length, cols = channels] with `groups` groups of cg = cols/groups
 * adjacent channels: group (b, g) is the length·cg values at rows b·length …, channels g·cg …; one
 * workgroup per group, its invocations striding over the group's values and summing through
 * workgroup memory (a group holds up to length·cols values, too many for one invocation).
 *   groupNorm: μ, then the biased variance around it (two passes), rstd = 1/√(var + eps);
 *     out = (x − μ)·rstd·γ + β; mean and rstd stored at b·groups + g.
 *   groupNormBackward: with x̂ = (x − μ)·rstd, g = dy·γ and n = length·cg,
 *     dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), and (when `affine`) dyXhat = dy·x̂, whose column sums
 *     are dγ (the host reduces it and dy over rows for dγ and dβ).
 * Bindings of groupNorm: 0 params, 1 x, 2 gamma, 3 beta (read), 4 out, 5 mean, 6 rstd (write).
 * Bindings of groupNormBackward (its own module): 0 params, 1 x, 2 dy, 3 gamma, 4 mean, 5 rstd
 *   (read), 6 dx, 7 dyXhat (write). Absent γ/β/dyXhat are bound to placeholders and flagged off.
 * Dispatch: grid1d(batch·groups·WORKGROUP_SIZE, WORKGROUP_SIZE), one workgroup per group.
 * Reference: cpu/Sequence.ts groupNorm / groupNormBackward.
 */
const common = /* wgsl */ `
struct Params { rows: u32, cols: u32, length: u32, groups: u32, eps: f32, hasGamma: u32, hasBeta: u32, affine: u32 }

const WORKGROUP_SIZE: u32 = 64u;

var<workgroup> partial: array<f32, WORKGROUP_SIZE>;

/** Σ over the workgroup of each invocation's v; called by every invocation (uniform control flow). */
fn workgroupSum(v: f32, li: u32) -> f32 {
  partial[li] = v;
  workgroupBarrier();
  for (var s = WORKGROUP_SIZE / 2u; s > 0u; s = s / 2u) {
    if (li < s) {
      partial[li] += partial[li + s];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

/** The flat index of element e (0 ≤ e < length·cg) of group (b, g). */
fn elementAt(b: u32, g: u32, e: u32) -> u32 {
  let cg = params.cols / params.groups;
  return (b * params.length + e / cg) * params.cols + g * cg + e % cg;
}

fn gammaAt(c: u32) -> f32 {
  return select(1.0, gamma[c], params.hasGamma != 0u);
}
`

export const groupNormWgsl = /* wgsl */ `
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;
${common}
@compute @workgroup_size(WORKGROUP_SIZE)
fn groupNorm(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let id = wg.y * groups.x + wg.x;
  if (id >= (params.rows / params.length) * params.groups) {
    return;
  }
  let b = id / params.groups;
  let g = id % params.groups;
  let cg = params.cols / params.groups;
  let n = params.length * cg;
  var s = 0.0;
  for (var e = li; e < n; e += WORKGROUP_SIZE) {
    s += x[elementAt(b, g, e)];
  }
  let mu = workgroupSum(s, li) / f32(n);
  var v = 0.0;
  for (var e = li; e < n; e += WORKGROUP_SIZE) {
    let d = x[elementAt(b, g, e)] - mu;
    v += d * d;
  }
  let rs = 1.0 / sqrt(workgroupSum(v, li) / f32(n) + params.eps);
  if (li == 0u) {
    mean[id] = mu;
    rstd[id] = rs;
  }
  for (var e = li; e < n; e += WORKGROUP_SIZE) {
    let i = elementAt(b, g, e);
    let c = g * cg + e % cg;
    let shift = select(0.0, beta[c], params.hasBeta != 0u);
    out[i] = (x[i] - mu) * rs * gammaAt(c) + shift;
  }
}
`

export const groupNormBackwardWgsl = /* wgsl */ `
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dyXhat: array<f32>;
${common}
@compute @workgroup_size(WORKGROUP_SIZE)
fn groupNormBackward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let id = wg.y * groups.x + wg.x;
  if (id >= (params.rows / params.length) * params.groups) {
    return;
  }
  let b = id / params.groups;
  let g = id % params.groups;
  let cg = params.cols / params.groups;
  let n = params.length * cg;
  let mu = mean[id];
  let rs = rstd[id];
  var sumG = 0.0;
  var sumGX = 0.0;
  for (var e = li; e < n; e += WORKGROUP_SIZE) {
    let i = elementAt(b, g, e);
    let gi = dy[i] * gammaAt(g * cg + e % cg);
    sumG += gi;
    sumGX += gi * (x[i] - mu) * rs;
  }
  let meanG = workgroupSum(sumG, li) / f32(n);
  let meanGX = workgroupSum(sumGX, li) / f32(n);
  for (var e = li; e < n; e += WORKGROUP_SIZE) {
    let i = elementAt(b, g, e);
    let xhat = (x[i] - mu) * rs;
    dx[i] = rs * (dy[i] * gammaAt(g * cg + e % cg) - meanG - xhat * meanGX);
    if (params.affine != 0u) {
      dyXhat[i] = dy[i] * xhat;
    }
  }
}
`
