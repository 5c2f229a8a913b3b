/**
 * A short SWG toy run (CPU, under a minute): on 8gaussians at β = 3, the guidance scale ρ = 1 (exact by Thm 3.5)
 * brings the samples closer to the exact target p(x)·exp(β·e(x)) than a scale too weak (0, 0.5) or too strong (2),
 * and the unguided model at β = 0 matches the data to within the metric's own sampling noise. QGPO (the same model
 * unguided plus a separately trained energy network's guidance) also lands near the target, far from the unguided samples.
 */
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { expect } from "vitest"
import { ToyConfig, toy } from "../../src/programs/Toy.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { Plots } from "../../src/services/Plots.ts"
import { Progress } from "../../src/services/Progress.ts"

const layers = Layer.mergeAll(Backend.layerCpu, Checkpoints.layer, Plots.layer, Progress.layerSilent)

it.effect("ρ = 1 is closer to the exact weighted target than ρ = 0, 0.5 and 2; QGPO at s = 1 is close to it too", () =>
  Effect.gen(function*() {
    const outDir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "toy-")))
    const config = yield* Schema.decodeUnknownEffect(ToyConfig)({
      datasets: ["8gaussians"], dataSize: 20000, betas: [0, 3], hidden: 64, layers: 3, diffusionSteps: 30,
      steps: 1000, batch: 256, lr: 2e-3, samples: 600, projections: 64, sweepBeta: 3, sweepScales: [0, 0.5, 2], qgpoSweepScales: [0], outDir
    })
    const metrics = yield* toy(config)
    const at = (beta: number, rho: number) => metrics.find((m) => m.method === "swg" && m.beta === beta && m.rho === rho)!
    const qgpo = metrics.find((m) => m.method === "qgpo" && m.beta === 3 && m.rho === 1)!
    const exact = at(3, 1)
    // Measured with this seed: SW2 0.37 at ρ = 1 against 0.52 (ρ = 0.5), 0.63 (ρ = 2), 1.12 (ρ = 0); energy
    // distance 0.050 against 0.125, 0.149, 0.61. The margins below are half or less of those gaps.
    for (const rho of [0, 0.5, 2]) {
      expect(exact.sw2).toBeLessThan(0.8 * at(3, rho).sw2)
      expect(exact.energyDistance).toBeLessThan(0.6 * at(3, rho).energyDistance)
    }
    // Absolute: within 2× (oracle + sample noise) = 2 × (0.12 + 0.11), which ρ = 0.5 and ρ = 2 are not.
    expect(exact.sw2).toBeLessThan(2 * (exact.sw2Oracle + exact.sw2SampleNoise))
    // No guided sample leaves the data's range (issue #14).
    for (const m of metrics) expect(m.outsideShare).toBe(0)
    // QGPO on the same behaviour model (SWG's at β = 0, ρ = 0) with its own energy network, s = 1. Measured with this
    // seed: SW2 0.22 and energy distance 0.014, against 1.12 and 0.61 unguided; the bounds are half of those gaps or less.
    expect(qgpo.sw2).toBeLessThan(0.5 * at(3, 0).sw2)
    expect(qgpo.energyDistance).toBeLessThan(0.25 * at(3, 0).energyDistance)
    expect(qgpo.sw2).toBeLessThan(2 * (qgpo.sw2Oracle + qgpo.sw2SampleNoise))
    const qgpoUnguided = metrics.find((m) => m.method === "qgpo" && m.beta === 3 && m.rho === 0)!
    expect(qgpo.sw2).toBeLessThan(0.5 * qgpoUnguided.sw2)
    // The model itself: unguided at β = 0 it is as close to the data as a second data sample is (0.21 vs 0.26).
    expect(exact.sw2Floor).toBeLessThan(1.2 * at(0, 1).sw2SampleNoise)
  }).pipe(Effect.provide(layers)), 180_000)
