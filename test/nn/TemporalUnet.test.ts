/**
 * The temporal U-Net's residual block: gradients w.r.t. its flat parameter buffer, the input
 * sequence and the time embedding against central finite differences (f64 CPU), with and without
 * the 1×1 residual convolution; and that sequences do not see each other.
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import type { CpuTensor } from "../../src/domain/cpu/CpuBackend.ts"
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

describe("temporal U-Net (PGD §4.2)", () => {
  for (const residual of [false, true]) {
    const config: TemporalUnet.UnetConfig = { channels: 3, width: 8, depth: 3, groups: 2, activation: "relu", residual }
    const [n, len] = [2, 8]
    const layout = Parameters.layout(TemporalUnet.unetSpecs("unet", config))
    const params = random(13, 1, layout.size)
    const x = random(14, n * len, config.channels)
    const time = random(15, n, 1)
    const r = random(16, n * len, config.channels)
    const forward = () => {
      const tape = new Tape(B)
      const p = new Parameters.Bound(tape, layout, params)
      const [xv, tv] = [tape.leaf(x), tape.leaf(time)]
      const out = TemporalUnet.unet(p, "unet", config, xv, tv, len)
      // Smooth away from relu kinks: weight the output by a fixed random field.
      const loss = tape.reduce("sum", "all", tape.mul(out, tape.leaf(r)))
      return { tape, p, xv, tv, out, loss }
    }
    /** Central differences at a deterministic subset of entries (every `every`-th), with the tape's gradient there. */
    const check = (label: string, g: Float64Array, leaf: ReturnType<typeof random>, every: number) => {
      const data = (leaf as CpuTensor).data
      const at = Array.from({ length: Math.ceil(leaf.size / every) }, (_, i) => i * every)
      const h = 1e-6
      const numeric = at.map((i) => {
        const saved = data[i]
        data[i] = saved + h
        const up = valuesOf(forward().loss.value)[0]
        data[i] = saved - h
        const down = valuesOf(forward().loss.value)[0]
        data[i] = saved
        return (up - down) / (2 * h)
      })
      const c = closeness(at.map((i) => g[i]), numeric, 1e-5, 1e-4)
      expect(c.worst, `${label}: worst at ${c.at}: ${c.actual} vs ${c.expected}`).toBeLessThanOrEqual(1)
    }

    it(`${residual ? "with" : "without"} residual blocks: shapes, and gradients w.r.t. parameters, input and time against finite differences`, () => {
      const { p, tape, xv, tv, out, loss } = forward()
      expect([out.rows, out.cols]).toEqual([n * len, config.channels])
      expect(layout.specs.some((s) => s.name.endsWith(".residual.w"))).toBe(residual)
      const grads = B.zeros(1, layout.size)
      p.gradInto(loss, grads)
      const [gx, gt] = tape.grad(loss, [xv, tv])
      check("params", valuesOf(grads), params, 11)
      check("x", valuesOf(gx), x, 1)
      check("time", valuesOf(gt), time, 1)
    })
  }

  it("keeps sequences apart, and rejects a length the depth cannot halve", () => {
    const config: TemporalUnet.UnetConfig = { channels: 2, width: 8, depth: 2, groups: 4, activation: "relu", residual: false }
    const layout = Parameters.layout(TemporalUnet.unetSpecs("u", config))
    const params = random(20, 1, layout.size)
    const [n, len] = [2, 4]
    const tape = new Tape(B)
    const p = new Parameters.Bound(tape, layout, params)
    const [xv, tv] = [tape.leaf(random(21, n * len, 2)), tape.leaf(random(22, n, 1))]
    const out = TemporalUnet.unet(p, "u", config, xv, tv, len)
    const seed = new Float32Array(out.rows * out.cols)
    seed.fill(1, len * 2)
    const [gx, gt] = tape.grad(out, [xv, tv], B.upload(seed, out.rows, out.cols))
    expect(Math.max(...valuesOf(gx).subarray(0, len * 2).map(Math.abs))).toBe(0)
    expect(valuesOf(gt)[0]).toBe(0)
    expect(Math.abs(valuesOf(gt)[1])).toBeGreaterThan(0)
    expect(() => TemporalUnet.unet(p, "u", { ...config, depth: 3 }, xv, tv, 6)).toThrow(/not divisible by 2\^2/)
  })
})
