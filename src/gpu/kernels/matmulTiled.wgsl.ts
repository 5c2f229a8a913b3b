/**
 * matmulTiled: C = act(op(A)·op(B) + bias) for real GPUs, with workgroup-memory tiles.
 * A workgroup of 16×16 invocations computes a 64×64 tile of C, each invocation 4×4 outputs strided
 * by 16; op(A) and op(B) are staged through workgroup memory 16 k at a time. Transposes are read in
 * place (op(A)[r, k] = A[k·m + r] when transA), with the staging order following the stored layout
 * so global reads stay coalesced. Loads past the edges read 0, stores are skipped.
 * Bindings: 0 params, 1 a, 2 b, 3 bias (read), 4 out, 5 pre (write).
 * The activation is a uniform (its index in UnaryOps): on real GPUs a uniform switch is a real
 * branch, and one pipeline keeps llvmpipe's slow JIT of this kernel (≈10 s) to one.
 * Dispatch: (⌈n/64⌉, ⌈m/64⌉) workgroups of 16×16.
 * Reference: Matmul.matmulInto.
 */
import { activationWgsl } from "../wgsl/activation.wgsl.ts"

/** Rows and columns of C per workgroup. */
export const MATMUL_TILE = 64

export const matmulTiledWgsl = /* wgsl */ `
struct Params {
  m: u32,
  n: u32,
  k: u32,
  transA: u32,
  transB: u32,
  activation: u32,
  hasBias: u32,
  keepPre: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> pre: array<f32>;

const TILE = 64u;
const DEPTH = 16u;
// Rows of the staged tiles are padded to 65 floats so that stores along k hit distinct banks.
const STRIDE = 65u;

var<workgroup> tileA: array<f32, 1040>;
var<workgroup> tileB: array<f32, 1040>;
${activationWgsl}
fn loadA(r: u32, k: u32) -> f32 {
  if (r >= params.m || k >= params.k) {
    return 0.0;
  }
  if (params.transA != 0u) {
    return a[k * params.m + r];
  }
  return a[r * params.k + k];
}

fn loadB(k: u32, c: u32) -> f32 {
  if (k >= params.k || c >= params.n) {
    return 0.0;
  }
  if (params.transB != 0u) {
    return b[c * params.k + k];
  }
  return b[k * params.n + c];
}

@compute @workgroup_size(16, 16)
fn matmulTiled(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let row0 = wg.y * TILE;
  let col0 = wg.x * TILE;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < params.k; k0 += DEPTH) {
    for (var i = 0u; i < 4u; i++) {
      // Consecutive invocations read consecutive addresses of the operand as stored.
      let e = li + i * 256u;
      let along = params.transA != 0u;
      let ar = select(e / DEPTH, e % TILE, along);
      let ak = select(e % DEPTH, e / TILE, along);
      tileA[ak * STRIDE + ar] = loadA(row0 + ar, k0 + ak);
      let across = params.transB != 0u;
      let bk = select(e / TILE, e % DEPTH, across);
      let bc = select(e % TILE, e / DEPTH, across);
      tileB[bk * STRIDE + bc] = loadB(k0 + bk, col0 + bc);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < DEPTH; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = tileA[kk * STRIDE + lid.y + 16u * i];
        bv[i] = tileB[kk * STRIDE + lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid.y + 16u * i;
    if (row >= params.m) {
      continue;
    }
    var z = vec4f(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    if (params.hasBias != 0u) {
      for (var j = 0u; j < 4u; j++) {
        z[j] += bias[min(col0 + lid.x + 16u * j, params.n - 1u)];
      }
    }
    let y = activate(params.activation, z);
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x + 16u * j;
      if (col < params.n) {
        let o = row * params.n + col;
        if (params.keepPre != 0u) {
          pre[o] = z[j];
        }
        out[o] = y[j];
      }
    }
  }
}
`
