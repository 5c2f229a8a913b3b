/**
 * D4RL's Maze2D waypoint controller: BFS shortest paths, Python rounding, and the controller reaching
 * the umaze goal from every start cell within the episode limit.
 */
import fc from "fast-check"
import { beforeAll, describe, expect, it } from "vitest"
import * as Environment from "../../src/env/Environment.ts"
import * as Maze2d from "../../src/env/Maze2d.ts"
import * as Mujoco from "../../src/env/Mujoco.ts"
import * as WaypointController from "../../src/env/WaypointController.ts"

const startCells = Maze2d.parse(Maze2d.layouts.umaze).resetCells.length

let runtime: Mujoco.Runtime
beforeAll(async () => {
  runtime = await Mujoco.load()
})

/** Grid distances from `goal` by a plain flood fill, as an independent check of the path lengths. */
const distancesTo = (maze: Maze2d.Maze, goal: Maze2d.Cell): Array<number> => {
  const distance = new Array<number>(maze.rows * maze.cols).fill(Infinity)
  distance[goal[0] * maze.cols + goal[1]] = 0
  for (let changed = true; changed;) {
    changed = false
    for (let x = 0; x < maze.rows; x++) {
      for (let y = 0; y < maze.cols; y++) {
        if (maze.walls[x * maze.cols + y] === 1) continue
        for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
          const n = (x + dx) * maze.cols + (y + dy)
          if (distance[n] + 1 < distance[x * maze.cols + y]) {
            distance[x * maze.cols + y] = distance[n] + 1
            changed = true
          }
        }
      }
    }
  }
  return distance
}

describe("WaypointController.shortestPath", () => {
  for (const name of ["umaze", "medium", "large"] as const) {
    it(`${name}: paths are shortest, 4-connected, avoid walls and end at the goal`, () => {
      const maze = Maze2d.parse(Maze2d.layouts[name])
      const cell = fc.constantFrom(...maze.resetCells)
      fc.assert(
        fc.property(cell, cell, (start, goal) => {
          const path = WaypointController.shortestPath(maze, start, goal)
          expect(path.length).toBe(distancesTo(maze, goal)[start[0] * maze.cols + start[1]])
          let previous = start
          for (const c of path) {
            expect(maze.walls[c[0] * maze.cols + c[1]]).toBe(0)
            expect(Math.abs(c[0] - previous[0]) + Math.abs(c[1] - previous[1])).toBe(1)
            previous = c
          }
          if (path.length > 0) expect(path[path.length - 1]).toEqual(goal)
        })
      )
    })
  }

  it("starts from a wall cell (positions near a wall round into it)", () => {
    const maze = Maze2d.parse(Maze2d.layouts.umaze)
    expect(WaypointController.shortestPath(maze, [0, 3], [3, 3])).toEqual([[1, 3], [2, 3], [3, 3]])
  })

  it("rounds like Python: halves to even", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001].map(WaypointController.roundHalfEven)).toEqual([
      0, 2, 2, -0, -2, 2, 3
    ])
  })
})

describe("WaypointController on maze2d-umaze-v1", () => {
  it("reaches the goal from every start cell within 300 steps and then stays there", () => {
    const env = Maze2d.make(runtime, { maze: "umaze", batch: startCells })
    const controller = WaypointController.make(env.maze, { batch: env.batch, seed: 3 })
    let obs = env.reset(0)
    env.maze.resetCells.forEach(([x, y], i) => {
      obs.set(env.setState(i, [x + 0.05, y - 0.05], [0, 0]), 4 * i)
    })
    const firstSolved = new Int32Array(env.batch).fill(-1)
    let solvedAtEnd: Uint8Array = new Uint8Array(env.batch)
    for (let t = 0; t < env.maxEpisodeSteps; t++) {
      const { actions, solved } = controller.act(obs, env.target)
      solved.forEach((s, i) => {
        if (s === 1 && firstSolved[i] < 0) firstSolved[i] = t
      })
      solvedAtEnd = solved
      obs = env.step(actions).observations
    }
    env.close()
    for (let i = 0; i < env.batch; i++) {
      expect(firstSolved[i]).toBeGreaterThanOrEqual(0)
      expect(solvedAtEnd[i]).toBe(1)
    }
    // the far corner (3, 1) is 6 cells away: the controller needs well under the 300-step limit
    expect(Math.max(...firstSolved)).toBeLessThan(200)
  })

  it("planning afresh for each episode scores above D4RL's REF_MAX (161.86), which came from stale plans", () => {
    const episodes = 20
    const env = Maze2d.make(runtime, { maze: "umaze", batch: episodes })
    const controller = WaypointController.make(env.maze, { batch: episodes, seed: 0 })
    const { returns } = Environment.rollout(env, (obs) => controller.act(obs, env.target).actions, 7)
    env.close()
    const mean = returns.reduce((a, b) => a + b, 0) / episodes
    expect(Math.min(...returns)).toBeGreaterThan(100)
    expect(Environment.normalizedScore("maze2d-umaze-v1", mean)).toBeGreaterThan(100)
  })
})
