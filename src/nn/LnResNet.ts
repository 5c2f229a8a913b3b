/**
 * LN-ResNet of IDQL (Hansen-Estruch et al. 2023) and SWG (Tagle et al. 2025, App. D.2): Dense(hidden) → blocks of
 * [dropout → LayerNorm → Dense(4·hidden) → act → Dense(hidden)] + residual → act → Dense(out).
 * With a weight head (SWG, §2.6): the raw output of block `weightHeadBlock` (the middle one)
 * goes through Dense(weightHeadWidth) → act → Dense(1), concatenated last: [ε_a, ε_w].
 */
import type { Activation } from "../domain/Ops.ts"
import * as Linear from "./Linear.ts"
import type { Bound, ParamSpec } from "./Parameters.ts"
import type { Var } from "./Tape.ts"

export interface LnResNetConfig {
  readonly inputs: number
  readonly outputs: number
  readonly hidden: number
  readonly blocks: number
  readonly activation: Activation
  readonly dropout: number
  /** Index of the block whose output feeds the weight head; absent for a plain LN-ResNet. */
  readonly weightHeadBlock?: number
  /** Width of the weight head's hidden layer (hard-coded 256 in SWG-JAX). */
  readonly weightHeadWidth?: number
}

/** LayerNorm epsilon of flax's nn.LayerNorm. */
export const LAYER_NORM_EPS = 1e-6

const blockSpecs = (name: string, hidden: number): Array<ParamSpec> => [
  { name: `${name}.ln.gamma`, rows: 1, cols: hidden, init: { kind: "ones" } },
  { name: `${name}.ln.beta`, rows: 1, cols: hidden, init: { kind: "zeros" } },
  ...Linear.specs(`${name}.dense1`, hidden, 4 * hidden, { kind: "lecunNormal" }),
  ...Linear.specs(`${name}.dense2`, 4 * hidden, hidden, { kind: "lecunNormal" })
]

export const specs = (name: string, c: LnResNetConfig): Array<ParamSpec> => [
  ...Linear.specs(`${name}.in`, c.inputs, c.hidden),
  ...Array.from({ length: c.blocks }, (_, i) => blockSpecs(`${name}.block${i}`, c.hidden)).flat(),
  ...Linear.specs(`${name}.out`, c.hidden, c.outputs),
  ...(c.weightHeadBlock === undefined
    ? []
    : [
      ...Linear.specs(`${name}.weightHead0`, c.hidden, c.weightHeadWidth ?? 256),
      ...Linear.specs(`${name}.weightHead1`, c.weightHeadWidth ?? 256, 1)
    ])
]

const block = (p: Bound, name: string, c: LnResNetConfig, x: Var): Var => {
  const t = p.tape
  const h0 = t.dropout(x, c.dropout)
  const h1 = t.layerNorm(h0, p.get(`${name}.ln.gamma`), p.get(`${name}.ln.beta`), LAYER_NORM_EPS)
  const h2 = Linear.apply(p, `${name}.dense1`, h1, c.activation)
  const h3 = Linear.apply(p, `${name}.dense2`, h2)
  return t.add(x, h3)
}

/** Output [rows, outputs] (+1 column for the weight head when configured). */
export const apply = (p: Bound, name: string, c: LnResNetConfig, x: Var): Var => afterInput(p, name, c, Linear.apply(p, `${name}.in`, x))

/** The network after its input layer, from that layer's output h = x·W_in + b_in [rows, hidden] (a caller may compute h its own way). */
export const afterInput = (p: Bound, name: string, c: LnResNetConfig, input: Var): Var => {
  const t = p.tape
  let h = input
  let weight: Var | undefined
  for (let i = 0; i < c.blocks; i++) {
    h = block(p, `${name}.block${i}`, c, h)
    if (i === c.weightHeadBlock) {
      weight = Linear.apply(p, `${name}.weightHead1`, Linear.apply(p, `${name}.weightHead0`, h, c.activation))
    }
  }
  const out = Linear.apply(p, `${name}.out`, t.unary(c.activation, h))
  return weight === undefined ? out : t.concatCols([out, weight])
}
