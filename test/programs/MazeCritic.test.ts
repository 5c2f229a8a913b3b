/**
 * The IQL critic of the offline pipeline on maze2d (docs/methods.md §6.2): with V's LayerNorm on the input (SWG-JAX's
 * value network), V(c·s + d) = V(s) for the 4 features (x, y, ẋ, ẏ), so the goal cell (1, 1) at rest and (3, 3) at rest
 * got one value and IQL's actor scored −14 on maze2d-umaze. Where the config leaves V's LayerNorm out, maze2d's critic
 * (the critic stage's, and the IQL learner's of the synthetic stages) has none, as IQL's own value network; other
 * tasks keep SWG-JAX's, with the config encoded as before; a value the config gives is kept on every task.
 */
import { mkdtemp, readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { describe, expect } from "vitest"
import { DatasetStore } from "../../src/data/DatasetStore.ts"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import * as Rng from "../../src/domain/Rng.ts"
import * as Model from "../../src/nn/Model.ts"
import * as Offline from "../../src/programs/Offline.ts"
import * as OfflinePgd from "../../src/programs/OfflinePgd.ts"
import * as Critic from "../../src/rl/Critic.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { Progress } from "../../src/services/Progress.ts"

const layers = Layer.mergeAll(Backend.layerCpu, Checkpoints.layer, Progress.layerSilent, DatasetStore.layer)

/** The cpu preset's critic section (what the table trains with), made small. */
const presetCritic = async () => {
  const preset = JSON.parse(await readFile(new URL("../../presets/offline-cpu.json", import.meta.url), "utf8")) as { critic: object }
  return { ...preset.critic, hidden: 16, batch: 64 }
}

const configFor = (task: string, critic: object, dir: string) =>
  Schema.decodeUnknownSync(Offline.OfflineConfig)({
    task, dataset: join(dir, "maze.hdf5"), runDir: join(dir, "run"), critic, criticSteps: 20, checkpointEvery: 20, logEvery: 20
  })

/** 600 steps of a random walk in maze2d-umaze's free cells (no next observations, as D4RL's maze2d), sparse reward at (1, 1). */
const mazeDataset = (): OfflineDataset.OfflineDataset => {
  const n = 600
  const u = new Float64Array(n * 6)
  Rng.fillUniform(Rng.named(1, "maze-critic-test"), u)
  const cells = [[1, 1], [1, 2], [1, 3], [2, 3], [3, 1], [3, 2], [3, 3]]
  const observations = new Float32Array(n * 4)
  const actions = new Float32Array(n * 2)
  const rewards = new Float32Array(n)
  const timeouts = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const [x, y] = cells[Math.floor(u[6 * i] * cells.length)]
    observations.set([x + 0.4 * u[6 * i + 1] - 0.2, y + 0.4 * u[6 * i + 2] - 0.2, 2 * u[6 * i + 3] - 1, 2 * u[6 * i + 4] - 1], 4 * i)
    actions.set([2 * u[6 * i + 5] - 1, 1 - 2 * u[6 * i + 5]], 2 * i)
    rewards[i] = x === 1 && y === 1 ? 1 : 0
    timeouts[i] = i % 50 === 49 ? 1 : 0
  }
  return OfflineDataset.make({ observationDim: 4, actionDim: 2, observations, actions, rewards, terminals: new Uint8Array(n), timeouts })
}

describe("the IQL critic on maze2d", () => {
  it.effect("trained by the critic stage with the cpu preset, V tells the goal cell at rest from (3, 3) at rest", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "maze-critic-")))
      const c = configFor("maze2d-umaze-v1", yield* Effect.promise(presetCritic), dir)
      const data = mazeDataset()
      yield* (yield* DatasetStore).write(c.dataset, data)
      yield* Offline.trainCritic(c)
      const critic = yield* Offline.loadCritic(c, data)
      const B = (yield* Backend).ops
      const p = Model.bind(B, critic.v, critic.v.params)
      const v = yield* (yield* Backend).read(Critic.value(p, critic.config, p.tape.leaf(B.upload(Float32Array.from([1, 1, 0, 0, 3, 3, 0, 0]), 2, 4))).value)
      expect(Critic.valueLayerNorm(critic.config)).toBe("none")
      expect(Math.abs(v[0] - v[1])).toBeGreaterThan(1e-3)
    }).pipe(Effect.provide(layers)))

  it("the synthetic stages' IQL critic is maze2d's too, Pendulum's has none; locomotion keeps SWG-JAX's input LayerNorm, encoded as before", async () => {
    const critic = await presetCritic()
    const maze = configFor("maze2d-medium-v1", critic, "/nowhere")
    expect((OfflinePgd.iqlSyntheticStage(maze).encoded as { critic: Record<string, unknown> }).critic.valueLayerNorm).toBe("none")
    expect((Offline.criticStage(maze).encoded as Record<string, unknown>).valueLayerNorm).toBe("none")
    expect(Critic.valueLayerNorm(Offline.criticConfig(configFor("pendulum-swingup-mixed", critic, "/nowhere")))).toBe("none")
    for (const task of ["hopper-medium-replay-v2", "halfcheetah-medium-v2", "walker2d-medium-expert-v2"]) {
      const c = configFor(task, critic, "/nowhere")
      expect(Critic.valueLayerNorm(Offline.criticConfig(c))).toBe("input")
      expect(Object.keys(Offline.criticStage(c).encoded as object)).not.toContain("valueLayerNorm")
    }
    for (const norm of ["input", "hidden"] as const) {
      const given = configFor("maze2d-umaze-v1", { ...critic, valueLayerNorm: norm }, "/nowhere")
      expect(Critic.valueLayerNorm(Offline.criticConfig(given))).toBe(norm)
    }
  })
})
