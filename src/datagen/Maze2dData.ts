/**
 * D4RL's maze2d-{umaze,medium,large} datasets: one long stream of D4RL's waypoint controller plus Gaussian action
 * noise chasing random targets, as scripts/generation/generate_maze2d_datasets.py --noisy and then
 * relabel_maze2d_rewards.py write them (https://github.com/Farama-Foundation/D4RL/tree/master/scripts/generation).
 */
import { Effect, Schema } from "effect"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import * as OfflineDataset from "../data/OfflineDataset.ts"
import * as Environment from "../env/Environment.ts"
import { Environments } from "../env/Environments.ts"
import * as Maze2d from "../env/Maze2d.ts"
import * as Mujoco from "../env/Mujoco.ts"
import * as WaypointController from "../env/WaypointController.ts"
import { Progress } from "../services/Progress.ts"

/** D4RL's dataset sizes (transitions) of maze2d-{umaze,medium,large}-v1. */
export const defaultSizes: Readonly<Record<Maze2d.MazeName, number>> = {
  umaze: 1_000_000,
  medium: 2_000_000,
  large: 4_000_000
}

/** How a maze2d dataset is generated; with the defaults, D4RL's released "noisy" data. */
export class Maze2dDataConfig extends Schema.Class<Maze2dDataConfig>("Maze2dDataConfig")({
  /** Which maze. */
  maze: Schema.Literals(["umaze", "medium", "large"]),
  /** Reward relabelling: "sparse" (maze2d-*-v1) or "dense" (maze2d-*-dense-v1). */
  reward: Schema.Literals(["sparse", "dense"]).pipe(Config.withDefault("sparse")),
  /** Transitions; default D4RL's (1M / 2M / 4M). */
  size: Schema.optionalKey(Config.PositiveInt),
  /** σ of the Gaussian noise added to the controller's action before clipping (D4RL's --noisy: 0.5). */
  actionNoise: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).pipe(Config.withDefault(0.5)),
  /** Seed of the reset, the targets, the action noise and the controller's waypoint jitter. */
  seed: Config.NonNegativeInt.pipe(Config.withDefault(0)),
  /**
   * D4RL's loop keeps the observation of a step that reached its target (`s` is not advanced when `done`), so the
   * next row repeats it while infos/qpos already moved on; true reproduces that, false records the true state.
   */
  staleObservationAfterDone: Schema.Boolean.pipe(Config.withDefault(true))
}) {}

/** The D4RL task name of a config: "maze2d-umaze-v1" or "maze2d-umaze-dense-v1". */
export const taskName = (config: Maze2dDataConfig): Environment.ScoredTask =>
  config.reward === "sparse" ? `maze2d-${config.maze}-v1` : `maze2d-${config.maze}-dense-v1`

/** The number of transitions a config asks for. */
export const sizeOf = (config: Maze2dDataConfig): number => config.size ?? defaultSizes[config.maze]

/** A maze2d stream being generated step by step (so callers can report progress); owns MuJoCo memory. */
export interface Maze2dGenerator {
  readonly size: number
  /** Transitions generated so far. */
  readonly done: number
  /** Generates up to `steps` more transitions. */
  advance(steps: number): void
  /** The dataset (call once `done === size`). */
  result(): OfflineDataset.OfflineDataset
  /** Frees the simulator; idempotent. */
  free(): void
}

/**
 * Starts D4RL's generation loop (throws `EnvironmentError` if the model does not compile):
 *   target ← random cell of `resetCells` + U(±0.1)²;  reset: random cell + U(±0.1)², qvel 0.1·N(0, 1)
 *   each step: (a, solved) = controller(s, target); a = clip(a + σ·N(0, I), ±1); done = solved or ts ≥ T
 *     record (s, a, target, done, qpos, qvel); step the point mass (no time limit, never reset); ts += 1
 *     if done: new target, ts = 0 (s kept, see `staleObservationAfterDone`) else s = s'
 * T is the task's time limit (300/600/800). Rows: observations s, actions a, rewards relabelled from s against the
 * fixed goal cell ([‖s_xy − goal‖ ≤ 0.5] or exp(−‖s_xy − goal‖), D4RL's relabel script: s, not s'), terminals 0,
 * timeouts = done, infos/goal, infos/qpos, infos/qvel; no next_observations. Randomness: streams
 * "Maze2dData.{reset.*,target.*,noise}" at offset = target count or step, the controller's own under `seed`.
 */
