/**
 * Whole programs on both backends (test/fixtures/ParityPrograms.ts): an MLP regression reaches the same loss curve on
 * the GPU as on the CPU reference; an SWG training step and a guided sampling loop (same RNG streams) agree.
 */
import { Effect } from "effect"
import { expect } from "vitest"
import { Gpu } from "../../src/services/Gpu.ts"
import { cpu, describeGpu } from "../fixtures/GpuTest.ts"
import { lossCurve, programTolerance as program, swgProgram } from "../fixtures/ParityPrograms.ts"
import { assertClose } from "../fixtures/Tolerance.ts"

describeGpu("training and sampling programs", (it) => {
  it.effect("an MLP regression reaches the same loss curve on GPU and CPU", () =>
    Effect.gen(function*() {
      const { backend } = yield* Gpu
      const gpuCurve = yield* Effect.promise(() => lossCurve(backend, 100))
      const cpuCurve = yield* Effect.promise(() => lossCurve(cpu, 100))
      // f32 rounding differs between backends, so curves drift apart slowly; 2 % relative is the bound.
      gpuCurve.forEach((l, i) => expect(Math.abs(l - cpuCurve[i]) / cpuCurve[i]).toBeLessThan(0.02))
      expect(cpuCurve[cpuCurve.length - 1]).toBeLessThan(cpuCurve[0] / 3)
    }))

  it.effect("an SWG training step and a guided DDPM loop match the CPU reference", () =>
    Effect.gen(function*() {
      const { backend } = yield* Gpu
      const g = yield* Effect.promise(() => swgProgram(backend, 3))
      const c = yield* Effect.promise(() => swgProgram(cpu, 3))
      assertClose(Float32Array.from(g.losses), Float32Array.from(c.losses), program, "losses")
      assertClose(g.params, c.params, program, "parameters after 3 steps")
      assertClose(g.samples, c.samples, program, "guided samples")
    }))
})
