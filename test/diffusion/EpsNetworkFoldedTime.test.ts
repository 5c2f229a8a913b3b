/**
 * ε_θ with one time per row on more rows than its LN-ResNet body is wide: the time MLP's last Dense folded into the
 * body's input layer (EpsNetwork.apply) against the same network unfolded (the time embedding of every row gathered
 * by the identity, `TimeRows`): the same outputs, parameter and input gradients (f64 CPU to rounding, WASM to f32
 * rounding), with and without a condition; the folded pass makes no [rows, timeHidden]·[timeHidden, timeHidden]
 * product, and a batch no wider than the body is not folded.
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as ProfiledBackend from "../../src/domain/ProfiledBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type { TensorBackend } from "../../src/domain/TensorBackend.ts"
import * as EpsNetwork from "../../src/diffusion/EpsNetwork.ts"
import * as Parameters from "../../src/nn/Parameters.ts"
import { Tape } from "../../src/nn/Tape.ts"
import * as WasmBackend from "../../src/wasm/WasmBackend.ts"
import { assertClose } from "../fixtures/Tolerance.ts"

const network = (conditionDim: number) =>
  new EpsNetwork.EpsNetworkConfig({
    dataDim: 3, conditionDim, timeFeatures: 16, timeHidden: 24,
    body: new EpsNetwork.LnResNetBody({ hidden: 8, blocks: 2, activation: "silu", dropout: 0.1 })
  })

const run = (B: TensorBackend, c: EpsNetwork.EpsNetworkConfig, rows: number, unfolded: boolean) => {
  const layout = Parameters.layout(EpsNetwork.specs(c))
  const params = B.upload(Parameters.initialize(layout, Rng.named(1, "init")), 1, layout.size)
  const tape = new Tape(B, { training: true, rng: Rng.named(2, "dropout") })
  const p = new Parameters.Bound(tape, layout, params)
  const z = tape.leaf(B.normal(rows, c.dataDim, Rng.named(3, "z")))
  const condition = c.conditionDim === 0 ? undefined : tape.leaf(B.normal(rows, c.conditionDim, Rng.named(4, "s")))
  const times = tape.leaf(B.affine(B.uniform(rows, 1, Rng.named(5, "t")), 150, 0))
  const time = unfolded ? { times, index: B.upload(Float32Array.from({ length: rows }, (_, i) => i), rows, 1) } : times
  const out = EpsNetwork.apply(p, c, z, condition, time)
  const r = tape.leaf(B.normal(rows, out.cols, Rng.named(6, "r")))
  const loss = tape.reduce("sum", "all", tape.mul(out, r))
  const grads = B.zeros(1, layout.size)
  p.gradInto(loss, grads)
  const [dz, dt] = tape.grad(loss, [z, times])
  return { out, grads, dz, dt }
}

const compare = async (B: TensorBackend, c: EpsNetwork.EpsNetworkConfig, atol: number, rtol: number) => {
  const rows = 37
  const [folded, unfolded] = [run(B, c, rows, false), run(B, c, rows, true)]
  assertClose(await B.read(folded.out.value), await B.read(unfolded.out.value), { atol, rtol }, "output")
  assertClose(await B.read(folded.grads), await B.read(unfolded.grads), { atol, rtol }, "parameter gradients")
  assertClose(await B.read(folded.dz), await B.read(unfolded.dz), { atol, rtol }, "input gradients")
  assertClose(await B.read(folded.dt), await B.read(unfolded.dt), { atol: 10 * atol, rtol: 10 * rtol }, "time gradients")
}

/** The products op(A)·op(B) one pass (forward and gradients) makes, by their labels. */
const products = (c: EpsNetwork.EpsNetworkConfig, rows: number, unfolded: boolean): Array<string> => {
  const profiler = ProfiledBackend.profile(CpuBackend.make(), { shapes: true })
  run(profiler.backend, c, rows, unfolded)
  return profiler.report().map((r) => r.op).filter((op) => op.startsWith("matmul"))
}

describe("ε-network with the time MLP's last layer folded into the body's input layer", () => {
  for (const conditionDim of [4, 0]) {
    it(`equals the unfolded network on the f64 CPU backend (condition width ${conditionDim})`, async () => {
      await compare(CpuBackend.make({ precision: "f64" }), network(conditionDim), 1e-12, 1e-10)
    })

    it(`equals the unfolded network on the WASM backend to f32 rounding (condition width ${conditionDim})`, async () => {
      const B = WasmBackend.make({ threads: 1 })
      try {
        await compare(B, network(conditionDim), 1e-5, 1e-4)
      } finally {
        B.close()
      }
    })
  }

  it("makes no [rows, 24]·[24, 24] product when folded; 8 rows (the body's width) are not folded", () => {
    const c = network(4)
    expect(products(c, 37, true)).toContain("matmul 37x24x24 NN bias")
    expect(products(c, 37, false).filter((op) => op.startsWith("matmul 37x24x24"))).toEqual([])
    expect(products(c, 37, false)).toContain("matmul 24x24x8 NN")
    expect(products(c, 8, false)).toContain("matmul 8x24x24 NN bias")
  })
})
