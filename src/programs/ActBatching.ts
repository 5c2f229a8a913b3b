/**
 * Concurrent `act` requests gathered into one device call. Requests wait in a queue; one fiber takes
 * everything queued, waits `windowMs` for more, and runs each group of requests with the same
 * options as one `actWithWeights` call on their stacked observations (up to `maxRows` rows), then
 * hands each request its own rows of the result. Requests that arrive while the device is busy join
 * the next call, so under load the batches grow by themselves. A request with its own random key
 * runs alone (the noise of a row depends on its place in the batch). A failed call fails every
 * request of its group with the same error; the fiber goes on with the next.
 */
import { Deferred, Duration, Effect, Exit, Queue, type Scope } from "effect"
import type { Acted, ActOptions, AgentError, AgentShape } from "../services/Agent.ts"

/** Options of `make`. */
export interface BatchingOptions {
  /** How long to wait for more requests after the first, in milliseconds (0: take only what is queued). */
  readonly windowMs: number
  /** The most observation rows in one device call. */
  readonly maxRows: number
}

interface Pending {
  readonly observations: Float64Array
  readonly rows: number
  readonly options: ActOptions
  readonly done: Deferred.Deferred<Acted, AgentError>
}

/** One device call: requests with the same options, their rows stacked. */
const groups = (pending: ReadonlyArray<Pending>, maxRows: number): Array<Array<Pending>> => {
  const open = new Map<string, Array<Pending>>()
  const out: Array<Array<Pending>> = []
  for (const p of pending) {
    if (p.options.key !== undefined) {
      out.push([p])
      continue
    }
    const name = JSON.stringify([p.options.guidanceScale, p.options.temperature, p.options.candidates])
    const group = open.get(name)
    const rows = group?.reduce((n, q) => n + q.rows, 0) ?? 0
    if (group !== undefined && rows + p.rows <= maxRows) {
      group.push(p)
    } else {
      const fresh = [p]
      open.set(name, fresh)
      out.push(fresh)
    }
  }
  return out
}

/** Runs one group as one call and completes each request with its rows (or the call's failure). */
const run = (agent: AgentShape, group: ReadonlyArray<Pending>) =>
  Effect.gen(function*() {
    const S = agent.info.observationDim
    const A = agent.info.actionDim
    const total = group.reduce((n, p) => n + p.rows, 0)
    const observations = new Float64Array(total * S)
    let at = 0
    for (const p of group) {
      observations.set(p.observations, at * S)
      at += p.rows
    }
    const exit = yield* Effect.exit(agent.actWithWeights(observations, group[0].options))
    if (Exit.isFailure(exit)) {
      for (const p of group) yield* Deferred.failCause(p.done, exit.cause)
      return
    }
    const { actions, weights } = exit.value
    let row = 0
    for (const p of group) {
      yield* Deferred.succeed(p.done, {
        actions: actions.slice(row * A, (row + p.rows) * A),
        weights: weights?.slice(row, row + p.rows)
      })
      row += p.rows
    }
  })

/**
 * A batched `act` over `agent`, served by a fiber that lives in the current scope. Each request must
 * hold at most `maxRows` rows of the agent's observation width (the caller checks).
 */
export const make = (
  agent: AgentShape,
  options: BatchingOptions
): Effect.Effect<(observations: Float64Array, options: ActOptions) => Effect.Effect<Acted, AgentError>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Pending>()
    const window = Duration.millis(options.windowMs)
    yield* Effect.gen(function*() {
      const first = yield* Queue.takeAll(queue)
      if (options.windowMs > 0) yield* Effect.sleep(window)
      const rest = yield* Queue.clear(queue)
      for (const group of groups([...first, ...rest], options.maxRows)) yield* run(agent, group)
    }).pipe(Effect.forever, Effect.forkScoped)
    return (observations, actOptions) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<Acted, AgentError>()
        yield* Queue.offer(queue, { observations, rows: observations.length / agent.info.observationDim, options: actOptions, done })
        return yield* Deferred.await(done)
      })
  })
