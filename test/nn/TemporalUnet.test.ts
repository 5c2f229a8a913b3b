/**
 * The temporal U-Net's residual block: gradients w.r.t. its flat parameter buffer, the input
 * sequence and the time embedding against central finite differences (f64 CPU), with and without
 * the 1×1 residual convolution; and that sequences do not see each other.
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Parameters from "../../src/nn/Parameters.ts"
import { Tape } from "../../src/nn/Tape.ts"
import * as TemporalUnet from "../../src/nn/TemporalUnet.ts"
import { closeness, numericGradient, valuesOf } from "../fixtures/FiniteDifference.ts"

const B = CpuBackend.make({ precision: "f64" })

const random = (seed: number, rows: number, cols: number) => {
  const data = new Float32Array(rows * cols)
  Rng.fillNormal(Rng.named(seed, "data"), data)
  return B.upload(data, rows, cols)
}

const [batch, length] = [2, 5]

for (const [label, config] of [
  ["3 → 4 channels (1×1 residual convolution)", { inputs: 3, outputs: 4, embedding: 5, kernel: 3, groups: 2, activation: "mish" }],
  ["4 → 4 channels (identity residual), kernel 2", { inputs: 4, outputs: 4, embedding: 3, kernel: 2, groups: 4, activation: "mish" }]
] as const) {
  describe(`temporal residual block, ${label}`, () => {
    const layout = Parameters.layout(TemporalUnet.residualBlockSpecs("block", config))
    // Random (not flax's zero) biases and norm parameters, so that every gradient is exercised.
    const params = random(3, 1, layout.size)
    const x = random(4, batch * length, config.inputs)
    const temb = random(5, batch, config.embedding)
    const r = random(6, batch * length, config.outputs)
    const rows = TemporalUnet.sequenceOfRows(B, batch, length)

    const forward = () => {
      const tape = new Tape(B)
      const p = new Parameters.Bound(tape, layout, params)
      const [xv, tv] = [tape.leaf(x), tape.leaf(temb)]
      const out = TemporalUnet.residualBlock(p, "block", config, xv, tv, rows, length)
      const loss = tape.reduce("sum", "all", tape.mul(out, tape.leaf(r)))
      return { tape, p, xv, tv, out, loss }
    }

    it("has the residual convolution only when the channel counts differ", () => {
      expect(layout.specs.some((s) => s.name === "block.residual.w")).toBe(config.inputs !== config.outputs)
      expect([forward().out.rows, forward().out.cols]).toEqual([batch * length, config.outputs])
    })

    it("parameter gradients match finite differences", () => {
      const { p, loss } = forward()
      const grads = B.zeros(1, layout.size)
      p.gradInto(loss, grads)
      const numeric = numericGradient(() => valuesOf(forward().loss.value)[0], params)
      const c = closeness(valuesOf(grads), numeric, 1e-6, 1e-5)
      expect(c.worst, `worst at ${c.at}: ${c.actual} vs ${c.expected}`).toBeLessThanOrEqual(1)
    })

    it("input and time-embedding gradients match finite differences", () => {
      const { tape, xv, tv, loss } = forward()
      const [gx, gt] = tape.grad(loss, [xv, tv])
      for (const [name, g, leaf] of [["x", gx, x], ["temb", gt, temb]] as const) {
        const numeric = numericGradient(() => valuesOf(forward().loss.value)[0], leaf)
        const c = closeness(valuesOf(g), numeric, 1e-6, 1e-5)
        expect(c.worst, `${name}: worst at ${c.at}: ${c.actual} vs ${c.expected}`).toBeLessThanOrEqual(1)
      }
    })

    it("sequence 1's output does not depend on sequence 0's input or time embedding", () => {
      const { tape, xv, tv, out } = forward()
      const seed = new Float32Array(out.rows * out.cols)
      seed.fill(1, length * config.outputs)
      const [gx, gt] = tape.grad(out, [xv, tv], B.upload(seed, out.rows, out.cols))
      const gxv = valuesOf(gx)
      const gtv = valuesOf(gt)
      expect(Math.max(...gxv.subarray(0, length * config.inputs).map(Math.abs))).toBe(0)
      expect(Math.max(...gtv.subarray(0, config.embedding).map(Math.abs))).toBe(0)
      expect(Math.max(...gxv.subarray(length * config.inputs).map(Math.abs))).toBeGreaterThan(0)
      expect(Math.max(...gtv.subarray(config.embedding).map(Math.abs))).toBeGreaterThan(0)
    })
  })
}
