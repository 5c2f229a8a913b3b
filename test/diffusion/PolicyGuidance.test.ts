/**
 * Policy guidance: the λ_k schedule, the action gradient against f64 finite differences of the target's
 * log-likelihood (Gaussian around a deterministic actor, Gaussian actor with clipped log std), the per-trajectory
 * normalisation, that only the action channels move, that λ = 0 is exactly unguided sampling, and that guidance
 * with the exact denoiser of a trajectory set favours the trajectories the target prefers.
 */
import { describe, expect, it } from "vitest"
import * as CpuBackend from "../../src/domain/cpu/CpuBackend.ts"
import { CpuTensor } from "../../src/domain/cpu/CpuBackend.ts"
import * as Rng from "../../src/domain/Rng.ts"
import type { Tensor } from "../../src/domain/TensorBackend.ts"
import type * as Trajectories from "../../src/data/Trajectories.ts"
import * as Edm from "../../src/diffusion/Edm.ts"
import * as PolicyGuidance from "../../src/diffusion/PolicyGuidance.ts"
import { closeness, valuesOf } from "../fixtures/FiniteDifference.ts"

const B = CpuBackend.make({ precision: "f64" })
const host = (t: Tensor) => valuesOf(t)

// Two state dims, two action dims: channels [s0, s1, ã0, ã1, r, d].
const channels: Trajectories.Channels = { observationDim: 2, actionDim: 2 }
const normalisation: Trajectories.Normalisation = {
  mean: Float64Array.from([0.5, -1, 0.1, -0.2, 0.3, 0]),
  std: Float64Array.from([2, 0.5, 0.7, 1.3, 1, 1])
}
const [length, count] = [4, 3]
const frame: PolicyGuidance.TrajectoryFrame = { channels, normalisation, length }
// μ(s) = tanh(s·M + b), a deterministic actor.
const M = [[0.4, -0.3], [0.2, 0.5]]
const bias = [0.1, -0.2]
const actorMean = (s: ArrayLike<number>) => [0, 1].map((k) => Math.tanh(s[0] * M[0][k] + s[1] * M[1][k] + bias[k]))
const actor = PolicyGuidance.gaussianAroundActor((tape, states) =>
  tape.unary("tanh", tape.linear(states, tape.leaf(B.upload(Float32Array.from(M.flat()), 2, 2)), tape.leaf(B.upload(Float32Array.from(bias), 1, 2)))), 0.5)
// A Gaussian actor whose log std depends on the state and is clipped to [−20, 2]: logStd = 1.5·s0 − 1 (clips for s0 > 2).
const gaussian = PolicyGuidance.gaussianActor((tape, states) => ({
  mean: tape.unary("tanh", tape.linear(states, tape.leaf(B.upload(Float32Array.from(M.flat()), 2, 2)), tape.leaf(B.upload(Float32Array.from(bias), 1, 2)))),
  logStd: tape.affine(tape.concatCols([tape.sliceCols(states, 0, 1), tape.sliceCols(states, 0, 1)]), 1.5, -1)
}))

/** Σ_rows log π(tanh(unnorm ã) | unnorm s) of a normalised iterate, in f64 on the host. */
const hostLogLikelihood = (x: ArrayLike<number>, logStdOf: (s: ArrayLike<number>) => number) => {
  let total = 0
  for (let r = 0; r < length * count; r++) {
    const u = (k: number) => x[r * 6 + k] * normalisation.std[k] + normalisation.mean[k]
    const s = [u(0), u(1)]
    const mu = actorMean(s)
    const logStd = Math.min(2, Math.max(-20, logStdOf(s)))
    for (let k = 0; k < 2; k++) {
      const a = Math.tanh(u(2 + k))
      total += -0.5 * ((a - mu[k]) / Math.exp(logStd)) ** 2 - logStd - 0.5 * Math.log(2 * Math.PI)
    }
  }
  return total
}

const iterate = (seed: number) => B.normal(length * count, 6, Rng.named(seed, "x"))

describe("PolicyGuidance schedule", () => {
  it("λ_k = λ·[(1 − k/N) + c·sin(π(k+1)/N)] from the delay on, 0 at the last step", () => {
    const c = PolicyGuidance.policyGuidanceConfig({ coefficient: 2, cosineCoefficient: 0.3, delaySteps: 3 })
    const N = 10
    for (let k = 0; k < N; k++) {
      const expected = k < 3 || k === N - 1 ? 0 : 2 * (1 - k / N + 0.3 * Math.sin((Math.PI * (k + 1)) / N))
      expect(PolicyGuidance.lambdaAt(c, k, N)).toBeCloseTo(expected, 14)
    }
  })
})

describe("PolicyGuidance action gradient", () => {
  for (const [name, target, logStdOf] of [
    ["Gaussian around a deterministic actor (std 0.5)", actor, () => Math.log(0.5)],
    ["Gaussian actor with a state-dependent, clipped log std", gaussian, (s: ArrayLike<number>) => 1.5 * s[0] - 1]
  ] as const) {
    it(`${name}: matches finite differences of the log-likelihood w.r.t. the action channels (f64)`, () => {
      const x = iterate(1)
      const g = host(PolicyGuidance.actionGradient(B, target, frame, x, false))
      const data = (x as CpuTensor).data
      const h = 1e-6
      const numeric: Array<number> = []
      for (let r = 0; r < length * count; r++) {
        for (let k = 0; k < 2; k++) {
          const i = r * 6 + 2 + k
          const saved = data[i]
          data[i] = saved + h
          const up = hostLogLikelihood(data, logStdOf)
          data[i] = saved - h
          const down = hostLogLikelihood(data, logStdOf)
          data[i] = saved
          numeric.push((up - down) / (2 * h))
        }
      }
      const c = closeness(g, numeric, 1e-6, 1e-5)
      expect(c.worst, `worst at ${c.at}: ${c.actual} vs ${c.expected}`).toBeLessThanOrEqual(1)
    })
  }

  it("normalised: each trajectory's action block has Frobenius norm 1 (before the + 1e-8), direction kept", () => {
    const x = iterate(2)
    const raw = host(PolicyGuidance.actionGradient(B, actor, frame, x, false))
    const unit = host(PolicyGuidance.actionGradient(B, actor, frame, x, true))
    for (let w = 0; w < count; w++) {
      const block = (v: Float64Array) => v.subarray(w * length * 2, (w + 1) * length * 2)
      const norm = Math.hypot(...block(raw))
      expect(Math.hypot(...block(unit).map((u) => u - 1e-8))).toBeCloseTo(1, 12)
      block(unit).forEach((u, i) => expect(u - 1e-8).toBeCloseTo(block(raw)[i] / norm, 12))
    }
  })
})

