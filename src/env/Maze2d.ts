/**
 * D4RL Maze2D (maze2d-{umaze,medium,large}-v1, sparse and dense) on mujoco-js, vectorised; the MJCF is
 * generated from D4RL's maze strings as d4rl/pointmaze/maze_model.py does, the task settings follow
 * d4rl/pointmaze/__init__.py (https://github.com/Farama-Foundation/D4RL/tree/master/d4rl/pointmaze).
 */
import * as Rng from "../domain/Rng.ts"
import * as Environment from "./Environment.ts"
import * as Mujoco from "./Mujoco.ts"

/** The three mazes of the D4RL v1 benchmark. */
export type MazeName = "umaze" | "medium" | "large"

/** Reward of the v1 tasks: sparse [‖xy − target‖ ≤ 0.5] or dense exp(−‖xy − target‖). */
export type RewardType = "sparse" | "dense"

/** D4RL's maze strings, one string per row: '#' wall, 'O' empty, 'G' goal. */
export const layouts: Readonly<Record<MazeName, ReadonlyArray<string>>> = {
  umaze: ["#####", "#GOO#", "###O#", "#OOO#", "#####"],
  medium: ["########", "#OO##OO#", "#OO#OOO#", "##OOO###", "#OO#OOO#", "#O#OO#O#", "#OOO#OG#", "########"],
  large: [
    "############",
    "#OOOO#OOOOO#",
    "#O##O#O#O#O#",
    "#OOOOOO#OOO#",
    "#O####O###O#",
    "#OO#O#OOOOO#",
    "##O#O#O#O###",
    "#OO#OOO#OGO#",
    "############"
  ]
}

/** Time limits of maze2d-*-v1. */
export const maxEpisodeSteps: Readonly<Record<MazeName, number>> = { umaze: 300, medium: 600, large: 800 }

/** A grid cell (x, y) = (row, column) of the maze string; the point mass's qpos lives in these units. */
export type Cell = readonly [x: number, y: number]

/** A parsed maze. */
export interface Maze {
  /** Rows (x extent) and columns (y extent). */
  readonly rows: number
  readonly cols: number
  /** [rows·cols], row-major: 1 where the cell is a wall. */
  readonly walls: Uint8Array
  /** The 'G' cell. */
  readonly goal: Cell
  /** Where episodes start: the empty cells in (x, y) order, then the goal (D4RL's `empty_and_goal_locations`). */
  readonly resetCells: ReadonlyArray<Cell>
}

/** Parses a maze given as one string per row; the maze must have exactly one 'G'. */
export const parse = (rows: ReadonlyArray<string>): Maze => {
  const cols = rows[0].length
  const walls = new Uint8Array(rows.length * cols)
  const empty: Array<Cell> = []
  const goals: Array<Cell> = []
  rows.forEach((row, x) => {
    for (let y = 0; y < cols; y++) {
      const tile = row[y]
      if (tile === "#") walls[x * cols + y] = 1
      else if (tile === "G") goals.push([x, y])
      else empty.push([x, y])
    }
  })
  return { rows: rows.length, cols, walls, goal: goals[0], resetCells: [...empty, ...goals] }
}

/**
 * D4RL's `point_maze` MJCF (physics only; textures, lights and sites are left out): a sphere of radius
 * 0.1 with two damped slide joints (damping 1), two motors with gear 100, a wall box of half-size
 * 0.5×0.5×0.2 at (x+1, y+1, 0) per '#', timestep 0.01, no gravity, Euler. The particle body sits at
 * (1.2, 1.2), so qpos = (x, y) is 0.2 off the cell centre in world coordinates, exactly as in D4RL.
 */
export const mjcf = (maze: Maze): string => {
  const walls: Array<string> = []
  for (let x = 0; x < maze.rows; x++) {
    for (let y = 0; y < maze.cols; y++) {
      if (maze.walls[x * maze.cols + y] === 1) {
        walls.push(
          `<geom conaffinity="1" type="box" name="wall_${x}_${y}" pos="${x + 1} ${y + 1} 0" size="0.5 0.5 0.2"/>`
        )
      }
    }
  }
  return `<mujoco model="point_maze">
  <compiler inertiafromgeom="true" angle="radian" coordinate="local"/>
  <option timestep="0.01" gravity="0 0 0" iterations="20" integrator="Euler"/>
  <default>
    <joint damping="1" limited="false"/>
    <geom friction=".5 .1 .1" density="1000" margin="0.002" condim="1" contype="2" conaffinity="1"/>
  </default>
  <worldbody>
    <geom name="ground" size="40 40 0.25" pos="0 0 -0.1" type="plane" contype="1" conaffinity="0"/>
    <body name="particle" pos="1.2 1.2 0">
      <geom name="particle_geom" type="sphere" size="0.1" contype="1"/>
      <joint name="ball_x" type="slide" pos="0 0 0" axis="1 0 0"/>
      <joint name="ball_y" type="slide" pos="0 0 0" axis="0 1 0"/>
    </body>
    ${walls.join("\n    ")}
  </worldbody>
  <actuator>
    <motor joint="ball_x" ctrlrange="-1 1" ctrllimited="true" gear="100"/>
    <motor joint="ball_y" ctrlrange="-1 1" ctrllimited="true" gear="100"/>
  </actuator>
</mujoco>
`
}

