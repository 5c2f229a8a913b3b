/**
 * matmulTiled: C = act(op(A)·op(B) + bias) for real GPUs, with workgroup-memory tiles.
 * A workgroup of 16×16 invocations computes a 64×64 tile of C, each invocation a 4×4 block (rows
 * 4·y…4·y+3, columns 4·x…4·x+3) in four vec4 accumulators; op(A) and op(B) are staged through
 * workgroup memory 16 k at a time as vec4s of four rows of op(A) and four columns of op(B), so each
 * k costs two vec4 loads for 16 FMAs (the scalar version before it loaded eight floats; on
 * lavapipe this one was ahead in 12 of 14 shape comparisons, median 11 % per CPU-second, README
 * "Levers 1 and 2 on lavapipe", with the same results bit for bit: every output still sums over k
 * in order). Each k row of a tile is
 * padded to 17 vec4s so that staging stores along k spread over banks. Transposes are read in place
 * (op(A)[r, k] = A[k·m + r] when transA), with the staging order following the stored layout so
 * global reads stay coalesced. Loads past the edges read 0, stores are skipped.
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
// vec4s per staged k row: TILE / 4, padded by one.
const STRIDE4 = 17u;

var<workgroup> tileA: array<vec4f, 272>;
var<workgroup> tileB: array<vec4f, 272>;
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
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k0 = 0u; k0 < params.k; k0 += DEPTH) {
    for (var i = 0u; i < 4u; i++) {
      // Consecutive invocations read consecutive addresses of the operand as stored.
      let e = li + i * 256u;
      let along = params.transA != 0u;
      let ar = select(e / DEPTH, e % TILE, along);
      let ak = select(e % DEPTH, e / TILE, along);
      tileA[ak * STRIDE4 + ar / 4u][ar % 4u] = loadA(row0 + ar, k0 + ak);
      let across = params.transB != 0u;
      let bk = select(e / TILE, e % DEPTH, across);
      let bc = select(e % TILE, e / DEPTH, across);
      tileB[bk * STRIDE4 + bc / 4u][bc % 4u] = loadB(k0 + bk, col0 + bc);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < DEPTH; kk++) {
      let av = tileA[kk * STRIDE4 + lid.y];
      let bv = tileB[kk * STRIDE4 + lid.x];
      acc0 = fma(vec4f(av.x), bv, acc0);
      acc1 = fma(vec4f(av.y), bv, acc1);
      acc2 = fma(vec4f(av.z), bv, acc2);
      acc3 = fma(vec4f(av.w), bv, acc3);
    }
    workgroupBarrier();
  }
  let col = col0 + 4u * lid.x;
  var b4 = vec4f(0.0);
  if (params.hasBias != 0u) {
    for (var j = 0u; j < 4u; j++) {
      b4[j] = bias[min(col + j, params.n - 1u)];
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + 4u * lid.y + i;
    if (row >= params.m) {
      break;
    }
    var z: vec4f;
    switch i {
      case 0u: { z = acc0; }
      case 1u: { z = acc1; }
      case 2u: { z = acc2; }
      default: { z = acc3; }
    }
    z += b4;
    let y = activate(params.activation, z);
    for (var j = 0u; j < 4u && col + j < params.n; j++) {
      let o = row * params.n + col + j;
      if (params.keepPre != 0u) {
        pre[o] = z[j];
      }
      out[o] = y[j];
    }
  }
}
`
