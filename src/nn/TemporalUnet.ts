/**
 * Building blocks of the temporal U-Net over trajectories (Janner et al. 2022's Diffuser, as used by
 * Policy-Guided Diffusion, Jackson et al. 2024): sequences are [batch·length, channels] tensors
 * (row b·length + t is step t of sequence b) and the diffusion time embedding is [batch, embedding].
 *
 *   conv unit:       act(GroupNorm(conv_k(x) + Dense(temb))), the time term added at every step;
 *   residual block:  h = conv unit(x, temb); h = act(GroupNorm(conv_k(h)));
 *                    out = h + conv_1(x), or h + x when the channel counts agree.
 *
 *   U-Net (`unet`): the reference's `models/diffusion.py` (PGD §4.2), `depth` levels of width·2^i channels:
 *     encoder level i:  residual block (kernel 3) → skip z_i → max-pool by 2 (not after the last level);
 *     decoder level i (from depth − 2 down to 0): upsample by 2 → conv unit (kernel 2, with time)
 *                       → concat z_i → 2 × (conv k3 → GroupNorm → act);
 *     output: conv k1 back to the data's channels.
 *   The time input (EDM's c_noise, one per sequence) goes through the transformer sinusoid with width/8
 *   frequencies, Dense(width) → swish → Dense(width); every block sees swish of that embedding.
 *   The reference's encoder blocks have no residual connection (`residual: false`); with `residual: true`
 *   they add conv_1(x) or x (Diffuser's form).
 *
 * Flax defaults: convolution kernels lecun_normal (fan_in = kernel·cin), biases zero, GroupNorm
 * with scale 1, shift 0 and ε = 1e-6.
 */
import { ShapeError, type Activation } from "../domain/Ops.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Linear from "./Linear.ts"
import type { Bound, ParamSpec } from "./Parameters.ts"
import type { Var } from "./Tape.ts"

/** GroupNorm epsilon of flax's nn.GroupNorm. */
export const GROUP_NORM_EPS = 1e-6

export interface ResidualBlockConfig {
  readonly inputs: number
  readonly outputs: number
  /** Width of the time embedding. */
  readonly embedding: number
  /** Convolution taps (3 in the encoder and decoder blocks). */
  readonly kernel: number
  /** GroupNorm groups; must divide `outputs` (8 in the reference). */
  readonly groups: number
  readonly activation: Activation
  /** Add the residual conv_1(x) (or x); absent: true. */
  readonly residual?: boolean
}

const hasResidual = (c: ResidualBlockConfig): boolean => c.residual ?? true

/** A convolution's weight [kernel·cin, cout] and bias [1, cout]. */
export const convSpecs = (name: string, kernel: number, inputs: number, outputs: number): Array<ParamSpec> => [
  { name: `${name}.w`, rows: kernel * inputs, cols: outputs, init: { kind: "lecunNormal" } },
  { name: `${name}.b`, rows: 1, cols: outputs, init: { kind: "zeros" } }
]

const normSpecs = (name: string, channels: number): Array<ParamSpec> => [
  { name: `${name}.gamma`, rows: 1, cols: channels, init: { kind: "ones" } },
  { name: `${name}.beta`, rows: 1, cols: channels, init: { kind: "zeros" } }
]

export const residualBlockSpecs = (name: string, c: ResidualBlockConfig): Array<ParamSpec> => [
  ...convSpecs(`${name}.conv0`, c.kernel, c.inputs, c.outputs),
  ...Linear.specs(`${name}.time`, c.embedding, c.outputs, { kind: "lecunNormal" }),
  ...normSpecs(`${name}.norm0`, c.outputs),
  ...convSpecs(`${name}.conv1`, c.kernel, c.outputs, c.outputs),
  ...normSpecs(`${name}.norm1`, c.outputs),
  ...(!hasResidual(c) || c.inputs === c.outputs ? [] : convSpecs(`${name}.residual`, 1, c.inputs, c.outputs))
]

/**
 * The sequence each row belongs to, [batch·length, 1] (row b·length + t holds b): gathering a
 * [batch, ·] tensor by it repeats each sequence's row over its steps, and the gradient sums them back.
 */
export const sequenceOfRows = (B: TensorBackend, batch: number, length: number): Tensor =>
  B.upload(Float32Array.from({ length: batch * length }, (_, r) => Math.floor(r / length)), batch * length, 1)

export const conv = (p: Bound, name: string, x: Var, length: number): Var =>
  p.tape.conv1d(x, p.get(`${name}.w`), p.get(`${name}.b`), length)

const norm = (p: Bound, name: string, c: ResidualBlockConfig, x: Var, length: number): Var =>
  p.tape.groupNorm(x, p.get(`${name}.gamma`), p.get(`${name}.beta`), length, c.groups, GROUP_NORM_EPS)

/**
 * The residual block on x [batch·length, inputs] with the time embedding temb [batch, embedding];
 * `rows` is `sequenceOfRows(batch, length)`. Returns [batch·length, outputs].
 */
export const residualBlock = (p: Bound, name: string, c: ResidualBlockConfig, x: Var, temb: Var, rows: Tensor, length: number): Var => {
  const t = p.tape
  const time = t.gatherRows(Linear.apply(p, `${name}.time`, temb), rows)
  const h0 = t.unary(c.activation, norm(p, `${name}.norm0`, c, t.add(conv(p, `${name}.conv0`, x, length), time), length))
  const h1 = t.unary(c.activation, norm(p, `${name}.norm1`, c, conv(p, `${name}.conv1`, h0, length), length))
  if (!hasResidual(c)) return h1
  return t.add(h1, c.inputs === c.outputs ? x : conv(p, `${name}.residual`, x, length))
}

