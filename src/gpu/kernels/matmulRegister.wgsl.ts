/**
 * matmulRegister: C = act(A·B + bias) for software adapters (lavapipe), with no workgroup memory.
 * A is [m, 4·k4] as vec4 along k, B is [4·k4, 4·n4] as vec4 along n (matmulPack makes both
 * layouts, zero-padded), C, pre and bias are plain row-major f32.
 *
 * On llvmpipe every lane of a subgroup (8 lanes, one AVX2 register) pays for each load it makes,
 * so loads are what to save. A subgroup computes 24 rows × 8 vec4 columns: lane l loads the vec4
 * of B at its own column and the vec4 of A at rows 8g + l (g < 3), and subgroupBroadcast hands each
 * A row to all lanes. Per 4 k it loads 7 vec4 per lane for 96 vec4 FMAs.
 *
 * The 8 subgroups of a workgroup tile colSubs column blocks × (8/colSubs) row blocks (colSubs = 8
 * for wide outputs, less for narrow ones). Rows and columns past the edges are clamped on load and
 * skipped on store.
 * Bindings: 0 params, 1 a (read, vec4), 2 b (read, vec4), 3 bias (read), 4 out, 5 pre (write).
 * Dispatch: (⌈n4 / (8·colSubs)⌉, ⌈m / (24·8/colSubs)⌉) workgroups of 64; needs subgroups of size 8.
 *   One pipeline per ACTIVATION (the activation's index in UnaryOps).
 * Reference: Matmul.matmulInto.
 */
import { activationWgsl } from "../wgsl/activation.wgsl.ts"

/** Rows of C per subgroup: three blocks of 8, one A row per lane and block. */
export const MATMUL_REGISTER_ROWS = 24

const BLOCKS = MATMUL_REGISTER_ROWS / 8
const range = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)

// subgroupBroadcast needs a constant lane and the accumulators must stay in registers (a dynamic
// index would move them to memory), so the per-k body is unrolled here and the epilogue picks its
// row with a switch (unrolling the epilogue instead makes llvmpipe's JIT take tens of seconds).
const accumulators = range(MATMUL_REGISTER_ROWS).map((r) => `  var acc${r} = vec4f(0.0);`).join("\n")
const aIndices = range(BLOCKS).map((g) => `  var aIndex${g} = min(row0 + ${8 * g}u + lane, lastRow) * params.k4;`).join("\n")
const kStep = range(BLOCKS).flatMap((g) => [
  `    let a${g} = a[aIndex${g}];`,
  ...range(8).flatMap((s) =>
    ["x", "y", "z", "w"].map((q, j) =>
      `    acc${8 * g + s} = fma(vec4f(subgroupBroadcast(a${g}.${q}, ${s}u)), b${j}, acc${8 * g + s});`
    )
  ),
  `    aIndex${g} += 1u;`
]).join("\n")
const pickCases = range(MATMUL_REGISTER_ROWS).map((r) => `      case ${r}u: { v = acc${r}; }`).join("\n")

export const matmulRegisterWgsl = /* wgsl */ `
enable subgroups;

struct Params {
  m: u32,
  n: u32,
  k4: u32,
  n4: u32,
  colSubs: u32,
  hasBias: u32,
  keepPre: u32,
}

override ACTIVATION: u32;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> pre: array<f32>;
${activationWgsl}
fn storeRow(row: u32, col: u32, acc: vec4f) {
  if (row >= params.m) {
    return;
  }
  var z = acc;
  if (params.hasBias != 0u) {
    for (var q = 0u; q < 4u; q++) {
      z[q] += bias[min(col + q, params.n - 1u)];
    }
  }
  let y = activate(ACTIVATION, z);
  for (var q = 0u; q < 4u && col + q < params.n; q++) {
    let i = row * params.n + col + q;
    if (params.keepPre != 0u) {
      pre[i] = z[q];
    }
    out[i] = y[q];
  }
}

@compute @workgroup_size(64)
fn matmulRegister(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_index) li: u32,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let colLanes = 8u * params.colSubs;
  let row0 = (wg.y * (8u / params.colSubs) + li / colLanes) * ${MATMUL_REGISTER_ROWS}u;
  let col4 = wg.x * colLanes + li % colLanes;
  let lastRow = params.m - 1u;
${aIndices}
  var bIndex = min(col4, params.n4 - 1u);
${accumulators}
  for (var k4 = 0u; k4 < params.k4; k4++) {
    let b0 = b[bIndex];
    let b1 = b[bIndex + params.n4];
    let b2 = b[bIndex + 2u * params.n4];
    let b3 = b[bIndex + 3u * params.n4];
${kStep}
    bIndex += 4u * params.n4;
  }
  let col = 4u * col4;
  for (var r = 0u; r < ${MATMUL_REGISTER_ROWS}u; r++) {
    var v: vec4f;
    switch r {
${pickCases}
      default: {}
    }
    storeRow(row0 + r, col, v);
  }
}
`
