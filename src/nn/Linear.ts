/** Dense layer act(x·W + b) with W [in, out] and b [1, out]. */
import type { Activation } from "../domain/Ops.ts"
import type { Bound, Init, ParamSpec } from "./Parameters.ts"
import type { Var } from "./Tape.ts"

export const specs = (name: string, inputs: number, outputs: number, init: Init = { kind: "xavierUniform" }): Array<ParamSpec> => [
  { name: `${name}.w`, rows: inputs, cols: outputs, init },
  { name: `${name}.b`, rows: 1, cols: outputs, init: { kind: "zeros" } }
]

export const apply = (p: Bound, name: string, x: Var, activation: Activation = "identity"): Var =>
  p.tape.linear(x, p.get(`${name}.w`), p.get(`${name}.b`), activation)
