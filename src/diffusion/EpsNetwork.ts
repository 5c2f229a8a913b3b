/**
 * ε-prediction networks ε_θ(z_t, condition, t). The time input (the integer step, unnormalised,
 * as SWG-JAX/IDQL feed it) goes through learnable Fourier features and a small MLP; the result is
 * concatenated with z_t and the condition (state, or β for the toys) and fed to the body:
 *   - `LnResNetBody`: SWG's actor (SWG App. D.2), weight head from the middle block;
 *   - `MlpBody`: the toys' plain MLP (SWG App. D.1: 6 layers, hidden 512, GELU).
 */
import { Schema } from "effect"
import { type Activation as ActivationName, Activations } from "../domain/Ops.ts"
import * as FourierFeatures from "../nn/FourierFeatures.ts"
import * as LnResNet from "../nn/LnResNet.ts"
import * as Mlp from "../nn/Mlp.ts"
import type { Bound, ParamSpec } from "../nn/Parameters.ts"
import type { Tensor } from "../domain/TensorBackend.ts"
import type { Var } from "../nn/Tape.ts"

const ActivationSchema = Schema.Literals(Activations)
const Int = Schema.Int.check(Schema.isGreaterThan(0))

export class LnResNetBody extends Schema.TaggedClass<LnResNetBody>()("LnResNetBody", {
  hidden: Int,
  blocks: Int,
  activation: ActivationSchema,
  dropout: Schema.Finite,
  /** Feed a separate weight head from this block (SWG); absent: one output layer for all dims. */
  weightHeadBlock: Schema.optionalKey(Schema.Int),
  weightHeadWidth: Schema.optionalKey(Int)
}) {}

export class MlpBody extends Schema.TaggedClass<MlpBody>()("MlpBody", {
  hidden: Int,
  /** Number of Dense layers, the output layer included. */
  layers: Int,
  activation: ActivationSchema
}) {}

export class EpsNetworkConfig extends Schema.Class<EpsNetworkConfig>("EpsNetworkConfig")({
  /** Width of z (actions, plus 1 for SWG's weight). */
  dataDim: Int,
  /** Width of the condition (state dims, or 1 for the toys' β); 0 for none. */
  conditionDim: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Fourier features of t (SWG-JAX: 128). */
  timeFeatures: Int,
  /** Width of the time MLP Dense → act → Dense (SWG-JAX: 256, swish). */
  timeHidden: Int,
  body: Schema.Union([LnResNetBody, MlpBody])
}) {}

/**
 * SWG's D4RL actor: LN-ResNet 3×256 (inner 1024), dropout 0.1, weight head from block 2 of 3.
 * SWG-JAX uses swish (silu); IDQL's LN-ResNet uses mish.
 */
export const swgActor = (actionDim: number, stateDim: number, activation: ActivationName = "silu"): EpsNetworkConfig =>
  new EpsNetworkConfig({
    dataDim: actionDim + 1,
    conditionDim: stateDim,
    timeFeatures: 128,
    timeHidden: 256,
    body: new LnResNetBody({ hidden: 256, blocks: 3, activation, dropout: 0.1, weightHeadBlock: 1, weightHeadWidth: 256 })
  })

const timeMlp = (c: EpsNetworkConfig): Mlp.MlpConfig => ({
  inputs: c.timeFeatures,
  widths: [c.timeHidden, c.timeHidden],
  activation: "silu"
})

const bodyInputs = (c: EpsNetworkConfig) => c.dataDim + c.conditionDim + c.timeHidden

const resNet = (c: EpsNetworkConfig, b: LnResNetBody): LnResNet.LnResNetConfig => ({
  inputs: bodyInputs(c),
  outputs: b.weightHeadBlock === undefined ? c.dataDim : c.dataDim - 1,
  hidden: b.hidden,
  blocks: b.blocks,
  activation: b.activation,
  dropout: b.dropout,
  ...(b.weightHeadBlock === undefined ? {} : { weightHeadBlock: b.weightHeadBlock, weightHeadWidth: b.weightHeadWidth ?? 256 })
})

