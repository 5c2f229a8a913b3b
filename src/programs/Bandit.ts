/**
 * The 2-D bandit of Diffusion-DICE (Mao et al. 2024, Fig. 2): why guide-then-select exploits less of a learned
 * reward model's error than guiding or selecting alone.
 *
 * Data: actions a ~ N(0, I) restricted to the annulus r_in ≤ ‖a‖ ≤ r_out (rejection). The true reward has two
 * peaks that extend from the centre outward along the x-axis, highest on the outer ring:
 *   R(a) = h(‖a‖)·exp(−sin²θ / (2·width²)),   θ the angle of a,
 *   h(r) = ½ + ½·(r − r_in)/(r* − r_in) from the inner edge (½) up to r* = r_in + ¾(r_out − r_in) (1), then falling
 *   with slope −½/(r* − r_in)·½ beyond (0.83 at the outer edge), so the best actions are inside the outer ring;
 *   h(r) = ½·(r/r_in)⁴ inside the inner edge: the empty centre is a pit the data never shows.
 * A reward model R̂ (an MLP) is fit on the data only: accurate on the annulus, and in the centre it continues the
 * two peaks across the pit, so it overestimates there (measured and printed). The paper's radii, reward and
 * sizes are not published; these are ours.
 *
 * A bandit has no state and no bootstrapping: Q = R̂, and V is the scalar that minimises the DICE value loss
 * mean[f*((R̂ − V)/α) + V/α], i.e. mean_i w*((R̂(aᵢ) − V)/α) = 1 (solved by bisection on the host). The weights
 * w*ᵢ = w*((R̂(aᵢ) − V)/α) train the guidance network (IGL) and SWG's weight coordinate. The exact target uses the
 * TRUE reward: π* ∝ w*((R − V*)/α)·π_D with its own V*; exact samples of it come by rejection from π_D.
 *
 * Methods, all on the same data and models: D-DICE (K guided candidates, the one with the highest R̂), guide-only
 * (one guided sample), select-only (K behaviour samples, the highest R̂), SWG (self-weighted guidance, ρ = 1, on
 * z = (a, w̃) with w̃ = w* ÷ max w*). Metrics of the chosen actions: mean true reward, mean R̂ − R (what the choice
 * overestimates), share outside the data's support (the annulus), sliced W2 to exact target samples.
 */
