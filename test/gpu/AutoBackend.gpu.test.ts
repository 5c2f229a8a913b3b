/**
 * `--backend auto`: a real GPU when Dawn offers one, else the WASM backend (faster than a software
 * Vulkan adapter on a CPU). The GPU tier always has an adapter; in CI it is lavapipe, so there auto
 * must pick wasm, and the adapter the Gpu service built must be the one the probe saw.
 */
import { Effect } from "effect"
import { expect } from "vitest"
import { Backend } from "../../src/services/Backend.ts"
import { Gpu, probeAdapter } from "../../src/services/Gpu.ts"
import { describeGpu } from "../fixtures/GpuTest.ts"

describeGpu("auto backend", (it) => {
  it.effect("takes the GPU only when the adapter is hardware, else the WASM backend", () =>
    Effect.gen(function*() {
      const gpu = yield* Gpu
      const probe = yield* probeAdapter
      expect(probe.kind).toBe(gpu.isSoftware ? "software" : "hardware")
      const kind = yield* Effect.scoped(Effect.gen(function*() {
        const backend = yield* Backend
        return backend.ops.kind
      }).pipe(Effect.provide(Backend.layer("auto"))))
      expect(kind).toBe(gpu.isSoftware ? "wasm" : "gpu")
    }))
})