/** Options of `make`. */
export interface Options {
  readonly maze: MazeName
  readonly batch: number
  /** Defaults to "sparse" (maze2d-*-v1); "dense" gives maze2d-*-dense-v1. */
  readonly reward?: RewardType
}

/** A Maze2D environment with its maze, target and per-member state access. */
export interface Maze2dEnv extends Environment.VectorEnv, Mujoco.StateAccess {
  readonly name: Environment.ScoredTask
  readonly maze: Maze
  /** The fixed target (x, y) in qpos units: the goal cell, as D4RL's v1 tasks set it (reset_target = False). */
  readonly target: Cell
}

/** Velocity clip applied to qvel before every step (D4RL's `clip_velocity`), in cells/s. */
export const maxVelocity = 5

/**
 * `batch` Maze2D episodes: obs qpos‖qvel (4), action = motor controls (2), one `mj_step` per step, no
 * termination, time limit 300/600/800. Reset: a uniform cell of `resetCells` + U(±0.1)² into qpos,
 * qvel = 0.1·N(0, 1)², from the streams "Maze2d.reset.{cell,qpos,qvel}" at offset = member.
 * Throws `EnvironmentError` on bad options.
 */
export const make = (runtime: Mujoco.Runtime, options: Options): Maze2dEnv => {
  const { batch, maze: mazeName } = options
  const rewardType = options.reward ?? "sparse"
  const name: Environment.ScoredTask = rewardType === "sparse"
    ? `maze2d-${mazeName}-v1`
    : `maze2d-${mazeName}-dense-v1`
  if (!(mazeName in layouts)) throw Environment.invalidOptions(name, `unknown maze ${mazeName}`)
  Environment.checkBatch(name, batch)
  const maze = parse(layouts[mazeName])
  const model = Mujoco.compile(runtime, name, mjcf(maze))
  const sim = Mujoco.makeBatch(runtime, model, batch)
  const { module } = runtime
  const [targetX, targetY] = maze.goal
  const cell = new Float64Array(1)
  const noise = new Float64Array(2)
  const velocity = new Float64Array(2)

  const observe = (i: number, observations: Float64Array, qpos: Float64Array, qvel: Float64Array): void => {
    observations[4 * i] = qpos[0]
    observations[4 * i + 1] = qpos[1]
    observations[4 * i + 2] = qvel[0]
    observations[4 * i + 3] = qvel[1]
  }

  const { env, ensureOpen, observations } = Environment.vectorize({
    name,
    observationDim: 4,
    actionDim: 2,
    batch,
    maxEpisodeSteps: maxEpisodeSteps[mazeName],
    resetMember: (i, seed, obs) => {
      Rng.fillInt(Rng.at(Rng.named(seed, "Maze2d.reset.cell"), i), maze.resetCells.length, cell)
      Rng.fillUniform(Rng.at(Rng.named(seed, "Maze2d.reset.qpos"), i), noise)
      Rng.fillNormal(Rng.at(Rng.named(seed, "Maze2d.reset.qvel"), i), velocity)
      const [x, y] = maze.resetCells[cell[0]]
      const qpos = [x + 0.2 * noise[0] - 0.1, y + 0.2 * noise[1] - 0.1]
      Mujoco.resetMember(runtime, sim, i, qpos, [0.1 * velocity[0], 0.1 * velocity[1]])
      observe(i, obs, sim.data.qpos as Float64Array, sim.data.qvel as Float64Array)
    },
    stepMember: (i, actions, obs, outcome) => {
      sim.activate(i)
      const { data } = sim
      const qvel = data.qvel as Float64Array
      qvel[0] = clip(qvel[0], maxVelocity)
      qvel[1] = clip(qvel[1], maxVelocity)
      const ctrl = data.ctrl as Float64Array
      ctrl[0] = actions[2 * i]
      ctrl[1] = actions[2 * i + 1]
      module.mj_step(model, data)
      observe(i, obs, data.qpos as Float64Array, data.qvel as Float64Array)
      const dx = obs[4 * i] - targetX
      const dy = obs[4 * i + 1] - targetY
      const distance = Math.sqrt(dx * dx + dy * dy)
      outcome.reward = rewardType === "sparse" ? (distance <= 0.5 ? 1 : 0) : Math.exp(-distance)
    },
    free: () => {
      sim.free()
      model.delete()
    }
  })

  return {
    ...env,
    name,
    maze,
    target: maze.goal,
    ...Mujoco.stateAccess(runtime, sim, { ensureOpen, observations, observationDim: 4, observe })
  }
}

// internal

const clip = (v: number, bound: number): number => (v < -bound ? -bound : v > bound ? bound : v)