import { Console, Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Divergence from "../domain/Divergence.ts"
import * as Figure from "../domain/Figure.ts"
import { cosineDecay } from "../domain/LearningRate.ts"
import * as NoiseSchedule from "../domain/NoiseSchedule.ts"
import * as Rng from "../domain/Rng.ts"
import * as SampleMetrics from "../domain/SampleMetrics.ts"
import * as SamplerSteps from "../domain/SamplerSteps.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as DiceBehaviour from "../diffusion/DiceBehaviour.ts"
import * as DiceGuidance from "../diffusion/DiceGuidance.ts"
import * as EpsNetwork from "../diffusion/EpsNetwork.ts"
import * as Sampler from "../diffusion/Sampler.ts"
import * as Swg from "../diffusion/Swg.ts"
import * as SwgPolicy from "../diffusion/SwgPolicy.ts"
import * as Training from "../diffusion/Training.ts"
import * as Mlp from "../nn/Mlp.ts"
import * as Model from "../nn/Model.ts"
import * as Optimizer from "../nn/Optimizer.ts"
import type * as Parameters from "../nn/Parameters.ts"
import type { Var } from "../nn/Tape.ts"
import * as DiceSelect from "../rl/DiceSelect.ts"
import { Backend } from "../services/Backend.ts"
import { writeJsonAtomically, writeTextAtomically } from "../services/Files.ts"
import { Plots } from "../services/Plots.ts"
import { Progress } from "../services/Progress.ts"

export class BanditConfig extends Schema.Class<BanditConfig>("BanditConfig")({
  /** Dataset actions. */
  dataSize: Config.PositiveInt.pipe(Config.withDefault(10_000)),
  /** The annulus r_in ≤ ‖a‖ ≤ r_out the data is restricted to. */
  innerRadius: Config.PositiveFinite.pipe(Config.withDefault(1.5)),
  outerRadius: Config.PositiveFinite.pipe(Config.withDefault(2.5)),
  /** Angular width of the reward's two peaks (in sin θ). */
  peakWidth: Config.PositiveFinite.pipe(Config.withDefault(0.3)),
  /** DICE's α (the bandit's w* = w*((R̂ − V)/α)). */
  alpha: Config.PositiveFinite.pipe(Config.withDefault(0.1)),
  /** Guidance scale s of D-DICE (1: Theorem 1's exact decomposition). */
  guidanceScale: Schema.Finite.pipe(Config.withDefault(1)),
  /** Candidates K of D-DICE and select-only. */
  candidates: Config.PositiveInt.pipe(Config.withDefault(16)),
  /** Reward model R̂: width of its two hidden layers, steps. */
  rewardHidden: Config.PositiveInt.pipe(Config.withDefault(64)),
  rewardSteps: Config.PositiveInt.pipe(Config.withDefault(2000)),
  /** Behaviour model and SWG's model: MLP body width and Dense layers, steps. */
  hidden: Config.PositiveInt.pipe(Config.withDefault(128)),
  layers: Config.PositiveInt.pipe(Config.withDefault(4)),
  diffusionSteps: Config.PositiveInt.pipe(Config.withDefault(4000)),
  /**
   * Guidance network (the reference's 4 hidden layers of 256), steps, copies M. With 3 × 128 and 4000 steps its
   * guided samples left the annulus more (22 % against 9 %) and D-DICE then picked 92 % of its actions outside it.
   */
  guidanceHidden: Config.PositiveInt.pipe(Config.withDefault(256)),
  guidanceLayers: Config.PositiveInt.pipe(Config.withDefault(4)),
  guidanceSteps: Config.PositiveInt.pipe(Config.withDefault(8000)),
  copies: Config.PositiveInt.pipe(Config.withDefault(16)),
  batch: Config.PositiveInt.pipe(Config.withDefault(512)),
  lr: Config.PositiveFinite.pipe(Config.withDefault(1e-3)),
  emaRate: Config.Probability.pipe(Config.withDefault(0.005)),
  /** SWG's discrete VP schedule steps (its toys' T). */
  swgSteps: Config.PositiveInt.pipe(Config.withDefault(50)),
  /** Chosen actions per method, exact target samples, projections of the sliced W2. */
  samples: Config.PositiveInt.pipe(Config.withDefault(2000)),
  projections: Config.PositiveInt.pipe(Config.withDefault(256)),
  logEvery: Config.PositiveInt.pipe(Config.withDefault(200)),
  seed: Config.NonNegativeInt.pipe(Config.withDefault(0)),
  outDir: Schema.String.pipe(Config.withDefault("out/bandit"))
}) {}

export interface BanditMetric {
  readonly method: string
  /** Mean true reward R of the chosen actions. */
  readonly trueReward: number
  /** Mean R̂ − R of the chosen actions: how much the reward model overestimates what was chosen. */
  readonly overestimate: number
  /** Share of the chosen actions outside the annulus (the data's support). */
  readonly outsideSupport: number
  /** Share of the chosen actions in the empty centre, ‖a‖ < r_in − 0.1: the pit R̂ overestimates. */
  readonly inCentre: number
  /** Sliced W2 to exact samples of π* ∝ w*((R − V*)/α)·π_D. */
  readonly sw2: number
}

// ---- the bandit (pure) --------------------------------------------------------------------------------

/** The true reward of one action. */
export const trueReward = (c: BanditConfig, x: number, y: number): number => {
  const r = Math.hypot(x, y)
  if (r === 0) return 0
  const sin = y / r
  const peak = c.innerRadius + 0.75 * (c.outerRadius - c.innerRadius)
  const slope = 0.5 / (peak - c.innerRadius)
  const h = r < c.innerRadius ? 0.5 * (r / c.innerRadius) ** 4 : r <= peak ? 0.5 + slope * (r - c.innerRadius) : 1 - 0.5 * slope * (r - peak)
  return h * Math.exp(-(sin * sin) / (2 * c.peakWidth * c.peakWidth))
}

/** n actions [n, 2] from N(0, I) restricted to the annulus (rejection). */
export const annulusNormal = (c: BanditConfig, n: number, key: Rng.RngKey): Float64Array => {
  const out = new Float64Array(2 * n)
  const block = new Float64Array(4096)
  let filled = 0
  for (let round = 0; filled < n; round++) {
    Rng.fillNormal(Rng.at(key, round), block)
    for (let i = 0; i + 1 < block.length && filled < n; i += 2) {
      const r = Math.hypot(block[i], block[i + 1])
      if (r >= c.innerRadius && r <= c.outerRadius) {
        out[2 * filled] = block[i]
        out[2 * filled + 1] = block[i + 1]
        filled++
      }
    }
  }
  return out
}

/** The bandit's DICE value: V with mean_i w*((qᵢ − V)/α) = 1 (the left side decreases in V), by bisection. */
export const banditValue = (q: ArrayLike<number>, alpha: number): number => {
  let lo = Infinity
  let hi = -Infinity
  for (let i = 0; i < q.length; i++) {
    lo = Math.min(lo, q[i])
    hi = Math.max(hi, q[i])
  }
  lo -= 100 * alpha
  hi += 100 * alpha
  const excess = (v: number) => {
    let total = 0
    for (let i = 0; i < q.length; i++) total += Divergence.ratio((q[i] - v) / alpha)
    return total / q.length - 1
  }
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2
    if (excess(mid) > 0) lo = mid
    else hi = mid
  }
  return (lo + hi) / 2
}

