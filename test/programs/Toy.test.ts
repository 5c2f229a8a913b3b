/**
 * A short SWG toy run (CPU, seconds): on 8gaussians at β = 3, self-weighted guidance brings the
 * samples closer (sliced W2) to the exact target p(x)·exp(β·e(x)) than the same model unguided.
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

it.effect("guided samples beat the unguided model against the exact weighted target", () =>
  Effect.gen(function*() {
    const outDir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "toy-")))
    const config = yield* Schema.decodeUnknownEffect(ToyConfig)({
      datasets: ["8gaussians"], dataSize: 20000, betas: [0, 3], hidden: 64, layers: 3, diffusionSteps: 30,
      steps: 1000, batch: 256, lr: 2e-3, samples: 600, projections: 64, sweepBeta: 3, sweepScales: [0], outDir
    })
    const metrics = yield* toy(config)
    const at = (beta: number, rho: number) => metrics.find((m) => m.beta === beta && m.rho === rho)!
    expect(at(3, 1).sw2).toBeLessThan(at(3, 0).sw2)
    // at β = 0 guidance is off (all weights equal): the model matches the data about as well as its floor
    expect(at(0, 1).sw2).toBeLessThan(2 * at(0, 1).sw2Floor + at(0, 1).sw2SampleNoise)
  }).pipe(Effect.provide(layers)), 180_000)
