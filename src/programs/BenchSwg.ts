/**
 * The bench's SWG workload: SWG's D4RL network (LN-ResNet 3×256, inner 1024, mish, weight head) on a
 * 6-dim action, 17-dim state task (halfcheetah-like), trained on a random dataset resident on the
 * device (forward, ε-MSE, backward, AdamW, EMA), and guided sampling with it (15 DDPM steps, each a
 * forward pass and the gradient of log ŵ₀ w.r.t. z_t). Plain tensor programs, no Effect: `npm run
 * bench` times them, and scripts/gpu-side-by-side.ts times several GPU engines with them.
 */
import * as NoiseSchedule from "../domain/NoiseSchedule.ts"
import * as Rng from "../domain/Rng.ts"
import * as SamplerSteps from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as EpsNetwork from "../diffusion/EpsNetwork.ts"
import * as Sampler from "../diffusion/Sampler.ts"
import * as Swg from "../diffusion/Swg.ts"
import * as SwgPolicy from "../diffusion/SwgPolicy.ts"
import * as Training from "../diffusion/Training.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"

export const ACTION_DIM = 6
export const STATE_DIM = 17
/** Rows of the random dataset the steps draw minibatches from. */
const ROWS = 4096

export interface SwgWorkload {
  readonly network: EpsNetwork.EpsNetworkConfig
  readonly parameters: number
  /** Denoising steps of one sampling call. */
  readonly samplingSteps: number
  /** One training step at `batch` (the next minibatch and dropout stream each call); returns the loss. */
  readonly trainStep: (batch: number, X?: TensorBackend) => Tensor
  /** One guided-sampling call for `condition` ([rows, STATE_DIM]); returns z₀. */
  readonly sample: (condition: Tensor, X?: TensorBackend) => Tensor
  readonly dispose: () => void
}

export const make = (B: TensorBackend): SwgWorkload => {
  // mish, as the PyTorch peer script (the same network in PyTorch) and IDQL's LN-ResNet use.
  const network = EpsNetwork.swgActor(ACTION_DIM, STATE_DIM, "mish")
  const data: Training.DiffusionData = {
    z0: B.uniform(ROWS, network.dataDim, Rng.named(3, "z0")),
    condition: B.normal(ROWS, STATE_DIM, Rng.named(4, "states"))
  }
  const schedule = NoiseSchedule.swg(15)
  const tables = Training.noiseTables(B, schedule)
  const model = Model.create(B, EpsNetwork.specs(network), Rng.named(5, "init"), { ema: true })
  let step = 0
  const trainStep = (batch: number, X: TensorBackend = B): Tensor => {
    step++
    return Model.trainStep(
      X, model, { lr: 3e-4, adamw: Optimizer.adamwDefaults, emaRate: 1e-3, rng: Rng.at(Rng.named(6, "dropout"), step) },
      (p) => Training.epsLoss(p, network, tables, data, batch, Rng.at(Rng.named(7, "batch"), step))
    )
  }
  const grid = SamplerSteps.discreteGrid(schedule)
  const clip: Sampler.Clip = {
    lo: B.upload(Float32Array.from([...Array(ACTION_DIM).fill(-1), 1e-4]), 1, network.dataDim),
    hi: B.upload(Float32Array.from([...Array(ACTION_DIM).fill(1), 1]), 1, network.dataDim)
  }
  const sample = (condition: Tensor, X: TensorBackend = B): Tensor =>
    SwgPolicy.sample({
      backend: X, network, layout: model.layout, params: model.ema ?? model.params, condition, rows: condition.rows, grid,
      sampler: new Sampler.Ddpm({ temperature: 0 }), guidance: Swg.boundedWeights(1), initialScale: 0, clip,
      key: Rng.named(9, "sample")
    })
  const dispose = () => {
    for (const t of [data.z0, data.condition, tables.alpha, tables.sigma, tables.times, clip.lo, clip.hi, model.params, model.grads, model.adam.m, model.adam.v, model.ema]) {
      if (t !== undefined) B.dispose(t)
    }
  }
  return { network, parameters: model.layout.count, samplingSteps: grid.length, trainStep, sample, dispose }
}
