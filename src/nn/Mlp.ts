/** Multi-layer perceptron: Dense layers with an activation between them (and after the last if asked). */
import type { Activation } from "../domain/Ops.ts"
import * as Linear from "./Linear.ts"
import type { Bound, Init, ParamSpec } from "./Parameters.ts"
import type { Var } from "./Tape.ts"

export interface MlpConfig {
  readonly inputs: number
  /** Widths of every layer, the output layer included. */
  readonly widths: ReadonlyArray<number>
  readonly activation: Activation
  /** Apply the activation after the last layer too. */
  readonly activateFinal?: boolean
  readonly init?: Init
}

export const specs = (name: string, c: MlpConfig): Array<ParamSpec> =>
  c.widths.flatMap((w, i) => Linear.specs(`${name}.${i}`, i === 0 ? c.inputs : c.widths[i - 1], w, c.init))

/** The activation after layer i. */
export const activationAfter = (c: MlpConfig, i: number): Activation => (i === c.widths.length - 1 && !c.activateFinal ? "identity" : c.activation)

export const apply = (p: Bound, name: string, c: MlpConfig, x: Var): Var => applyFrom(p, name, c, x, 0)

/** Layers `first` … of the MLP on h, the output of layer first − 1 (a caller may compute the earlier layers its own way). */
export const applyFrom = (p: Bound, name: string, c: MlpConfig, h: Var, first: number): Var =>
  c.widths.slice(first).reduce((v, _, j) => Linear.apply(p, `${name}.${first + j}`, v, activationAfter(c, first + j)), h)
