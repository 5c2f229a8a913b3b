/**
 * Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11), keyed by (seed, stream)
 * with the counter (element index, offset, 0, 0). The WGSL twin is `src/gpu/wgsl/philox.wgsl.ts`;
 * both produce bit-identical u32 words and uniforms, so CPU and GPU draw the same noise.
 */

/** Where a draw comes from: `seed` and `stream` form the Philox key, `offset` the second counter word. */
export interface RngKey {
  readonly seed: number
  readonly stream: number
  readonly offset: number
}

const M0 = 0xd2511f53
const M1 = 0xcd9e8d57
const W0 = 0x9e3779b9
const W1 = 0xbb67ae85

/** High 32 bits of the 64-bit product of two u32, from 16-bit halves (exact in f64 and in WGSL u32). */
export const mulhi = (a: number, b: number): number => {
  const aL = a & 0xffff
  const aH = a >>> 16
  const bL = b & 0xffff
  const bH = b >>> 16
  const ll = aL * bL
  const lh = aL * bH
  const hl = aH * bL
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff)
  return (aH * bH + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0
}

/** Philox4x32-10 of the counter (c0, c1, 0, 0) under key (k0, k1); writes 4 words into `out`. */
export const philox = (c0: number, c1: number, k0: number, k1: number, out: Uint32Array): void => {
  let x0 = c0 >>> 0
  let x1 = c1 >>> 0
  let x2 = 0
  let x3 = 0
  let key0 = k0 >>> 0
  let key1 = k1 >>> 0
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, x0)
    const lo0 = Math.imul(M0, x0) >>> 0
    const hi1 = mulhi(M1, x2)
    const lo1 = Math.imul(M1, x2) >>> 0
    x0 = (hi1 ^ x1 ^ key0) >>> 0
    x1 = lo1
    x2 = (hi0 ^ x3 ^ key1) >>> 0
    x3 = lo0
    key0 = (key0 + W0) >>> 0
    key1 = (key1 + W1) >>> 0
  }
  out[0] = x0
  out[1] = x1
  out[2] = x2
  out[3] = x3
}

/** A u32 word to a uniform in (0, 1): the top 24 bits plus half an ulp, exact in f32. */
export const wordToUniform = (word: number): number => ((word >>> 8) + 0.5) * 2 ** -24

/** Unbiased-enough integer in [0, n) from a word: the high half of word·n (Lemire, no rejection). */
export const wordToInt = (word: number, n: number): number => mulhi(word, n >>> 0)

/** FNV-1a hash of a name, so streams can be named ("model", "train", "sample"). */
export const hashName = (name: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** The key of the stream called `name` under `seed`, at offset 0. */
export const named = (seed: number, name: string): RngKey => ({ seed: seed >>> 0, stream: hashName(name), offset: 0 })

/** The same stream moved to another offset (e.g. the training step). */
export const at = (key: RngKey, offset: number): RngKey => ({ ...key, offset: offset >>> 0 })

/** A child stream: a new stream id mixed from the parent's and `name`. */
export const split = (key: RngKey, name: string): RngKey => ({
  seed: key.seed,
  stream: (Math.imul(key.stream ^ hashName(name), 0x9e3779b1) ^ key.offset) >>> 0,
  offset: 0
})

const scratch = new Uint32Array(4)

/** Fills `out` with uniforms in (0, 1): element i uses counter (i, offset). */
export const fillUniform = (key: RngKey, out: Float32Array | Float64Array): void => {
  for (let i = 0; i < out.length; i++) {
    philox(i, key.offset, key.seed, key.stream, scratch)
    out[i] = wordToUniform(scratch[0])
  }
}

/** Fills `out` with standard normals (Box–Muller on words 0 and 1 of element i's block). */
export const fillNormal = (key: RngKey, out: Float32Array | Float64Array): void => {
  for (let i = 0; i < out.length; i++) {
    philox(i, key.offset, key.seed, key.stream, scratch)
    const u1 = wordToUniform(scratch[0])
    const u2 = wordToUniform(scratch[1])
    out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
  }
}

/** Fills `out` with integers in [0, n) (stored as floats, exact below 2^24). */
export const fillInt = (key: RngKey, n: number, out: Float32Array | Float64Array): void => {
  for (let i = 0; i < out.length; i++) {
    philox(i, key.offset, key.seed, key.stream, scratch)
    out[i] = wordToInt(scratch[0], n)
  }
}
