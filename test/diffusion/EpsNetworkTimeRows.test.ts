/**
 * ε_θ and QGPO's energy f_φ with their time given as rows of a table (`TimeRows`: the embedding of each
 * distinct time, gathered per row; for f_φ also the embedding's share of the body's first layer) against
 * the same network fed one time per row: the same outputs, the same parameter and input gradients. f64 CPU:
 * equal to rounding; WASM: ε_θ's forward bit for bit (each row's products do not depend on the other rows),
 * f_φ's forward and all gradients to f32 rounding of reordered sums.
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as ProfiledBackend from "../../src/domain/ProfiledBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type { TensorBackend } from "../../src/domain/TensorBackend.ts"
import * as EpsNetwork from "../../src/diffusion/EpsNetwork.ts"
import * as Qgpo from "../../src/diffusion/Qgpo.ts"
import * as Parameters from "../../src/nn/Parameters.ts"
import { Tape, type Var } from "../../src/nn/Tape.ts"
import * as WasmBackend from "../../src/wasm/WasmBackend.ts"
import { assertClose } from "../fixtures/Tolerance.ts"

/** A network fed z [rows, dataDim], a condition [rows, conditionDim] and its time either way. */
interface Network {
  /** Whether the table's forward equals the per-row one bit for bit on WASM (the same products in the same order). */
  readonly sameProducts: boolean
  readonly dataDim: number
  readonly conditionDim: number
  readonly specs: ReadonlyArray<Parameters.ParamSpec>
  readonly apply: (p: Parameters.Bound, z: Var, condition: Var, time: Var | EpsNetwork.TimeRows) => Var
}

// A body wider than the batch (40 > 37 rows), so one time per row takes the plain input layer (no folding: see
// EpsNetworkFoldedTime.test.ts) and the two ways differ only in where the embedding is computed.
const eps = new EpsNetwork.EpsNetworkConfig({
  dataDim: 3, conditionDim: 4, timeFeatures: 16, timeHidden: 24,
  body: new EpsNetwork.LnResNetBody({ hidden: 40, blocks: 3, activation: "silu", dropout: 0.1, weightHeadBlock: 1, weightHeadWidth: 8 })
})
const epsNetwork: Network = { ...eps, sameProducts: true, specs: EpsNetwork.specs(eps), apply: (p, z, s, time) => EpsNetwork.apply(p, eps, z, s, time) }
const energy = new Qgpo.EnergyNetworkConfig({ dataDim: 3, conditionDim: 4, timeFeatures: 16, timeHidden: 12, hidden: 10, hiddenLayers: 2, activation: "silu" })
const energyNetwork: Network = { ...energy, sameProducts: false, specs: Qgpo.specs(energy), apply: (p, z, s, time) => Qgpo.apply(p, energy, z, s, time) }
const ROWS = 37
const STEPS = 15
/** Row i's step: repeated and out of order, with some steps absent. */
const steps = Array.from({ length: ROWS }, (_, i) => (i * 7 + 3) % 11)

const run = (B: TensorBackend, network: Network, asRows: boolean) => {
  const layout = Parameters.layout(network.specs)
  const params = B.upload(Parameters.initialize(layout, Rng.named(1, "init")), 1, layout.size)
  const tape = new Tape(B, { training: true, rng: Rng.named(2, "dropout") })
  const p = new Parameters.Bound(tape, layout, params)
  const z = tape.leaf(B.normal(ROWS, network.dataDim, Rng.named(3, "z")))
  const condition = tape.leaf(B.normal(ROWS, network.conditionDim, Rng.named(4, "s")))
  const time = asRows
    ? {
      times: tape.leaf(B.upload(Float32Array.from({ length: STEPS }, (_, t) => t), STEPS, 1)),
      index: B.upload(Float32Array.from(steps), ROWS, 1)
    }
    : tape.leaf(B.upload(Float32Array.from(steps), ROWS, 1))
  const out = network.apply(p, z, condition, time)
  const r = tape.leaf(B.normal(ROWS, out.cols, Rng.named(5, "r")))
  const loss = tape.reduce("sum", "all", tape.mul(out, r))
  const grads = B.zeros(1, layout.size)
  p.gradInto(loss, grads)
  const [dz] = tape.grad(loss, [z])
  return { out, grads, dz }
}

const compare = async (B: TensorBackend, network: Network, forwardExact: boolean, atol: number, rtol: number) => {
  const table = run(B, network, true)
  const perRow = run(B, network, false)
  const [outT, outR] = [await B.read(table.out.value), await B.read(perRow.out.value)]
  if (forwardExact) expect(Array.from(outT)).toEqual(Array.from(outR))
  else assertClose(outT, outR, { atol, rtol }, "output")
  assertClose(await B.read(table.grads), await B.read(perRow.grads), { atol, rtol }, "parameter gradients")
  assertClose(await B.read(table.dz), await B.read(perRow.dz), { atol, rtol }, "input gradients")
  // The time MLP's weights get a gradient at all (the gather's backward reaches them).
  expect(Array.from(await B.read(table.grads)).some((g) => g !== 0)).toBe(true)
}

describe("QGPO's energy network with TimeRows", () => {
  it("computes the time embedding's share of the first layer per distinct time: no product as wide as [x, s, e]", () => {
    const profiler = ProfiledBackend.profile(CpuBackend.make(), { shapes: true })
    run(profiler.backend, energyNetwork, true)
    const products = profiler.report().map((r) => r.op).filter((op) => op.startsWith("matmul"))
    // x and s: 3 + 4 columns, e: 12, body width 10; the table has 15 times
    expect(products).toContain("matmul 37x7x10 NN bias")
    expect(products).toContain("matmul 15x12x10 NN")
    expect(products.filter((op) => op.startsWith("matmul 37x19x"))).toEqual([])
  })
})

describe.each([["ε-network", epsNetwork], ["QGPO's energy network", energyNetwork]] as const)("%s with the time embedding gathered from a table of times", (_, network) => {
  it("equals one time per row on the f64 CPU backend", async () => {
    await compare(CpuBackend.make({ precision: "f64" }), network, false, 1e-12, 1e-10)
  })

  it("on the WASM backend: the same forward bit for bit, gradients to f32 rounding", async () => {
    const B = WasmBackend.make({ threads: 1 })
    try {
      await compare(B, network, network.sameProducts, 1e-5, 1e-4)
    } finally {
      B.close()
    }
  })
})
