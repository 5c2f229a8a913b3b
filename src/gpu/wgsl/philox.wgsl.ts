/**
 * Philox4x32-10 in WGSL, the twin of `src/domain/Rng.ts`: the same counter (element index,
 * key.offset, 0, 0), key (key.seed, key.stream), 16-bit-halves `mulhi`, and the same conversions of
 * a word to a uniform and to an integer, bit for bit. Concatenated into the kernels that draw noise.
 */

/**
 * `philox(c0, c1, k0, k1) -> vec4u`, `philoxUniform(word) -> f32` (the f32 rounding of
 * ((word >> 8) + 0.5)·2⁻²⁴, computed exactly in integers), `philoxInt(word, n) -> u32` (mulhi),
 * `philoxNormal(w0, w1) -> f32` (Box–Muller on the unrounded uniforms of Rng.ts: ln near 1 and
 * cos(2πu) are computed from the words, since rounding u to f32 near 1 and WGSL's loose log (2⁻²¹
 * absolute on [0.5, 2]) and cos (2⁻¹¹) bounds would give errors of 1e-4 and more after the √).
 */
export const philoxWgsl = /* wgsl */ `
const PHILOX_M0 = 0xd2511f53u;
const PHILOX_M1 = 0xcd9e8d57u;
const PHILOX_W0 = 0x9e3779b9u;
const PHILOX_W1 = 0xbb67ae85u;

fn mulhi(a: u32, b: u32) -> u32 {
  let aL = a & 0xffffu;
  let aH = a >> 16u;
  let bL = b & 0xffffu;
  let bH = b >> 16u;
  let ll = aL * bL;
  let lh = aL * bH;
  let hl = aH * bL;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return aH * bH + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox(c0: u32, c1: u32, k0: u32, k1: u32) -> vec4u {
  var x = vec4u(c0, c1, 0u, 0u);
  var key = vec2u(k0, k1);
  for (var round = 0u; round < 10u; round++) {
    let hi0 = mulhi(PHILOX_M0, x.x);
    let lo0 = PHILOX_M0 * x.x;
    let hi1 = mulhi(PHILOX_M1, x.z);
    let lo1 = PHILOX_M1 * x.z;
    x = vec4u(hi1 ^ x.y ^ key.x, lo1, hi0 ^ x.w ^ key.y, lo0);
    key += vec2u(PHILOX_W0, PHILOX_W1);
  }
  return x;
}

// ((v + 0.5)·2^-24 rounded to f32, v = word >> 8: below 2^23 it is exact as (2v + 1)·2^-25; above,
// it is a tie between v and v + 1 (in units of 2^-24), which round-to-even settles on the even one.
fn philoxUniform(word: u32) -> f32 {
  let v = word >> 8u;
  if (v < 0x800000u) {
    return f32(2u * v + 1u) * 0x1p-25f;
  }
  return f32(v + (v & 1u)) * 0x1p-24f;
}

fn philoxInt(word: u32, n: u32) -> u32 {
  return mulhi(word, n);
}

// ln(u(word)). Near 1 (u ≥ 15/16) from d = 1 − u, which is exact there as an integer times 2⁻²⁵,
// by the series −Σ dᵏ/k (k ≤ 9); below, the builtin on u (relative error 2⁻²⁵ at most).
fn lnUniform(word: u32) -> f32 {
  let v = word >> 8u;
  if (v < 0xf00000u) {
    return log(philoxUniform(word));
  }
  let d = f32(0x2000000u - 2u * v - 1u) * 0x1p-25f;
  var term = d;
  var sum = 0.0;
  for (var k = 1u; k <= 9u; k++) {
    sum += term / f32(k);
    term *= d;
  }
  return -sum;
}

// cos(2π·u(word)) with u = m·2⁻²⁵ (m odd): u = q/4 + r with r = (m − q·2²³)·2⁻²⁵ exact and
// |r| ≤ 1/8, then the Taylor polynomials of cos and sin on |2πr| ≤ π/4 and the quadrant q.
fn cosTwoPi(word: u32) -> f32 {
  let m = 2u * (word >> 8u) + 1u;
  let q = (m + 0x400000u) >> 23u;
  let x = 6.283185307179586 * (f32(i32(m) - i32(q << 23u)) * 0x1p-25f);
  let x2 = x * x;
  let c = 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 - x2 / 3628800.0))));
  let s = x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 / 362880.0))));
  switch q & 3u {
    case 0u: { return c; }
    case 1u: { return -s; }
    case 2u: { return -c; }
    default: { return s; }
  }
}

fn philoxNormal(w0: u32, w1: u32) -> f32 {
  return sqrt(-2.0 * lnUniform(w0)) * cosTwoPi(w1);
}
`