export const makeGenerator = (runtime: Mujoco.Runtime, config: Maze2dDataConfig): Maze2dGenerator => {
  const size = sizeOf(config)
  const name = taskName(config)
  const maze = Maze2d.parse(Maze2d.layouts[config.maze])
  const limit = Maze2d.maxEpisodeSteps[config.maze]
  const model = Mujoco.compile(runtime, name, Maze2d.mjcf(maze))
  const sim = Mujoco.makeBatch(runtime, model, 1)
  const { module } = runtime
  const controller = WaypointController.make(maze, { batch: 1, seed: config.seed })
  const key = (stream: string) => Rng.named(config.seed, `Maze2dData.${stream}`)
  const [goalX, goalY] = maze.goal
  const sparse = config.reward === "sparse"

  const observations = new Float32Array(size * 4)
  const actions = new Float32Array(size * 2)
  const rewards = new Float32Array(size)
  const timeouts = new Uint8Array(size)
  const goals = new Float32Array(size * 2)
  const qposLog = new Float32Array(size * 2)
  const qvelLog = new Float32Array(size * 2)

  const draws = new Float64Array(2)
  const cell = new Float64Array(1)
  const randomCell = (stream: string, index: number): [number, number] => {
    Rng.fillInt(Rng.at(key(`${stream}.cell`), index), maze.resetCells.length, cell)
    Rng.fillUniform(Rng.at(key(`${stream}.jitter`), index), draws)
    const [x, y] = maze.resetCells[cell[0]]
    return [x + 0.2 * draws[0] - 0.1, y + 0.2 * draws[1] - 0.1]
  }

  // env.set_target(), then env.reset()
  let targets = 0
  let target = Float64Array.from(randomCell("target", targets++))
  const velocity = new Float64Array(2)
  Rng.fillNormal(Rng.at(key("reset.qvel"), 0), velocity)
  Mujoco.resetMember(runtime, sim, 0, randomCell("reset", 0), [0.1 * velocity[0], 0.1 * velocity[1]])
  const state = (): { qpos: Float64Array; qvel: Float64Array } => ({
    qpos: sim.data.qpos as Float64Array,
    qvel: sim.data.qvel as Float64Array
  })
  const s = new Float64Array(4)
  const initial = state()
  s.set([initial.qpos[0], initial.qpos[1], initial.qvel[0], initial.qvel[1]])
  const noise = new Float64Array(2)
  let ts = 0
  let done = 0
  let freed = false

  const advance = (steps: number): void => {
    const end = Math.min(size, done + steps)
    for (let t = done; t < end; t++) {
      const control = controller.act(s, target)
      Rng.fillNormal(Rng.at(key("noise"), t), noise)
      const ax = clip(control.actions[0] + config.actionNoise * noise[0])
      const ay = clip(control.actions[1] + config.actionNoise * noise[1])
      const finished = control.solved[0] === 1 || ts >= limit
      const { qpos, qvel } = state()
      for (let k = 0; k < 4; k++) observations[4 * t + k] = s[k]
      actions[2 * t] = ax
      actions[2 * t + 1] = ay
      goals[2 * t] = target[0]
      goals[2 * t + 1] = target[1]
      qposLog[2 * t] = qpos[0]
      qposLog[2 * t + 1] = qpos[1]
      qvelLog[2 * t] = qvel[0]
      qvelLog[2 * t + 1] = qvel[1]
      timeouts[t] = finished ? 1 : 0
      const distance = Math.sqrt((observations[4 * t] - goalX) ** 2 + (observations[4 * t + 1] - goalY) ** 2)
      rewards[t] = sparse ? (distance <= 0.5 ? 1 : 0) : Math.exp(-distance)
      // MazeEnv.step: clip qvel to ±5, ctrl := a, one mj_step
      qvel[0] = Math.min(Maze2d.maxVelocity, Math.max(-Maze2d.maxVelocity, qvel[0]))
      qvel[1] = Math.min(Maze2d.maxVelocity, Math.max(-Maze2d.maxVelocity, qvel[1]))
      const ctrl = sim.data.ctrl as Float64Array
      ctrl[0] = ax
      ctrl[1] = ay
      module.mj_step(model, sim.data)
      ts += 1
      if (finished) {
        target = Float64Array.from(randomCell("target", targets++))
        ts = 0
        if (config.staleObservationAfterDone) continue
      }
      const next = state()
      s[0] = next.qpos[0]
      s[1] = next.qpos[1]
      s[2] = next.qvel[0]
      s[3] = next.qvel[1]
    }
    done = end
  }

  return {
    size,
    get done() {
      return done
    },
    advance,
    result: () =>
      OfflineDataset.make({
        observationDim: 4,
        actionDim: 2,
        observations,
        actions,
        rewards,
        terminals: new Uint8Array(size),
        timeouts,
        infos: {
          goal: { data: goals, shape: [size, 2] },
          qpos: { data: qposLog, shape: [size, 2] },
          qvel: { data: qvelLog, shape: [size, 2] }
        },
        metadata: {
          env_name: name,
          generator: "dgrl datagen/Maze2dData (D4RL generate_maze2d_datasets.py --noisy, relabelled)",
          seed: config.seed,
          action_noise: config.actionNoise,
          stale_observation_after_done: config.staleObservationAfterDone ? 1 : 0
        }
      }),
    free: () => {
      if (freed) return
      freed = true
      sim.free()
      model.delete()
    }
  }
}

