/**
 * lossTerms: the per-element terms whose sum / rows is the loss (the host reduces them):
 *   mse:       w_r·(pred − target)²            (w_r = 1 without weights)
 *   expectile: |τ − 1(u < 0)|·u²               (u = pred; target and weight unused)
 * lossBackward: d loss / d pred = 2·dLoss/rows · (w_r·(pred − target) | |τ − 1(u < 0)|·u).
 * Bindings: 0 params, 1 pred, 2 goal (the target), 3 weight, 4 dLoss (read; dLoss unused by lossTerms),
 *   5 out (write).
 * Dispatch: grid1d(rows·cols, WORKGROUP_SIZE), one invocation per element; one pipeline per entry
 *   point and OP.
 * Reference: CpuBackend.mseLoss / mseLossBackward / expectileLoss / expectileLossBackward.
 */
/** OP codes (the `override OP` of each pipeline). */
export const LOSS_MSE = 0
export const LOSS_EXPECTILE = 1

export const lossWgsl = /* wgsl */ `
struct Params { rows: u32, cols: u32, hasWeight: u32, tau: f32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> goal: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> dLoss: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

override OP: u32;
override WORKGROUP_SIZE: u32 = 256u;

fn rowWeight(i: u32) -> f32 {
  return select(1.0, weight[i / params.cols], params.hasWeight != 0u);
}

fn expectileWeight(u: f32) -> f32 {
  return select(params.tau, 1.0 - params.tau, u < 0.0);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn lossTerms(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.rows * params.cols) {
    return;
  }
  let p = pred[i];
  if (OP == ${LOSS_MSE}u) {
    let d = p - goal[i];
    out[i] = rowWeight(i) * d * d;
  } else {
    out[i] = expectileWeight(p) * p * p;
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn lossBackward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * groups.x + wg.x) * WORKGROUP_SIZE + li;
  if (i >= params.rows * params.cols) {
    return;
  }
  let g = 2.0 * dLoss[0] / f32(params.rows);
  let p = pred[i];
  if (OP == ${LOSS_MSE}u) {
    out[i] = g * rowWeight(i) * (p - goal[i]);
  } else {
    out[i] = g * expectileWeight(p) * p;
  }
}
`
