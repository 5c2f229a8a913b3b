/**
 * Learnable Fourier features of a (time) input, as SWG-JAX/IDQL's `FourierFeatures(learnable=True)`:
 * f = 2π·x·W with W [inputs, half] ~ N(0, 0.2²), output [cos f, sin f] of width 2·half.
 */
import type { Bound, ParamSpec } from "./Parameters.ts"
import type { Var } from "./Tape.ts"

export const INIT_STD = 0.2

export const specs = (name: string, inputs: number, outputs: number): Array<ParamSpec> => {
  if (outputs % 2 !== 0) throw new Error(`Fourier features need an even width, got ${outputs}`)
  return [{ name: `${name}.w`, rows: inputs, cols: outputs / 2, init: { kind: "normal", std: INIT_STD } }]
}

export const apply = (p: Bound, name: string, x: Var): Var => {
  const t = p.tape
  const f = t.affine(t.matmul(x, p.get(`${name}.w`)), 2 * Math.PI)
  return t.concatCols([t.unary("cos", f), t.unary("sin", f)])
}