/** The whole dataset at once (no progress). */
export const generateSync = (runtime: Mujoco.Runtime, config: Maze2dDataConfig): OfflineDataset.OfflineDataset => {
  const generator = makeGenerator(runtime, config)
  try {
    generator.advance(generator.size)
    return generator.result()
  } finally {
    generator.free()
  }
}

/** Generates the dataset of `config`, reporting progress every 100k transitions. */
export const generate = Effect.fn("Maze2dData.generate")(function*(config: Maze2dDataConfig) {
  const { runtime } = yield* Environments
  const generator = yield* Effect.acquireRelease(
    Environment.attempt(() => makeGenerator(runtime, config)),
    (g) => Effect.sync(() => g.free())
  )
  const tracker = yield* (yield* Progress).start(taskName(config), generator.size)
  while (generator.done < generator.size) {
    yield* Effect.sync(() => generator.advance(100_000))
    yield* tracker.update(generator.done)
  }
  return generator.result()
}, Effect.scoped)

/** Returns of one D4RL evaluation episode per member: the noisy controller heading for the fixed goal. */
export interface BehaviourScore {
  readonly returns: Float64Array
  readonly mean: number
  /** D4RL normalised score of `mean`. */
  readonly normalizedScore: number
}

/**
 * Scores the data's behaviour the way D4RL scores policies: `episodes` episodes of the task (time limit, fixed goal,
 * reward after the step) driven by the controller with the config's action noise, towards the goal cell.
 */
export const evaluateBehaviour = (
  runtime: Mujoco.Runtime,
  config: Maze2dDataConfig,
  episodes: number,
  seed: number
): BehaviourScore => {
  const env = Maze2d.make(runtime, { maze: config.maze, batch: episodes, reward: config.reward })
  try {
    const controller = WaypointController.make(env.maze, { batch: episodes, seed })
    const noise = new Float64Array(2 * episodes)
    const { returns } = Environment.rollout(env, (observations, t) => {
      const { actions } = controller.act(observations, env.target)
      Rng.fillNormal(Rng.at(Rng.named(seed, "Maze2dData.evaluate.noise"), t), noise)
      for (let k = 0; k < actions.length; k++) actions[k] = clip(actions[k] + config.actionNoise * noise[k])
      return actions
    }, seed)
    const mean = returns.reduce((s, r) => s + r, 0) / returns.length
    return { returns, mean, normalizedScore: Environment.normalizedScore(env.name, mean) }
  } finally {
    env.close()
  }
}

// internal

const clip = (v: number): number => (v < -1 ? -1 : v > 1 ? 1 : v)
