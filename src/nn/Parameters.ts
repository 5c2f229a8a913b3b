/**
 * A model's parameters live in one flat buffer: each named matrix is a view at an offset
 * aligned to 64 floats (256 bytes, WebGPU's storage-binding offset alignment). AdamW, EMA and
 * Polyak updates are then one fused kernel each, and a checkpoint is one array plus a layout.
 * Initialisers follow flax (the SWG/IDQL reference code): xavier_uniform for the outer dense
 * layers, lecun_normal (truncated normal, variance 1/fan_in) for flax's default Dense.
 */
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import type { Tape, Var } from "./Tape.ts"

export type Init =
  | { readonly kind: "xavierUniform" }
  | { readonly kind: "lecunNormal" }
  | { readonly kind: "normal"; readonly std: number }
  | { readonly kind: "zeros" }
  | { readonly kind: "ones" }

export interface ParamSpec {
  readonly name: string
  readonly rows: number
  readonly cols: number
  readonly init: Init
}

export interface Layout {
  readonly specs: ReadonlyArray<ParamSpec>
  /** Element offset of each spec in the flat buffer (multiples of 64). */
  readonly offsets: ReadonlyArray<number>
  /** Length of the flat buffer, padding included. */
  readonly size: number
  /** Number of real parameters (no padding). */
  readonly count: number
}

const ALIGN = 64

export const layout = (specs: ReadonlyArray<ParamSpec>): Layout => {
  const names = new Set<string>()
  const offsets: Array<number> = []
  let size = 0
  let count = 0
  for (const s of specs) {
    if (names.has(s.name)) throw new Error(`duplicate parameter name ${s.name}`)
    names.add(s.name)
    offsets.push(size)
    size += Math.ceil((s.rows * s.cols) / ALIGN) * ALIGN
    count += s.rows * s.cols
  }
  return { specs, offsets, size: Math.max(size, ALIGN), count }
}

/** Truncated standard normal on [−2, 2] by rejection from a stream of normals. */
const truncatedNormals = (key: RngKey, n: number): Float64Array => {
  const out = new Float64Array(n)
  const block = new Float64Array(Math.max(2 * n, 64))
  let filled = 0
  for (let round = 0; filled < n; round++) {
    Rng.fillNormal(Rng.at(key, key.offset + round), block)
    for (let i = 0; i < block.length && filled < n; i++) if (Math.abs(block[i]) <= 2) out[filled++] = block[i]
  }
  return out
}

/** Host-side initial values of the flat buffer, deterministic in `key`. */
export const initialize = (l: Layout, key: RngKey): Float32Array => {
  const flat = new Float32Array(l.size)
  l.specs.forEach((s, i) => {
    const n = s.rows * s.cols
    const view = flat.subarray(l.offsets[i], l.offsets[i] + n)
    const k = Rng.split(key, s.name)
    switch (s.init.kind) {
      case "zeros":
        return
      case "ones":
        view.fill(1)
        return
      case "xavierUniform": {
        // U(−a, a) with a = √(6/(fan_in + fan_out)); a [rows, cols] kernel maps rows → cols.
        const a = Math.sqrt(6 / (s.rows + s.cols))
        Rng.fillUniform(k, view)
        for (let j = 0; j < n; j++) view[j] = (2 * view[j] - 1) * a
        return
      }
      case "lecunNormal": {
        // Truncated normal rescaled so the variance is 1/fan_in (0.87962566 = std of N(0,1) cut at ±2).
        const std = Math.sqrt(1 / s.rows) / 0.87962566103423978
        const z = truncatedNormals(k, n)
        for (let j = 0; j < n; j++) view[j] = z[j] * std
        return
      }
      case "normal": {
        Rng.fillNormal(k, view)
        for (let j = 0; j < n; j++) view[j] *= s.init.std
        return
      }
    }
  })
  return flat
}

/** Views of each parameter inside a flat tensor (parameters, gradients or optimizer moments). */
export const views = (backend: TensorBackend, l: Layout, flat: Tensor): ReadonlyMap<string, Tensor> =>
  new Map(l.specs.map((s, i) => [s.name, backend.view(flat, l.offsets[i], s.rows, s.cols)]))

/** The parameters of one forward pass: leaves on a tape, looked up by name. */
export class Bound {
  readonly tape: Tape
  private readonly vars: Map<string, Var>
  private readonly layoutOf: Layout

  constructor(tape: Tape, l: Layout, flat: Tensor) {
    this.tape = tape
    this.layoutOf = l
    this.vars = new Map([...views(tape.backend, l, flat)].map(([name, t]) => [name, tape.leaf(t)]))
  }

  get(name: string): Var {
    const v = this.vars.get(name)
    if (v === undefined) throw new Error(`no parameter named ${name}`)
    return v
  }

  /** All parameter leaves in layout order. */
  all(): Array<Var> {
    return this.layoutOf.specs.map((s) => this.get(s.name))
  }

  /** Writes d loss / d θ into the flat gradient tensor `gradFlat` (same layout). */
  gradInto(loss: Var, gradFlat: Tensor): void {
    const B = this.tape.backend
    const params = this.all()
    const grads = this.tape.grad(loss, params)
    const targets = views(B, this.layoutOf, gradFlat)
    B.copyIntoMany(this.layoutOf.specs.map((s, i) => [targets.get(s.name)!, grads[i]] as const))
  }
}
