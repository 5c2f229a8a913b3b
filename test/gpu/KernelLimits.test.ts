/**
 * What every kernel asks of a device, checked without one: at most 8 storage buffers per kernel,
 * WebGPU's default maxStorageBuffersPerShaderStage, so each kernel compiles on every adapter.
 */
import { assert, describe, it } from "@effect/vitest"
import { kernelSpecs } from "../../src/gpu/GpuBackend.ts"

describe("kernel limits", () => {
  it("every kernel binds at most 8 storage buffers", () => {
    for (const variant of ["register", "tiled"] as const) {
      for (const spec of kernelSpecs(variant)) {
        assert.isAtMost(spec.bindings.length, 8, `${variant}: ${spec.name} binds ${spec.bindings.length} storage buffers`)
      }
    }
  })
})
