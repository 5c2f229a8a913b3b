/**
 * A small Pendulum-v1 dataset in the D4RL layout, made in well under a second: the behaviour is an energy-pumping
 * swing-up controller with a PD balance near the top, whose action is replaced at each step, with probability
 * `replaceShare`, by a uniform random one. At every state the data then hold good and random actions side by side,
 * which is what a weighted behaviour model can select among. The normalised score follows D4RL's convention,
 * 100·(R − R_random)/(R_expert − R_random), with the uniform random policy as 0 and the controller alone as 100,
 * both measured here on the same environment (Pendulum has no D4RL reference returns).
 */
import { Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import * as OfflineDataset from "../data/OfflineDataset.ts"
import * as Environment from "../env/Environment.ts"
import * as Pendulum from "../env/Pendulum.ts"

export class PendulumDataConfig extends Schema.Class<PendulumDataConfig>("PendulumDataConfig")({
  /** Episodes of 200 steps. */
  episodes: Config.PositiveInt.pipe(Config.withDefault(40)),
  /** Probability that a step's action is uniform on [−1, 1] instead of the controller's. */
  replaceShare: Config.Probability.pipe(Config.withDefault(0.3)),
  /** σ of the Gaussian noise on the controller's action (before the clip to [−1, 1]). */
  controllerNoise: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).pipe(Config.withDefault(0.1)),
  seed: Config.NonNegativeInt.pipe(Config.withDefault(0))
}) {}

/** Pendulum-v1's dynamics, θ̈ = (3g/2l)·sin θ + (3/ml²)·u with θ = 0 upright, give the energy H = θ̇²/2 + (3g/2l)·cos θ. */
const GAIN_GRAVITY = (3 * Pendulum.gravity) / (2 * Pendulum.length)
/** H at rest upright: what the swing-up pumps towards. */
const UPRIGHT_ENERGY = GAIN_GRAVITY
/** cos θ above which the PD balance takes over from the pump. */
const BALANCE_COS = 0.85
const BALANCE_KP = 10
const BALANCE_KD = 2

/**
 * The controller's torques as actions (u / maxTorque, clipped to [−1, 1]) for observations [E, 3] = [cos θ, sin θ, θ̇]:
 * near the top u = −(k_p·θ + k_d·θ̇); elsewhere u = (H* − H)·sign θ̇ (dH/dt = (3/ml²)·u·θ̇, so this pumps energy in
 * until H reaches the upright value H*), with a push when θ̇ = 0. Mean return ≈ −142 from Pendulum-v1's resets.
 */
export const controller = (observations: Float64Array): Float64Array => {
  const n = observations.length / 3
  const actions = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const cos = observations[3 * i]
    const sin = observations[3 * i + 1]
    const thetaDot = observations[3 * i + 2]
    const u = cos > BALANCE_COS
      ? -(BALANCE_KP * Math.atan2(sin, cos) + BALANCE_KD * thetaDot)
      : (UPRIGHT_ENERGY - (0.5 * thetaDot * thetaDot + GAIN_GRAVITY * cos)) * (thetaDot === 0 ? 1 : Math.sign(thetaDot))
    actions[i] = clip(u / Pendulum.maxTorque)
  }
  return actions
}

/** Uniform actions on [−1, 1] for `n` members at step t (stream `name`). */
const uniformActions = (n: number, key: Rng.RngKey, t: number): Float64Array => {
  const u = new Float64Array(n)
  Rng.fillUniform(Rng.at(key, t), u)
  return u.map((x) => 2 * x - 1)
}

/** The behaviour policy of `config` (streams "PendulumData.{coin,random,noise}" at offset = step). */
export const behaviour = (config: PendulumDataConfig) => (observations: Float64Array, t: number): Float64Array => {
  const key = (stream: string) => Rng.named(config.seed, `PendulumData.${stream}`)
  const n = observations.length / 3
  const actions = controller(observations)
  const coin = new Float64Array(n)
  const noise = new Float64Array(n)
  Rng.fillUniform(Rng.at(key("coin"), t), coin)
  Rng.fillNormal(Rng.at(key("noise"), t), noise)
  const random = uniformActions(n, key("random"), t)
  for (let i = 0; i < n; i++) actions[i] = coin[i] < config.replaceShare ? random[i] : clip(actions[i] + config.controllerNoise * noise[i])
  return actions
}

/** Mean returns of the score's two references over `episodes` episodes from reset seed `seed`. */
export interface References {
  readonly episodes: number
  readonly random: number
  readonly controller: number
}

export const references = (episodes: number, seed: number): References => {
  const env = Pendulum.make({ batch: episodes })
  try {
    const mean = (policy: Environment.Policy) => Array.from(Environment.rollout(env, policy, seed).returns).reduce((s, r) => s + r, 0) / episodes
    return {
      episodes,
      random: mean((observations, t) => uniformActions(observations.length / 3, Rng.named(seed, "PendulumData.reference"), t)),
      controller: mean(controller)
    }
  } finally {
    env.close()
  }
}

/** 100·(R − R_random)/(R_controller − R_random). */
export const normalizedScore = (refs: References, episodeReturn: number): number =>
  (100 * (episodeReturn - refs.random)) / (refs.controller - refs.random)

/**
 * The dataset: `episodes` episodes of the behaviour, run in lockstep from reset seed `seed` and stored one after
 * the other (D4RL's order), with next_observations, timeouts on each last step, no terminals (Pendulum has none).
 */
export const generate = (config: PendulumDataConfig): OfflineDataset.OfflineDataset => {
  const E = config.episodes
  const T = Pendulum.maxEpisodeSteps
  const env = Pendulum.make({ batch: E })
  const observations = new Float32Array(E * T * 3)
  const next = new Float32Array(E * T * 3)
  const actions = new Float32Array(E * T)
  const rewards = new Float32Array(E * T)
  const timeouts = new Uint8Array(E * T)
  const policy = behaviour(config)
  try {
    let obs = env.reset(config.seed)
    for (let t = 0; t < T; t++) {
      const a = policy(obs, t)
      const step = env.step(a)
      for (let e = 0; e < E; e++) {
        const row = e * T + t
        for (let k = 0; k < 3; k++) {
          observations[3 * row + k] = obs[3 * e + k]
          next[3 * row + k] = step.observations[3 * e + k]
        }
        actions[row] = a[e]
        rewards[row] = step.rewards[e]
        timeouts[row] = t === T - 1 ? 1 : 0
      }
      obs = step.observations
    }
  } finally {
    env.close()
  }
  return OfflineDataset.make({
    observationDim: 3,
    actionDim: 1,
    observations,
    actions,
    rewards,
    terminals: new Uint8Array(E * T),
    timeouts,
    nextObservations: next,
    metadata: {
      env_name: env.name,
      generator: "dgrl datagen/PendulumData (swing-up controller, its action replaced by a uniform one with probability replace_share)",
      seed: config.seed,
      replace_share: config.replaceShare,
      controller_noise: config.controllerNoise
    }
  })
}

// internal

const clip = (v: number): number => (v < -1 ? -1 : v > 1 ? 1 : v)