/** Exact samples [n, 2] of π* ∝ w*((R − V*)/α)·π_D by rejection from π_D (R ≤ 1 bounds the ratio). */
export const exactTarget = (c: BanditConfig, n: number, key: Rng.RngKey): Float64Array => {
  const reference = annulusNormal(c, 20_000, Rng.split(key, "value"))
  const rewards = Float64Array.from({ length: 20_000 }, (_, i) => trueReward(c, reference[2 * i], reference[2 * i + 1]))
  const v = banditValue(rewards, c.alpha)
  const bound = Divergence.ratio((1 - v) / c.alpha)
  const out = new Float64Array(2 * n)
  let filled = 0
  for (let round = 0; filled < n; round++) {
    const proposals = annulusNormal(c, 4096, Rng.at(Rng.split(key, "proposals"), round))
    const u = new Float64Array(4096)
    Rng.fillUniform(Rng.at(Rng.split(key, "accept"), round), u)
    for (let i = 0; i < 4096 && filled < n; i++) {
      const w = Divergence.ratio((trueReward(c, proposals[2 * i], proposals[2 * i + 1]) - v) / c.alpha)
      if (u[i] * bound < w) {
        out[2 * filled] = proposals[2 * i]
        out[2 * filled + 1] = proposals[2 * i + 1]
        filled++
      }
    }
  }
  return out
}

const inCentre = (c: BanditConfig, a: Float64Array): number => {
  let inside = 0
  for (let i = 0; i < a.length; i += 2) if (Math.hypot(a[i], a[i + 1]) < c.innerRadius - 0.1) inside++
  return inside / (a.length / 2)
}

const outsideSupport = (c: BanditConfig, a: Float64Array): number => {
  let outside = 0
  for (let i = 0; i < a.length; i += 2) {
    const r = Math.hypot(a[i], a[i + 1])
    if (r < c.innerRadius || r > c.outerRadius) outside++
  }
  return outside / (a.length / 2)
}

// ---- models ------------------------------------------------------------------------------------------

const rewardMlp = (c: BanditConfig): Mlp.MlpConfig => ({ inputs: 2, widths: [c.rewardHidden, c.rewardHidden, 1], activation: "silu" })

const behaviourNetwork = (c: BanditConfig, dataDim: number) => new EpsNetwork.EpsNetworkConfig({
  dataDim, conditionDim: 0, timeFeatures: 32, timeHidden: 64,
  body: new EpsNetwork.MlpBody({ hidden: c.hidden, layers: c.layers, activation: "silu" })
})

/** A training loop with a progress line; `loss` builds the step's loss on the tape. */
const trainLoop = Effect.fn("Bandit.train")(function*(
  c: BanditConfig, label: string, steps: number, model: Model.Model, emaRate: number,
  loss: (ops: TensorBackend, p: Parameters.Bound, step: number) => Var
) {
  const backend = yield* Backend
  const progress = yield* Progress
  const tracker = yield* progress.start(label, steps)
  for (let step = 0; step < steps; step++) {
    const l = yield* backend.run((ops) => Model.trainStep(ops, model, {
      lr: cosineDecay(c.lr, steps, step), adamw: Optimizer.adamwDefaults, emaRate, rng: Rng.at(Rng.named(c.seed, `bandit-${label}-dropout`), step)
    }, (p) => loss(ops, p, step)))
    if ((step + 1) % c.logEvery === 0 || step === steps - 1) yield* tracker.update(step + 1, { loss: (yield* backend.read(l))[0] })
    backend.ops.dispose(l)
  }
})