const mlp = (c: EpsNetworkConfig, b: MlpBody): Mlp.MlpConfig => ({
  inputs: bodyInputs(c),
  widths: [...Array.from({ length: b.layers - 1 }, () => b.hidden), c.dataDim],
  activation: b.activation
})

export const specs = (c: EpsNetworkConfig): Array<ParamSpec> => [
  ...FourierFeatures.specs("time.fourier", 1, c.timeFeatures),
  ...Mlp.specs("time.mlp", timeMlp(c)),
  ...(c.body._tag === "LnResNetBody" ? LnResNet.specs("body", resNet(c, c.body)) : Mlp.specs("body", mlp(c, c.body)))
]

/**
 * Times as rows of a table: input row i is at time `times[index[i]]` (times [K, 1], index [B, 1]).
 * The time embedding (Fourier features and the time MLP, row by row) is then computed once per
 * distinct time and gathered: a training batch holds at most T distinct steps, a sampling step one.
 */
export interface TimeRows {
  readonly times: Var
  readonly index: Tensor
}

/**
 * The LN-ResNet body's input layer with the time MLP's last Dense folded into it, for one time per row. The time
 * embedding e = a·W₂ + b₂ (a: the time MLP's hidden activations) enters h₀ = [z, s, e]·W_in + b_in only linearly, so
 *   h₀ = [z, s]·W_zs + a·(W₂·W_e) + (b₂·W_e + b_in)    (W_zs, W_e: the rows of W_in for [z, s] and for e),
 * the same up to rounding. It replaces the products [B, T_h]·[T_h, T_h] and [B, T_h]·[T_h, hidden] by W₂·W_e
 * ([T_h, T_h]·[T_h, hidden]) and [B, T_h]·[T_h, hidden]: cheaper when the batch B exceeds the body's width
 * (D-DICE's behaviour model: a distinct t on each of 512 rows), in the backward pass alike.
 */
const foldedInput = (p: Bound, c: EpsNetworkConfig, zs: Var, time: Var): Var => {
  const t = p.tape
  const layers = timeMlp(c).widths.length
  const a = Mlp.apply(p, "time.mlp", { ...timeMlp(c), widths: timeMlp(c).widths.slice(0, -1), activateFinal: true }, FourierFeatures.apply(p, "time.fourier", time))
  const w = p.get("body.in.w")
  const we = t.sliceRows(w, zs.cols, c.timeHidden)
  const bias = t.add(p.get("body.in.b"), t.matmul(p.get(`time.mlp.${layers - 1}.b`), we))
  return t.add(t.linear(zs, t.sliceRows(w, 0, zs.cols), bias), t.matmul(a, t.matmul(p.get(`time.mlp.${layers - 1}.w`), we)))
}

/**
 * ε_θ(z_t, condition, t): z [B, dataDim], condition [B, conditionDim] or absent, time [B, 1] or as `TimeRows`. With
 * one time per row on more rows than an LN-ResNet body is wide, the time MLP's last layer is folded into the body's
 * input layer (`foldedInput`).
 */
export const apply = (p: Bound, c: EpsNetworkConfig, z: Var, condition: Var | undefined, time: Var | TimeRows): Var => {
  const t = p.tape
  if (c.body._tag === "LnResNetBody" && !("index" in time) && time.rows > c.body.hidden) {
    const zs = condition === undefined ? z : t.concatCols([z, condition])
    return LnResNet.afterInput(p, "body", resNet(c, c.body), foldedInput(p, c, zs, time))
  }
  const embed = (x: Var) => Mlp.apply(p, "time.mlp", timeMlp(c), FourierFeatures.apply(p, "time.fourier", x))
  const timeEmbedding = "index" in time ? t.gatherRows(embed(time.times), time.index) : embed(time)
  const input = t.concatCols(condition === undefined ? [z, timeEmbedding] : [z, condition, timeEmbedding])
  return c.body._tag === "LnResNetBody"
    ? LnResNet.apply(p, "body", resNet(c, c.body), input)
    : Mlp.apply(p, "body", mlp(c, c.body), input)
}
