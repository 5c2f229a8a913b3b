/**
 * The SWG network body: gradients of an LN-ResNet with the weight head w.r.t. its flat parameter
 * buffer and w.r.t. its input, against central finite differences (f64 CPU, dropout on).
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as FourierFeatures from "../../src/nn/FourierFeatures.ts"
import * as LnResNet from "../../src/nn/LnResNet.ts"
import * as Mlp from "../../src/nn/Mlp.ts"
import * as Parameters from "../../src/nn/Parameters.ts"
import { Tape } from "../../src/nn/Tape.ts"
import { closeness, numericGradient, valuesOf } from "../fixtures/FiniteDifference.ts"

const B = CpuBackend.make({ precision: "f64" })

const config: LnResNet.LnResNetConfig = {
  inputs: 5, outputs: 3, hidden: 4, blocks: 3, activation: "mish", dropout: 0.2, weightHeadBlock: 1, weightHeadWidth: 3
}

const random = (seed: number, rows: number, cols: number) => {
  const data = new Float32Array(rows * cols)
  Rng.fillNormal(Rng.named(seed, "data"), data)
  return B.upload(data, rows, cols)
}

describe("LN-ResNet with the SWG weight head", () => {
  const layout = Parameters.layout(LnResNet.specs("net", config))
  const params = B.upload(Parameters.initialize(layout, Rng.named(3, "init")), 1, layout.size)
  const x = random(4, 6, config.inputs)
  const r = random(5, 6, config.outputs + 1)

  const forward = () => {
    const tape = new Tape(B, { training: true, rng: Rng.named(9, "dropout") })
    const p = new Parameters.Bound(tape, layout, params)
    const input = tape.leaf(x)
    const out = LnResNet.apply(p, "net", config, input)
    const loss = tape.reduce("sum", "all", tape.mul(out, tape.leaf(r)))
    return { tape, p, input, out, loss }
  }

  it("outputs the action head then the weight head", () => {
    expect(forward().out.cols).toBe(config.outputs + 1)
    expect(layout.count).toBe(
      5 * 4 + 4 + 3 * (4 + 4 + 4 * 16 + 16 + 16 * 4 + 4) + 4 * 3 + 3 + 4 * 3 + 3 + 3 * 1 + 1
    )
  })

  it("parameter gradients match finite differences", () => {
    const { p, loss } = forward()
    const grads = B.zeros(1, layout.size)
    p.gradInto(loss, grads)
    const numeric = numericGradient(() => valuesOf(forward().loss.value)[0], params)
    const c = closeness(valuesOf(grads), numeric, 1e-6, 1e-5)
    expect(c.worst, `worst at ${c.at}: ${c.actual} vs ${c.expected}`).toBeLessThanOrEqual(1)
  })

  it("input gradients match finite differences", () => {
    const { tape, input, loss } = forward()
    const [g] = tape.grad(loss, [input])
    const numeric = numericGradient(() => valuesOf(forward().loss.value)[0], x)
    const c = closeness(valuesOf(g), numeric, 1e-6, 1e-5)
    expect(c.worst, `worst at ${c.at}: ${c.actual} vs ${c.expected}`).toBeLessThanOrEqual(1)
  })

  it("the weight output depends on the blocks up to the head only", () => {
    // d ε_w / d (last block's parameters) = 0: the head reads block 1 of 3.
    const { tape, p, out } = forward()
    const w = tape.reduce("sum", "all", tape.sliceCols(out, config.outputs, 1))
    const [gLast, gHead] = tape.grad(w, [p.get("net.block2.dense1.w"), p.get("net.weightHead1.w")])
    expect(Math.max(...valuesOf(gLast).map(Math.abs))).toBe(0)
    expect(Math.max(...valuesOf(gHead).map(Math.abs))).toBeGreaterThan(0)
  })
})

describe("MLP and learnable Fourier features", () => {
  it("gradients w.r.t. parameters and input match finite differences", () => {
    const mlp: Mlp.MlpConfig = { inputs: 6, widths: [5, 4], activation: "silu" }
    const layout = Parameters.layout([...FourierFeatures.specs("time", 1, 6), ...Mlp.specs("mlp", mlp)])
    const params = B.upload(Parameters.initialize(layout, Rng.named(1, "init")), 1, layout.size)
    const t = B.upload(Float32Array.from([0, 3, 7, 14]), 4, 1)
    const r = random(2, 4, 4)
    const forward = () => {
      const tape = new Tape(B)
      const p = new Parameters.Bound(tape, layout, params)
      const input = tape.leaf(t)
      const out = Mlp.apply(p, "mlp", mlp, FourierFeatures.apply(p, "time", input))
      return { tape, p, input, loss: tape.reduce("sum", "all", tape.mul(out, tape.leaf(r))) }
    }
    const { tape, p, input, loss } = forward()
    const grads = B.zeros(1, layout.size)
    p.gradInto(loss, grads)
    const c = closeness(valuesOf(grads), numericGradient(() => valuesOf(forward().loss.value)[0], params), 1e-6, 1e-5)
    expect(c.worst).toBeLessThanOrEqual(1)
    const [gt] = tape.grad(loss, [input])
    const ct = closeness(valuesOf(gt), numericGradient(() => valuesOf(forward().loss.value)[0], t), 1e-6, 1e-5)
    expect(ct.worst).toBeLessThanOrEqual(1)
  })
})
