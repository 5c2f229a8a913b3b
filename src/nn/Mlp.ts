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

export const apply = (p: Bound, name: string, c: MlpConfig, x: Var): Var =>
  c.widths.reduce((h, _, i) => {
    const last = i === c.widths.length - 1
    return Linear.apply(p, `${name}.${i}`, h, last && !c.activateFinal ? "identity" : c.activation)
  }, x)
