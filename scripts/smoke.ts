/**
 * The bundle's smoke test: a few SWG training steps (the bench's network, batch 32) on the backend
 * named by the first argument (auto, gpu, wasm or cpu; default auto), then one guided-sampling call
 * at batch 4. Fails when a loss or an action is not finite or the loss does not fall.
 */
import { Console, Effect, Layer } from "effect"
import { NodeRuntime } from "@effect/platform-node"
import * as NoiseSchedule from "../src/domain/NoiseSchedule.ts"
import * as Rng from "../src/domain/Rng.ts"
import * as SamplerSteps from "../src/domain/SamplerSteps.ts"
import * as EpsNetwork from "../src/diffusion/EpsNetwork.ts"
import * as Sampler from "../src/diffusion/Sampler.ts"
import * as Swg from "../src/diffusion/Swg.ts"
import * as SwgPolicy from "../src/diffusion/SwgPolicy.ts"
import * as Training from "../src/diffusion/Training.ts"
import * as Model from "../src/nn/Model.ts"
import * as Optimizer from "../src/nn/Optimizer.ts"
import { Backend, BackendChoice } from "../src/services/Backend.ts"

const ACTION_DIM = 6
const STATE_DIM = 17
const STEPS = 8
const BATCH = 32

const smoke = Effect.gen(function*() {
  const backend = yield* Backend
  const B = backend.ops
  yield* Console.log(`smoke test on ${B.description}`)
  const network = EpsNetwork.swgActor(ACTION_DIM, STATE_DIM, "mish")
  // A small fixed dataset (one batch, repeated) so that the loss must fall within a few steps.
  const data: Training.DiffusionData = {
    z0: B.uniform(BATCH, network.dataDim, Rng.named(3, "z0")),
    condition: B.normal(BATCH, STATE_DIM, Rng.named(4, "states"))
  }
  const tables = Training.noiseTables(B, NoiseSchedule.swg(15))
  const model = Model.create(B, EpsNetwork.specs(network), Rng.named(5, "init"), { ema: true })
  const losses: Array<number> = []
  const start = performance.now()
  for (let step = 1; step <= STEPS; step++) {
    const loss = Model.trainStep(
      B, model,
      { lr: 1e-3, adamw: Optimizer.adamwDefaults, emaRate: 1e-2, rng: Rng.at(Rng.named(6, "dropout"), step) },
      // The same noise levels and noise every step: the loss of a fixed problem, which Adam must lower.
      (p) => Training.epsLoss(p, network, tables, data, BATCH, Rng.named(7, "batch"))
    )
    losses.push((yield* backend.read(loss))[0])
    B.dispose(loss)
  }
  const trainMs = performance.now() - start
  const first = losses[0]
  const last = losses[losses.length - 1]
  yield* Console.log(`${STEPS} training steps at batch ${BATCH}: loss ${first.toFixed(4)} -> ${last.toFixed(4)} (${trainMs.toFixed(0)} ms)`)
  if (!losses.every(Number.isFinite)) return yield* Effect.fail(new Error(`a loss is not finite: ${losses.join(", ")}`))
  if (!(last < 0.9 * first)) return yield* Effect.fail(new Error(`the loss did not fall by 10 %: ${first} -> ${last}`))

  const rows = 4
  const condition = B.normal(rows, STATE_DIM, Rng.named(8, "state"))
  const clip: Sampler.Clip = {
    lo: B.upload(Float32Array.from([...Array(ACTION_DIM).fill(-1), 1e-4]), 1, network.dataDim),
    hi: B.upload(Float32Array.from([...Array(ACTION_DIM).fill(1), 1]), 1, network.dataDim)
  }
  const actions = SwgPolicy.sample({
    backend: B, network, layout: model.layout, params: model.ema ?? model.params, condition, rows,
    grid: SamplerSteps.discreteGrid(NoiseSchedule.swg(15)), sampler: new Sampler.Ddpm({ temperature: 0 }),
    guidance: Swg.boundedWeights(1), initialScale: 0, clip, key: Rng.named(9, "sample")
  })
  const values = yield* backend.read(actions)
  if (!values.every(Number.isFinite)) return yield* Effect.fail(new Error("a sampled action is not finite"))
  yield* Console.log(`guided sampling at batch ${rows}: ${values.length} finite values; smoke test passed`)
})

const choice = process.argv[2] ?? "auto"
if (!BackendChoice.literals.includes(choice as BackendChoice)) {
  console.error(`usage: smoke.ts [${BackendChoice.literals.join("|")}]`)
  process.exit(2)
}
smoke.pipe(Effect.provide(Layer.fresh(Backend.layer(choice as BackendChoice))), NodeRuntime.runMain)
