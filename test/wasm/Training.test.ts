/**
 * Whole programs (test/fixtures/ParityPrograms.ts) on the WASM backend against the CPU reference, with every matmul
 * split over two threads: an MLP regression reaches the same loss curve; a few SWG training steps (LN-ResNet
 * with dropout, the ε-loss, AdamW, EMA) give the same losses and parameters, and a 15-step guided
 * DDPM loop from them the same samples (same RNG streams).
 */
import { describe, expect, it } from "@effect/vitest"
import { lossCurve, programTolerance as program, swgProgram } from "../fixtures/ParityPrograms.ts"
import { assertClose } from "../fixtures/Tolerance.ts"
import { cpu, threaded } from "./Parity.ts"

describe("wasm training and sampling programs", () => {
  it("an MLP regression reaches the same loss curve as the CPU", async () => {
    const B = await threaded()
    try {
      const got = await lossCurve(B, 100)
      const want = await lossCurve(cpu, 100)
      // f32 rounding differs between backends, so curves drift apart slowly; 2 % relative is the bound.
      got.forEach((l, i) => expect(Math.abs(l - want[i]) / want[i]).toBeLessThan(0.02))
      expect(want[want.length - 1]).toBeLessThan(want[0] / 3)
    } finally {
      B.close()
    }
  })

  it("SWG training steps and a guided DDPM loop match the CPU reference", async () => {
    const B = await threaded()
    try {
      const got = await swgProgram(B, 5)
      const want = await swgProgram(cpu, 5)
      assertClose(Float32Array.from(got.losses), Float32Array.from(want.losses), program, "losses")
      assertClose(got.params, want.params, program, "parameters after 5 steps")
      assertClose(got.samples, want.samples, program, "guided samples")
    } finally {
      B.close()
    }
  })
})