// ---- the program -------------------------------------------------------------------------------------

export const bandit = Effect.fn("bandit")(function*(c: BanditConfig) {
  const backend = yield* Backend
  const plots = yield* Plots
  const B = backend.ops
  yield* Console.log(`bandit on ${B.description}`)
  const key = Rng.named(c.seed, "bandit")
  const data = annulusNormal(c, c.dataSize, Rng.split(key, "data"))
  const rewards = Float64Array.from({ length: c.dataSize }, (_, i) => trueReward(c, data[2 * i], data[2 * i + 1]))
  const device = yield* backend.run((ops) => ({
    actions: ops.upload(Float32Array.from(data), c.dataSize, 2),
    rewards: ops.upload(Float32Array.from(rewards), c.dataSize, 1)
  }))

  // 1. the reward model R̂ on the data (MSE)
  const reward = yield* backend.run((ops) => Model.create(ops, Mlp.specs("r", rewardMlp(c)), Rng.split(key, "reward-init")))
  yield* trainLoop(c, "reward model", c.rewardSteps, reward, 0, (ops, p, step) => {
    const index = ops.randint(c.batch, 1, Rng.at(Rng.split(key, "reward-batch"), step), c.dataSize)
    return p.tape.mseLoss(Mlp.apply(p, "r", rewardMlp(c), p.tape.leaf(ops.gatherRows(device.actions, index))), ops.gatherRows(device.rewards, index))
  })
  const predict = (points: Float64Array) =>
    Effect.gen(function*() {
      const out = yield* backend.run((ops) => {
        const p = Model.bind(ops, reward, reward.params)
        return Mlp.apply(p, "r", rewardMlp(c), p.tape.leaf(ops.upload(Float32Array.from(points), points.length / 2, 2))).value
      })
      const values = Float64Array.from(yield* backend.read(out))
      B.dispose(out)
      return values
    })
  const predicted = yield* predict(data)
  const v = banditValue(predicted, c.alpha)
  const ratios = Float64Array.from(predicted, (q) => Math.min(Math.max(Divergence.ratio((q - v) / c.alpha), Divergence.RATIO_CLIP[0]), Divergence.RATIO_CLIP[1]))
  // R̂ in the empty centre and on the data
  const centre = annulusNormal(new BanditConfig({ ...c, innerRadius: 1e-9, outerRadius: c.innerRadius }), 2000, Rng.split(key, "centre"))
  const centreHat = yield* predict(centre)
  const centreError = centreHat.reduce((acc, q, i) => acc + q - trueReward(c, centre[2 * i], centre[2 * i + 1]), 0) / 2000
  const dataRmse = Math.sqrt(predicted.reduce((acc, q, i) => acc + (q - rewards[i]) ** 2, 0) / c.dataSize)
  const maxDataHat = predicted.reduce((m, q) => Math.max(m, q), -Infinity)
  const maxCentreHat = centreHat.reduce((m, q) => Math.max(m, q), -Infinity)
  yield* Console.log(
    `reward model: RMSE on the data ${dataRmse.toFixed(3)}; in the empty centre mean R̂ − R ${centreError.toFixed(3)}, ` +
      `max R̂ ${maxCentreHat.toFixed(3)} (max on the data ${maxDataHat.toFixed(3)}); V = ${v.toFixed(3)}`
  )

  // 2. the behaviour model on the continuous VP-SDE
  const schedule = DiceBehaviour.schedule()
  const network = behaviourNetwork(c, 2)
  const behaviour = yield* backend.run((ops) => Model.create(ops, EpsNetwork.specs(network), Rng.split(key, "behaviour-init"), { ema: true }))
  const actionData: Training.DiffusionData = { z0: device.actions, condition: undefined }
  yield* trainLoop(c, "behaviour", c.diffusionSteps, behaviour, c.emaRate, (_ops, p, step) =>
    DiceBehaviour.loss(p, network, schedule, actionData, c.batch, Rng.at(Rng.split(key, "behaviour-batch"), step)))

  // 3. the guidance network with IGL on the data's ratios
  const guidanceConfig = new DiceGuidance.GuidanceNetworkConfig({
    actionDim: 2, conditionDim: 0, timeFeatures: 32, timeEmbedding: 32, hidden: c.guidanceHidden, layers: c.guidanceLayers
  })
  const rows = Math.max(1, Math.floor(c.batch / c.copies))
  const { guidance, ratioTensor, repeat } = yield* backend.run((ops) => ({
    guidance: Model.create(ops, DiceGuidance.specs(guidanceConfig), Rng.split(key, "guidance-init"), { ema: true }),
    ratioTensor: ops.upload(Float32Array.from(ratios), c.dataSize, 1),
    repeat: DiceGuidance.repeatIndex(ops, rows, c.copies)
  }))
  yield* trainLoop(c, "guidance (IGL)", c.guidanceSteps, guidance, c.emaRate, (ops, p, step) => {
    const k = Rng.at(Rng.split(key, "guidance-batch"), step)
    const index = ops.randint(rows, 1, Rng.split(k, "index"), c.dataSize)
    return DiceGuidance.iglLossOn(p, guidanceConfig, schedule, ops.gatherRows(device.actions, index), ops.gatherRows(ratioTensor, index), undefined, repeat, k)
  })

  // 4. SWG on z = (a, w̃), w̃ = w*/max w*
  const wMax = ratios.reduce((m, w) => Math.max(m, w), 0)
  const wMin = Math.max(ratios.reduce((m, w) => Math.min(m, w / wMax), Infinity), 1e-4)
  const swgNetwork = behaviourNetwork(c, 3)
  const swgSchedule = NoiseSchedule.swg(c.swgSteps)
  const { swg, swgData, tables } = yield* backend.run((ops) => {
    const z = new Float32Array(3 * c.dataSize)
    for (let i = 0; i < c.dataSize; i++) z.set([data[2 * i], data[2 * i + 1], ratios[i] / wMax], 3 * i)
    return {
      swg: Model.create(ops, EpsNetwork.specs(swgNetwork), Rng.split(key, "swg-init"), { ema: true }),
      swgData: { z0: ops.upload(z, c.dataSize, 3), condition: undefined } as Training.DiffusionData,
      tables: Training.noiseTables(ops, swgSchedule)
    }
  })
  yield* trainLoop(c, "SWG", c.diffusionSteps, swg, c.emaRate, (_ops, p, step) =>
    Training.epsLoss(p, swgNetwork, tables, swgData, c.batch, Rng.at(Rng.split(key, "swg-batch"), step)))

  // 5. the methods
  const read = (f: (ops: TensorBackend) => Tensor) =>
    Effect.gen(function*() {
      const t = yield* backend.run(f)
      const values = Float64Array.from(yield* backend.read(t))
      B.dispose(t)
      return values
    })
  const diceSample = (rowsOut: number, guided: boolean, sampleKey: Rng.RngKey) =>
    read((ops) => DiceBehaviour.sample({
      backend: ops, network, layout: behaviour.layout, params: behaviour.ema ?? behaviour.params, condition: undefined, rows: rowsOut,
      ...(guided ? { guidance: { gradient: DiceGuidance.gradient(ops, guidanceConfig, guidance.layout, guidance.ema ?? guidance.params, undefined), scale: c.guidanceScale } } : {}),
      key: sampleKey
    }))
  const choose = (method: DiceSelect.DiceMethod) =>
    Effect.gen(function*() {
      const { candidates, guided } = DiceSelect.plan(method, c.candidates)
      const all = yield* diceSample(c.samples * candidates, guided, Rng.split(key, method))
      if (candidates === 1) return all
      const scores = yield* predict(all)
      const picked = DiceSelect.pick(scores, c.samples, candidates, "argmax", Rng.split(key, `${method}-pick`))
      const out = new Float64Array(2 * c.samples)
      picked.forEach((row, r) => out.set([all[2 * row], all[2 * row + 1]], 2 * r))
      return out
    })
  const swgSamples = yield* read((ops) => {
    const z = SwgPolicy.sample({
      backend: ops, network: swgNetwork, layout: swg.layout, params: swg.ema ?? swg.params, condition: undefined, rows: c.samples,
      grid: SamplerSteps.discreteGrid(swgSchedule), sampler: new Sampler.Ddpm({ temperature: 1 }),
      guidance: new Swg.SwgGuidance({
        scale: 1, minWeight: wMin, maxWeight: 1,
        cleanRange: { lower: [-c.outerRadius, -c.outerRadius, wMin], upper: [c.outerRadius, c.outerRadius, 1] }
      }),
      initialScale: 1,
      clip: { lo: ops.upload(Float32Array.from([-3e38, -3e38, wMin]), 1, 3), hi: ops.upload(Float32Array.from([3e38, 3e38, 1]), 1, 3) },
      key: Rng.split(key, "swg")
    })
    return ops.sliceCols(z, 0, 2)
  })
  const target = exactTarget(c, c.samples, Rng.split(key, "target"))
  const other = exactTarget(c, c.samples, Rng.split(key, "target-2"))
  const dataSample = annulusNormal(c, c.samples, Rng.split(key, "data-sample"))
  const projections = Rng.named(c.seed, "bandit-projections")
  const metricOf = (method: string, a: Float64Array) =>
    Effect.gen(function*() {
      const hat = yield* predict(a)
      let truth = 0
      let over = 0
      for (let i = 0; i < c.samples; i++) {
        const r = trueReward(c, a[2 * i], a[2 * i + 1])
        truth += r
        over += hat[i] - r
      }
      const metric: BanditMetric = {
        method,
        trueReward: truth / c.samples,
        overestimate: over / c.samples,
        outsideSupport: outsideSupport(c, a),
        inCentre: inCentre(c, a),
        sw2: SampleMetrics.slicedWasserstein2(a, target, 2, c.projections, projections)
      }
      yield* Console.log(`${method}: true reward ${metric.trueReward.toFixed(3)}, R̂ − R ${metric.overestimate.toFixed(3)}, outside the support ${(100 * metric.outsideSupport).toFixed(1)} % (centre ${(100 * metric.inCentre).toFixed(1)} %), SW2 ${metric.sw2.toFixed(3)}`)
      return metric
    })
  const panels: Array<[string, Float64Array]> = [["data (behaviour)", dataSample], ["exact target π*", target]]
  for (const method of DiceSelect.DiceMethods) panels.push([method, yield* choose(method)])
  panels.push(["SWG (ρ = 1)", swgSamples])
  const metrics: Array<BanditMetric> = []
  for (const [name, points] of panels) metrics.push(yield* metricOf(name, points))
  const noise = SampleMetrics.slicedWasserstein2(other, target, 2, c.projections, projections)
  const rewardModel = { dataRmse, centreMeanOverestimate: centreError, centreMaxPrediction: maxCentreHat, dataMaxPrediction: maxDataHat, value: v }
  const result = { config: Schema.encodeSync(BanditConfig)(c), rewardModel, sw2SampleNoise: noise, methods: metrics }
  yield* writeJsonAtomically(`${c.outDir}/metrics.json`, result)
  const limit = c.outerRadius * 1.2
  yield* plots.write(`${c.outDir}/bandit`, Figure.scatterGrid({
    panels: [panels.map(([, p]) => p)],
    columnTitles: panels.map(([name]) => name),
    limits: { x: { min: -limit, max: limit }, y: { min: -limit, max: limit } },
    title: `2-D bandit: chosen actions (annulus ${c.innerRadius}–${c.outerRadius}, reward peaks on the x-axis, α = ${c.alpha}, K = ${c.candidates})`
  }))
  const table = markdown(metrics, noise, rewardModel)
  yield* writeTextAtomically(`${c.outDir}/metrics.md`, table)
  yield* Console.log(table)
  return result
})

export const markdown = (
  metrics: ReadonlyArray<BanditMetric>, noise: number, model: { readonly dataRmse: number; readonly centreMeanOverestimate: number }
): string =>
  [
    "| method | mean true reward | mean R̂ − R (overestimate) | outside the data's support | of which in the empty centre | sliced W2 to π* |",
    "| --- | --- | --- | --- | --- | --- |",
    ...metrics.map((m) =>
      `| ${m.method} | ${m.trueReward.toFixed(3)} | ${m.overestimate.toFixed(3)} | ${(100 * m.outsideSupport).toFixed(1)} % | ${(100 * m.inCentre).toFixed(1)} % | ${m.sw2.toFixed(3)} |`),
    "",
    `Sliced W2 between two exact target samples (the metric's noise): ${noise.toFixed(3)}. Reward model: RMSE on the data ` +
      `${model.dataRmse.toFixed(3)}, mean R̂ − R in the empty centre ${model.centreMeanOverestimate.toFixed(3)}.`
  ].join("\n") + "\n"