// ---- the U-Net ------------------------------------------------------------------------------------

export interface UnetConfig {
  /** Channels of the data (in and out): |S| + |A| + 2 for trajectories. */
  readonly channels: number
  /** F, the first level's width (reference `num_features`: 1024); level i has F·2^i channels. */
  readonly width: number
  /** Levels (reference `num_blocks`: 3); the sequence length must be divisible by 2^(depth − 1). */
  readonly depth: number
  /** GroupNorm groups (8); must divide the width. */
  readonly groups: number
  readonly activation: Activation
  /** Residual connections in the encoder blocks (the reference has none). */
  readonly residual: boolean
}

/** Frequencies of the time sinusoid: exp(−k·ln(10⁴)/(half − 1)), k < half = width/8 (at least 1). */
export const timeFrequencies = (width: number): Float32Array => {
  const half = Math.max(1, Math.floor(width / 8))
  return Float32Array.from({ length: half }, (_, k) => (half === 1 ? 1 : Math.exp((-k * Math.log(10000)) / (half - 1))))
}

const levelWidth = (c: UnetConfig, i: number) => c.width * 2 ** i

const encoderBlock = (c: UnetConfig, i: number): ResidualBlockConfig => ({
  inputs: i === 0 ? c.channels : levelWidth(c, i - 1),
  outputs: levelWidth(c, i),
  embedding: c.width,
  kernel: 3,
  groups: c.groups,
  activation: c.activation,
  residual: c.residual
})

export const unetSpecs = (name: string, c: UnetConfig): Array<ParamSpec> => {
  const specs: Array<ParamSpec> = [
    ...Linear.specs(`${name}.time.0`, 2 * timeFrequencies(c.width).length, c.width, { kind: "lecunNormal" }),
    ...Linear.specs(`${name}.time.1`, c.width, c.width, { kind: "lecunNormal" })
  ]
  for (let i = 0; i < c.depth; i++) specs.push(...residualBlockSpecs(`${name}.enc${i}`, encoderBlock(c, i)))
  for (let i = c.depth - 2; i >= 0; i--) {
    const w = levelWidth(c, i)
    specs.push(
      ...convSpecs(`${name}.dec${i}.up`, 2, levelWidth(c, i + 1), w),
      ...Linear.specs(`${name}.dec${i}.time`, c.width, w, { kind: "lecunNormal" }),
      ...normSpecs(`${name}.dec${i}.norm.up`, w),
      ...convSpecs(`${name}.dec${i}.conv0`, 3, 2 * w, w),
      ...normSpecs(`${name}.dec${i}.norm0`, w),
      ...convSpecs(`${name}.dec${i}.conv1`, 3, w, w),
      ...normSpecs(`${name}.dec${i}.norm1`, w)
    )
  }
  specs.push(...convSpecs(`${name}.out`, 1, c.width, c.channels))
  return specs
}

/** Checks the config against a sequence length (throws ShapeError naming what is wrong). */
export const checkUnet = (c: UnetConfig, length: number): void => {
  const fail = (detail: string) => {
    throw new ShapeError({ op: "TemporalUnet.unet", detail })
  }
  if (c.width % c.groups !== 0) fail(`${c.groups} groups do not divide the width ${c.width}`)
  if (length % 2 ** (c.depth - 1) !== 0) fail(`length ${length} is not divisible by 2^${c.depth - 1} (depth ${c.depth})`)
}

/**
 * The U-Net on x [batch·length, channels] with the time input `time` [batch, 1] (EDM's c_noise).
 * Returns [batch·length, channels].
 */
export const unet = (p: Bound, name: string, c: UnetConfig, x: Var, time: Var, length: number): Var => {
  checkUnet(c, length)
  const t = p.tape
  const B = t.backend
  const batch = x.rows / length
  const freqs = timeFrequencies(c.width)
  const angles = t.matmul(time, t.leaf(B.upload(freqs, 1, freqs.length)))
  const sinusoid = t.concatCols([t.unary("sin", angles), t.unary("cos", angles)])
  const embedding = Linear.apply(p, `${name}.time.1`, Linear.apply(p, `${name}.time.0`, sinusoid, "silu"))
  const temb = t.unary("silu", embedding)
  const rowsAt = Array.from({ length: c.depth }, (_, i) => sequenceOfRows(B, batch, length / 2 ** i))
  const skips: Array<Var> = []
  let h = x
  for (let i = 0; i < c.depth; i++) {
    const len = length / 2 ** i
    h = residualBlock(p, `${name}.enc${i}`, encoderBlock(c, i), h, temb, rowsAt[i], len)
    skips.push(h)
    if (i < c.depth - 1) h = t.maxPool2(h, len)
  }
  const act = (v: Var) => t.unary(c.activation, v)
  const gn = (norm: string, v: Var, len: number) =>
    t.groupNorm(v, p.get(`${norm}.gamma`), p.get(`${norm}.beta`), len, c.groups, GROUP_NORM_EPS)
  for (let i = c.depth - 2; i >= 0; i--) {
    const len = length / 2 ** i
    const level = `${name}.dec${i}`
    const time = t.gatherRows(Linear.apply(p, `${level}.time`, temb), rowsAt[i])
    const up = act(gn(`${level}.norm.up`, t.add(conv(p, `${level}.up`, t.upsample2(h), len), time), len))
    const h0 = act(gn(`${level}.norm0`, conv(p, `${level}.conv0`, t.concatCols([up, skips[i]]), len), len))
    h = act(gn(`${level}.norm1`, conv(p, `${level}.conv1`, h0, len), len))
  }
  return conv(p, `${name}.out`, h, length)
}
