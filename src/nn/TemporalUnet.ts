/**
 * Building blocks of the temporal U-Net over trajectories (Janner et al. 2022's Diffuser, as used by
 * Policy-Guided Diffusion, Jackson et al. 2024): sequences are [batch·length, channels] tensors
 * (row b·length + t is step t of sequence b) and the diffusion time embedding is [batch, embedding].
 *
 *   conv unit:       act(GroupNorm(conv_k(x) + Dense(temb))), the time term added at every step;
 *   residual block:  h = conv unit(x, temb); h = act(GroupNorm(conv_k(h)));
 *                    out = h + conv_1(x), or h + x when the channel counts agree.
 *
 * Flax defaults: convolution kernels lecun_normal (fan_in = kernel·cin), biases zero, GroupNorm
 * with scale 1, shift 0 and ε = 1e-6. This is a block, not the full model.
 */
import type { Activation } from "../domain/Ops.ts"
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
}

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
  ...(c.inputs === c.outputs ? [] : convSpecs(`${name}.residual`, 1, c.inputs, c.outputs))
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
  return t.add(h1, c.inputs === c.outputs ? x : conv(p, `${name}.residual`, x, length))
}
