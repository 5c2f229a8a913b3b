import { defineConfig } from "vitest/config"

// Two tiers: `unit` needs no GPU (domain, CPU backend, programs); `gpu` needs a WebGPU adapter
// (lavapipe in CI, a real GPU when lent). GPU files check for an adapter themselves and fail
// when REQUIRE_GPU=1, skip with a printed reason otherwise.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/**/*.gpu.test.ts"],
          testTimeout: 60_000
        }
      },
      {
        test: {
          name: "gpu",
          include: ["test/**/*.gpu.test.ts"],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          // Dawn's device is process-wide state: one file at a time keeps lavapipe's threads to itself.
          fileParallelism: false
        }
      }
    ]
  }
})
