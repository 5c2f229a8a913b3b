/**
 * Times the temporal U-Net's sequence ops at one encoder level of the reference's size (batch 32,
 * horizon 32, 128 channels, kernel 3, 8 groups) on the backend named by the first argument (auto,
 * gpu, wasm or cpu; default auto): each op's forward, its backward, and one residual-block step
 * (forward and parameter gradients). Median of 10 runs after 2 warm-up runs, each ended by a read.
 *   node scripts/benchSequence.ts wasm
 */
import { Console, Effect, Layer } from "effect"
import { NodeRuntime } from "@effect/platform-node"
import * as Rng from "../src/domain/Rng.ts"
import type { Tensor, TensorBackend } from "../src/domain/TensorBackend.ts"
import * as Parameters from "../src/nn/Parameters.ts"
import { Tape } from "../src/nn/Tape.ts"
import * as TemporalUnet from "../src/nn/TemporalUnet.ts"
import { Backend, BackendChoice } from "../src/services/Backend.ts"

const [BATCH, LENGTH, CHANNELS, KERNEL, GROUPS] = [32, 32, 128, 3, 8]

const time = (B: TensorBackend, f: () => Tensor) =>
  Effect.promise(async () => {
    const ms: Array<number> = []
    for (let i = 0; i < 12; i++) {
      const start = performance.now()
      const out = B.scope(f)
      await B.read(out)
      B.dispose(out)
      if (i >= 2) ms.push(performance.now() - start)
    }
    return ms.sort((a, b) => a - b)[ms.length >> 1]
  })

const bench = Effect.gen(function*() {
  const B = (yield* Backend).ops
  const rows = BATCH * LENGTH
  const x = B.normal(rows, CHANNELS, Rng.named(1, "x"))
  const w = B.normal(KERNEL * CHANNELS, CHANNELS, Rng.named(2, "w"))
  const bias = B.normal(1, CHANNELS, Rng.named(3, "b"))
  const dy = B.normal(rows, CHANNELS, Rng.named(4, "dy"))
  const gamma = B.fill(1, CHANNELS, 1)
  const beta = B.zeros(1, CHANNELS)
  const config: TemporalUnet.ResidualBlockConfig = {
    inputs: CHANNELS, outputs: CHANNELS, embedding: 32, kernel: KERNEL, groups: GROUPS, activation: "mish"
  }
  const layout = Parameters.layout(TemporalUnet.residualBlockSpecs("block", config))
  const params = B.upload(Parameters.initialize(layout, Rng.named(5, "init")), 1, layout.size)
  const temb = B.normal(BATCH, 32, Rng.named(6, "temb"))
  const sequence = TemporalUnet.sequenceOfRows(B, BATCH, LENGTH)
  const gn = B.groupNorm(x, gamma, beta, LENGTH, GROUPS, 1e-6)
  const cases: ReadonlyArray<readonly [string, () => Tensor]> = [
    ["conv1d forward", () => B.conv1d(x, w, bias, LENGTH)],
    ["conv1d backward (dx, dw, db)", () => B.conv1dBackward(dy, x, w, LENGTH, { dx: true, dw: true, db: true }).dx!],
    ["groupNorm forward", () => B.groupNorm(x, gamma, beta, LENGTH, GROUPS, 1e-6).out],
    ["groupNorm backward", () => B.groupNormBackward(dy, x, gamma, gn.mean, gn.rstd, LENGTH, GROUPS, true).dx],
    ["maxPool2 forward + backward", () => B.maxPool2Backward(x, B.maxPool2(x, LENGTH), LENGTH)],
    ["upsample2 forward + backward", () => B.upsample2Backward(B.upsample2(x))],
    ["residual block: forward + parameter gradients", () => {
      const tape = new Tape(B)
      const p = new Parameters.Bound(tape, layout, params)
      const out = TemporalUnet.residualBlock(p, "block", config, tape.leaf(x), tape.leaf(temb), sequence, LENGTH)
      const grads = B.zeros(1, layout.size)
      p.gradInto(tape.reduce("sum", "all", tape.mul(out, tape.leaf(dy))), grads)
      return grads
    }]
  ]
  yield* Console.log(`${B.description}: [${BATCH}·${LENGTH}, ${CHANNELS}], kernel ${KERNEL}, ${GROUPS} groups`)
  yield* Console.log("| op | ms (median of 10) |\n| --- | --- |")
  for (const [name, f] of cases) yield* Console.log(`| ${name} | ${(yield* time(B, f)).toFixed(2)} |`)
})

const choice = process.argv[2] ?? "auto"
bench.pipe(Effect.provide(Layer.fresh(Backend.layer(choice as BackendChoice))), NodeRuntime.runMain)
