/**
 * D4RL's scripted Maze2D controller (d4rl/pointmaze/waypoint_controller.py), vectorised: a PD law
 * towards jittered waypoints along a shortest grid path. D4RL plans with tabular Q-iteration
 * (50 sweeps, γ = 0.99); BFS gives a shortest path too, and may break ties between equal paths differently.
 */
import * as Rng from "../domain/Rng.ts"
import type * as Maze2d from "./Maze2d.ts"

/** Gains and thresholds; the defaults are D4RL's. */
export interface Gains {
  /** Proportional gain P on (waypoint − position): 10. */
  readonly pGain: number
  /** Derivative gain D on the velocity: −1. */
  readonly dGain: number
  /** Distance (cells) under which a waypoint or the target counts as reached: 0.1. */
  readonly solveThreshold: number
  /** Per-call displacement (cells) under which the point counts as stopped: 0.1. */
  readonly velocityThreshold: number
}

/** D4RL's gains. */
export const defaultGains: Gains = { pGain: 10, dGain: -1, solveThreshold: 0.1, velocityThreshold: 0.1 }

/** Largest waypoint jitter: each coordinate of a waypoint other than the target is lowered by U(0, 0.2). */
export const jitter = 0.2

/** A controller for `batch` point masses in one maze. */
export interface WaypointController {
  readonly batch: number
  /**
   * Actions [batch, 2] in [−1, 1] from observations [batch, 4] (qpos‖qvel) and targets, given as
   * one (x, y) shared by all members or as [batch, 2]. `solved[i]` = 1 when member i is within
   * `solveThreshold` of its target and stopped. A member replans when its gridded target changes.
   */
  act(observations: Float64Array, targets: ArrayLike<number>): { readonly actions: Float64Array; readonly solved: Uint8Array }
  /** Drops member `index`'s plan (all members' without an index), so its next `act` replans. */
  forget(index?: number): void
}

/**
 * Shortest 4-connected path from `start` to `goal` through non-wall cells by BFS (neighbours in the
 * order −y, +y, −x, +x, as gridcraft lists them): the cells after `start`, ending with `goal`.
 * `start` itself may be a wall (positions near a wall round into it). Empty when start = goal or
 * when `goal` cannot be reached.
 */
export const shortestPath = (maze: Maze2d.Maze, start: Maze2d.Cell, goal: Maze2d.Cell): Array<Maze2d.Cell> => {
  const { cols, rows, walls } = maze
  const inside = (x: number, y: number): boolean => x >= 0 && x < rows && y >= 0 && y < cols
  if (!inside(start[0], start[1]) || !inside(goal[0], goal[1])) return []
  const from = new Int32Array(rows * cols).fill(-1)
  const startIndex = start[0] * cols + start[1]
  const goalIndex = goal[0] * cols + goal[1]
  if (startIndex === goalIndex) return []
  from[startIndex] = startIndex
  const queue = [startIndex]
  for (let head = 0; head < queue.length && from[goalIndex] < 0; head++) {
    const x = Math.floor(queue[head] / cols)
    const y = queue[head] % cols
    for (const [dx, dy] of neighbours) {
      const nx = x + dx
      const ny = y + dy
      const next = nx * cols + ny
      if (!inside(nx, ny) || walls[next] === 1 || from[next] >= 0) continue
      from[next] = queue[head]
      queue.push(next)
    }
  }
  if (from[goalIndex] < 0) return []
  const path: Array<Maze2d.Cell> = []
  for (let k = goalIndex; k !== startIndex; k = from[k]) path.push([Math.floor(k / cols), k % cols])
  return path.reverse()
}

/** A controller with D4RL's gains unless overridden; waypoint jitter comes from (seed, member, plan count). */
export const make = (
  maze: Maze2d.Maze,
  options: { readonly batch: number; readonly seed: number; readonly gains?: Partial<Gains> }
): WaypointController => {
  const { batch, seed } = options
  const { dGain, pGain, solveThreshold, velocityThreshold } = { ...defaultGains, ...options.gains }
  const plans: Array<Plan | undefined> = new Array(batch).fill(undefined)
  const planCounts = new Int32Array(batch)

  const plan = (i: number, x: number, y: number, target: Maze2d.Cell): Plan => {
    const start: Maze2d.Cell = [roundHalfEven(x), roundHalfEven(y)]
    const cells = shortestPath(maze, start, target)
    const draws = new Float64Array(2 * cells.length)
    Rng.fillUniform(Rng.at(Rng.named(seed, `WaypointController.member${i}`), planCounts[i]++), draws)
    const waypoints = cells.length === 0 ? [target[0], target[1]] : cells.flatMap(([cx, cy], k) =>
      k === cells.length - 1 ? [cx, cy] : [cx - jitter * draws[2 * k], cy - jitter * draws[2 * k + 1]]
    )
    return { target, waypoints: Float64Array.from(waypoints), index: 0, previousX: start[0], previousY: start[1] }
  }

  return {
    batch,
    forget: (index) => {
      if (index === undefined) plans.fill(undefined)
      else plans[index] = undefined
    },
    act: (observations, targets) => {
      const actions = new Float64Array(2 * batch)
      const solved = new Uint8Array(batch)
      const shared = targets.length === 2
      for (let i = 0; i < batch; i++) {
        const x = observations[4 * i]
        const y = observations[4 * i + 1]
        const target: Maze2d.Cell = [
          roundHalfEven(targets[shared ? 0 : 2 * i]),
          roundHalfEven(targets[shared ? 1 : 2 * i + 1])
        ]
        let p = plans[i]
        if (p === undefined || p.target[0] !== target[0] || p.target[1] !== target[1]) {
          p = plan(i, x, y, target)
          plans[i] = p
        }
        // 1. solved ⇔ ‖pos − target‖ < thresh and the displacement since the last call < velocity thresh
        const distance = norm(x - target[0], y - target[1])
        const moved = norm(p.previousX - x, p.previousY - y)
        const notSolved = distance >= solveThreshold || moved >= velocityThreshold
        // 2. head for the current waypoint, or hold the target once solved
        const wx = notSolved ? p.waypoints[2 * p.index] : target[0]
        const wy = notSolved ? p.waypoints[2 * p.index + 1] : target[1]
        // 3. a = clip(P·(w − pos) + D·vel, ±1)
        actions[2 * i] = clip(pGain * (wx - x) + dGain * observations[4 * i + 2])
        actions[2 * i + 1] = clip(pGain * (wy - y) + dGain * observations[4 * i + 3])
        // 4. advance once the waypoint is reached and the point has stopped
        if (notSolved && norm(x - wx, y - wy) < solveThreshold && moved < velocityThreshold) p.index += 1
        p.previousX = x
        p.previousY = y
        solved[i] = notSolved ? 0 : 1
      }
      return { actions, solved }
    }
  }
}

/** Python's `round`: halves go to the even neighbour. */
export const roundHalfEven = (v: number): number => {
  const r = Math.round(v)
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r
}

// internal

interface Plan {
  readonly target: Maze2d.Cell
  /** [n, 2] waypoints; the last is the target itself. */
  readonly waypoints: Float64Array
  index: number
  previousX: number
  previousY: number
}

const neighbours: ReadonlyArray<readonly [number, number]> = [[0, -1], [0, 1], [-1, 0], [1, 0]]

/** numpy's `linalg.norm` of a 2-vector (Math.hypot rounds differently). */
const norm = (dx: number, dy: number): number => Math.sqrt(dx * dx + dy * dy)

const clip = (v: number): number => (v < -1 ? -1 : v > 1 ? 1 : v)
