/**
 * `npm start -- --quick` on the CPU backend: what it prints must mean something. On the toy, self-weighted guidance
 * brings the samples much closer to the exact target than the same model unguided (with guidance switched off the two
 * clouds are samples of the same distribution and the margin fails); the figure is written; on Pendulum the agent acts
 * in the environment (returns in Pendulum's range, the guided and unguided agents act differently) and the tables are
 * printed.
 */
import { mkdtemp, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Console, Effect, Layer, Schema } from "effect"
import { expect } from "vitest"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import { Environments } from "../../src/env/Environments.ts"
import * as Start from "../../src/programs/Start.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { Plots } from "../../src/services/Plots.ts"
import { Progress } from "../../src/services/Progress.ts"

const layers = Layer.mergeAll(Backend.layerCpu, Checkpoints.layer, Plots.layer, Progress.layerSilent, DatasetStore.layer, Environments.layer)

/** Pendulum-v1's per-step reward lies in [−(π² + 0.1·8² + 0.001·2²), 0] = [−16.27, 0], 200 steps. */
const WORST_RETURN = -16.3 * 200

it.effect("quick mode: guidance beats unguided sampling on the toy, and the agent acts on Pendulum", () =>
  Effect.gen(function*() {
    const outDir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "start-")))
    const config = yield* Schema.decodeUnknownEffect(Start.StartConfig)({ ...Start.quick, outDir })
    const lines: Array<string> = []
    const summary = yield* Start.start(config).pipe(
      Effect.provideService(Console.Console, { ...globalThis.console, log: (...args: ReadonlyArray<unknown>) => lines.push(args.join(" ")) })
    )
    const printed = lines.join("\n")

    // toy: guided at most half the unguided distance to the target, and within a few floors of it
    const { toy } = summary
    expect(toy.guided.sw2).toBeLessThan(0.5 * toy.unguided.sw2)
    expect(toy.guided.energyDistance).toBeLessThan(0.5 * toy.unguided.energyDistance)
    expect(toy.guided.sw2).toBeLessThan(3 * (toy.floor.sw2 + toy.sampleNoise.sw2))
    expect(printed).toContain(Start.toyTable(toy))
    expect(printed).toContain(`figure: ${toy.figure}`)
    expect((yield* Effect.promise(() => stat(toy.figure))).size).toBeGreaterThan(1000)

    // Pendulum: the agent's returns are real episode returns, and guidance changes what it does
    const { pendulum } = summary
    for (const s of [pendulum.behaviour, pendulum.unguided, pendulum.guided]) {
      expect(s.returnMean).toBeLessThan(0)
      expect(s.returnMean).toBeGreaterThan(WORST_RETURN)
    }
    expect(pendulum.guided.returnMean).not.toBe(pendulum.unguided.returnMean)
    expect(pendulum.references.controller).toBeGreaterThan(pendulum.behaviour.returnMean)
    expect(pendulum.behaviour.returnMean).toBeGreaterThan(pendulum.references.random)
    expect(printed).toContain(Start.pendulumTable(pendulum))
    expect(printed).toContain(`backend: ${summary.backend}`)
  }).pipe(Effect.provide(layers)), 300_000)