describe("PolicyGuidance shift", () => {
  it("moves only the action channels: states, rewards and done flags of the iterate are unchanged", () => {
    const x = iterate(3)
    const c = PolicyGuidance.policyGuidanceConfig({ coefficient: 0.7 })
    const shifted = host(PolicyGuidance.guide(B, actor, frame, c)(x, 2, 10))
    const before = host(x)
    const g = host(PolicyGuidance.actionGradient(B, actor, frame, x, false))
    const lambda = PolicyGuidance.lambdaAt(c, 2, 10)
    for (let r = 0; r < length * count; r++) {
      for (const k of [0, 1, 4, 5]) expect(shifted[r * 6 + k]).toBe(before[r * 6 + k])
      for (const k of [2, 3]) expect(shifted[r * 6 + k]).toBeCloseTo(before[r * 6 + k] + lambda * g[r * 2 + k - 2], 12)
    }
    expect(Math.max(...g.map(Math.abs))).toBeGreaterThan(0.01)
  })
})

/** The exact denoiser of a finite set of trajectories (EDM convention x = y + σn), per sample. */
const setDenoiser = (set: ReadonlyArray<Float64Array>, size: number): Edm.Denoiser => (x, sigma) => {
  const xv = host(x)
  const samples = xv.length / size
  const out = new Float32Array(xv.length)
  for (let b = 0; b < samples; b++) {
    const logits = set.map((y) => -y.reduce((a, v, j) => a + (xv[b * size + j] - v) ** 2, 0) / (2 * sigma * sigma))
    const m = Math.max(...logits)
    const p = logits.map((l) => Math.exp(l - m))
    const total = p.reduce((a, v) => a + v, 0)
    for (let j = 0; j < size; j++) out[b * size + j] = set.reduce((acc, y, i) => acc + (p[i] / total) * y[j], 0)
  }
  return B.upload(out, x.rows, x.cols)
}

describe("PolicyGuidance in the EDM sampler", () => {
  // Four trajectories with the same states and rewards; their actions differ (normalised ã = ±1 patterns).
  const size = length * 6
  const identity: Trajectories.Normalisation = { mean: new Float64Array(6), std: new Float64Array(6).fill(1) }
  const setFrame: PolicyGuidance.TrajectoryFrame = { channels, normalisation: identity, length }
  const patterns = [[0.6, 0.6], [0.6, -0.6], [-0.6, 0.6], [-0.6, -0.6]]
  const set = patterns.map(([a0, a1]) =>
    Float64Array.from({ length: size }, (_, j) => {
      const [t, k] = [Math.floor(j / 6), j % 6]
      return k === 0 ? t / 4 : k === 1 ? -t / 4 : k === 2 ? a0 : k === 3 ? a1 : k === 4 ? 0.5 : 0
    }))
  // The target prefers actions (0.5, 0.5): tanh(0.6) ≈ 0.54, so trajectory 0.
  const target = PolicyGuidance.gaussianAroundActor((tape, states) => tape.leaf(B.fill(states.rows, 2, 0.5)), 0.5)
  const settings = Edm.samplerSettings(Edm.edmConfig({ steps: 32 }))
  const n = 120
  const run = (coefficient: number | undefined) => {
    const x0 = Edm.initialNoise(B, n * length, 6, settings.sigmas[0], Rng.named(7, "x0"))
    const guide = coefficient === undefined
      ? undefined
      : PolicyGuidance.guide(B, target, setFrame, PolicyGuidance.policyGuidanceConfig({ coefficient, normalise: true }))
    return host(Edm.sample({
      backend: B, denoiser: setDenoiser(set, size), ...settings, key: Rng.named(8, "churn"), ...(guide === undefined ? {} : { guide })
    }, x0))
  }
  const nearest = (out: Float64Array) =>
    Array.from({ length: n }, (_, b) => {
      const d = set.map((y) => y.reduce((a, v, j) => a + (out[b * size + j] - v) ** 2, 0))
      return d.indexOf(Math.min(...d))
    })

  it("λ = 0 is exactly unguided sampling; λ > 0 picks the target's preferred trajectory more often", () => {
    const unguided = run(undefined)
    const zero = run(0)
    expect(zero.every((v, i) => v === unguided[i])).toBe(true)
    const share = (out: Float64Array) => nearest(out).filter((i) => i === 0).length / n
    const guided = run(3)
    // Unguided: each trajectory ≈ 1/4 (sd 0.04 at n = 120). Guided with normalised g: λ = 1 put 0.5 of the
    // samples on trajectory 0, λ = 3 over 0.6.
    expect(share(unguided)).toBeLessThan(0.4)
    expect(share(guided), `guided share ${share(guided)} vs unguided ${share(unguided)}`).toBeGreaterThan(0.6)
  })
})
