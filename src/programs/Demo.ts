/**
 * The first-run demo: trains a small MLP regression on the chosen backend, with the data drawn
 * on the device every step (no uploads), and reports the backend it got and its throughput.
 */
import { Clock, Console, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Mlp from "../nn/Mlp.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import { Backend } from "../services/Backend.ts"

export class DemoConfig extends Schema.Class<DemoConfig>("DemoConfig")({
  /** Optimisation steps. */
  steps: Config.PositiveInt.pipe(Config.withDefault(300)),
  /** Minibatch size. */
  batch: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** Width of the two hidden layers. */
  hidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  /** AdamW learning rate. */
  lr: Config.PositiveFinite.pipe(Config.withDefault(1e-3)),
  /** Loss is read back (and progress printed) every this many steps. */
  logEvery: Config.PositiveInt.pipe(Config.withDefault(50)),
  seed: Config.NonNegativeInt.pipe(Config.withDefault(0))
}) {}

export interface DemoSummary {
  readonly backend: string
  readonly steps: number
  readonly stepsPerSecond: number
  readonly firstLoss: number
  readonly lastLoss: number
}

export const INPUTS = 8

/** The regression target, computed on the device: y = [sin x₀ + x₁x₂, tanh(x₃ − x₄)]. */
export const target = (B: TensorBackend, x: Tensor): Tensor => {
  const col = (i: number) => B.sliceCols(x, i, 1)
  const y0 = B.binary("add", B.unary("sin", col(0)), B.binary("mul", col(1), col(2)))
  const y1 = B.unary("tanh", B.binary("sub", col(3), col(4)))
  return B.concatCols([y0, y1])
}

export const demo = Effect.fn("demo")(function*(config: DemoConfig) {
  const backend = yield* Backend
  const B = backend.ops
  yield* Console.log(`backend: ${B.description}`)
  const mlp: Mlp.MlpConfig = { inputs: INPUTS, widths: [config.hidden, config.hidden, 2], activation: "mish" }
  const model = yield* backend.run((ops) => Model.create(ops, Mlp.specs("mlp", mlp), Rng.named(config.seed, "init")))
  const data = Rng.named(config.seed, "data")
  const step = (i: number) =>
    backend.run((ops) =>
      Model.trainStep(ops, model, { lr: config.lr, adamw: Optimizer.adamwDefaults, emaRate: 0, rng: Rng.at(Rng.named(config.seed, "dropout"), i) }, (p) => {
        const x = ops.normal(config.batch, INPUTS, Rng.at(data, i))
        const y = target(ops, x)
        return p.tape.mseLoss(Mlp.apply(p, "mlp", mlp, p.tape.leaf(x)), y)
      })
    )
  const started = yield* Clock.currentTimeMillis
  let firstLoss = Number.NaN
  let lastLoss = Number.NaN
  for (let i = 0; i < config.steps; i++) {
    const loss = yield* step(i)
    if (i === 0 || (i + 1) % config.logEvery === 0 || i === config.steps - 1) {
      lastLoss = (yield* backend.read(loss))[0]
      if (i === 0) firstLoss = lastLoss
      const elapsed = ((yield* Clock.currentTimeMillis) - started) / 1000
      const rate = (i + 1) / elapsed
      yield* Console.log(
        `step ${i + 1}/${config.steps}  loss ${lastLoss.toFixed(5)}  ${rate.toFixed(1)} steps/s  eta ${((config.steps - i - 1) / rate).toFixed(0)}s`
      )
    }
    B.dispose(loss)
  }
  const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
  const summary: DemoSummary = {
    backend: B.description,
    steps: config.steps,
    stepsPerSecond: config.steps / seconds,
    firstLoss,
    lastLoss
  }
  yield* Console.log(
    `${summary.backend}: ${summary.stepsPerSecond.toFixed(1)} steps/s at batch ${config.batch}; loss ${firstLoss.toFixed(4)} → ${lastLoss.toFixed(4)}`
  )
  return summary
})
