/**
 * Whole programs on the WASM backend against the CPU reference, with every matmul split over two
 * threads: an MLP regression reaches the same loss curve; a few SWG training steps (LN-ResNet
 * with dropout, the ε-loss, AdamW, EMA) give the same losses and parameters, and a 15-step guided
 * DDPM loop from them the same samples (same RNG streams).
 */
import { describe, expect, it } from "@effect/vitest"
import * as NoiseSchedule from "../../src/domain/NoiseSchedule.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as SamplerSteps from "../../src/domain/SamplerSteps.ts"
import type { TensorBackend } from "../../src/domain/TensorBackend.ts"
import * as EpsNetwork from "../../src/diffusion/EpsNetwork.ts"
import * as Sampler from "../../src/diffusion/Sampler.ts"
import * as Swg from "../../src/diffusion/Swg.ts"
import * as SwgPolicy from "../../src/diffusion/SwgPolicy.ts"
import * as Training from "../../src/diffusion/Training.ts"
import * as Mlp from "../../src/nn/Mlp.ts"
import * as Model from "../../src/nn/Model.ts"
import * as Optimizer from "../../src/nn/Optimizer.ts"
import { target } from "../../src/programs/Demo.ts"
import { assertClose } from "../fixtures/Tolerance.ts"
import { cpu, threaded } from "./Parity.ts"

/** Whole programs: a few training steps and a 15-step guided loop compound per-op f32 rounding. */
const program = { atol: 2e-3, rtol: 2e-3 }

const lossCurve = async (B: TensorBackend, steps: number): Promise<Array<number>> => {
  const mlp: Mlp.MlpConfig = { inputs: 8, widths: [64, 64, 2], activation: "mish" }
  const model = Model.create(B, Mlp.specs("mlp", mlp), Rng.named(0, "init"))
  const curve: Array<number> = []
  for (let i = 0; i < steps; i++) {
    const loss = Model.trainStep(B, model, { lr: 3e-3, adamw: Optimizer.adamwDefaults, emaRate: 0, rng: Rng.named(0, "dropout") }, (p) => {
      const x = B.normal(128, 8, Rng.at(Rng.named(0, "data"), i))
      return p.tape.mseLoss(Mlp.apply(p, "mlp", mlp, p.tape.leaf(x)), target(B, x))
    })
    if (i % 10 === 9) curve.push((await B.read(loss))[0])
    B.dispose(loss)
  }
  return curve
}

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
    const network = new EpsNetwork.EpsNetworkConfig({
      dataDim: 3, conditionDim: 4, timeFeatures: 16, timeHidden: 32,
      body: new EpsNetwork.LnResNetBody({ hidden: 32, blocks: 3, activation: "mish", dropout: 0.1, weightHeadBlock: 1, weightHeadWidth: 16 })
    })
    const schedule = NoiseSchedule.swg(15)
    const run = async (B: TensorBackend) => {
      const model = Model.create(B, EpsNetwork.specs(network), Rng.named(1, "init"), { ema: true })
      const data: Training.DiffusionData = {
        z0: B.uniform(256, 3, Rng.named(2, "z0")),
        condition: B.normal(256, 4, Rng.named(3, "states"))
      }
      const tables = Training.noiseTables(B, schedule)
      const losses: Array<number> = []
      for (let i = 0; i < 5; i++) {
        const loss = Model.trainStep(B, model, { lr: 1e-3, adamw: Optimizer.adamwDefaults, emaRate: 0.1, rng: Rng.at(Rng.named(4, "dropout"), i) }, (p) =>
          Training.epsLoss(p, network, tables, data, 64, Rng.at(Rng.named(5, "batch"), i)))
        losses.push((await B.read(loss))[0])
      }
      const clip = {
        lo: B.upload(Float32Array.from([-1, -1, 1e-4]), 1, 3),
        hi: B.upload(Float32Array.from([1, 1, 1]), 1, 3)
      }
      const z = SwgPolicy.sample({
        backend: B, network, layout: model.layout, params: model.ema ?? model.params,
        condition: B.normal(16, 4, Rng.named(6, "s")), rows: 16, grid: SamplerSteps.discreteGrid(schedule),
        sampler: new Sampler.Ddpm({ temperature: 1 }), guidance: Swg.boundedWeights(5), initialScale: 1, clip,
        key: Rng.named(7, "sample")
      })
      return { losses, samples: await B.read(z), params: await B.read(model.params) }
    }
    const B = await threaded()
    try {
      const got = await run(B)
      const want = await run(cpu)
      assertClose(Float32Array.from(got.losses), Float32Array.from(want.losses), program, "losses")
      assertClose(got.params, want.params, program, "parameters after 5 steps")
      assertClose(got.samples, want.samples, program, "guided samples")
    } finally {
      B.close()
    }
  })
})
