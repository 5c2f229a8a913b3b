/**
 * The policy server: one trained agent (the Agent service) behind Effect's HTTP server.
 *   POST /v1/act     {"observations": [[...], ...], "guidanceScale"?, "temperature"?, "candidates"?, "seed"?}
 *                    → {"actions": [[...], ...], "weights"?: [...]} (weights: the generated w of each
 *                    action, for the diffusion methods)
 *   GET  /v1/info    task, method, dimensions, backend, checkpoint step, option defaults, limits
 *   GET  /v1/health  {"status": "ok"}
 * Requests are decoded with Schema; a body that is not JSON, a wrong shape, a non-finite number or an
 * option the method does not take is a 400, more rows than `maxBatch` a 413, each with
 * {"error": {"tag", "message"}}; a device failure is a 500. None of them stops the server. Concurrent
 * requests are computed together (ActBatching.ts).
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Console, Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Config from "../domain/Config.ts"
import * as Rng from "../domain/Rng.ts"
import { type Acted, type ActOptions, Agent, type AgentError, type AgentShape } from "../services/Agent.ts"
import * as ActBatching from "./ActBatching.ts"

export class ServeConfig extends Schema.Class<ServeConfig>("ServeConfig")({
  /** TCP port (0: any free port, printed at start). */
  port: Config.NonNegativeInt.pipe(Config.withDefault(8080)),
  /** Interface to listen on. */
  host: Schema.String.pipe(Config.withDefault("127.0.0.1")),
  /** The most observations in one request, and in one device call. */
  maxBatch: Config.PositiveInt.pipe(Config.withDefault(1024)),
  /** How long the batcher waits for more requests after the first, in milliseconds. */
  batchWindowMs: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1000 })).pipe(Config.withDefault(1))
}) {}

/** The most candidates per observation a request may ask for (SWG-R, IDQL). */
export const MAX_CANDIDATES = 256

/** The body of POST /v1/act. */
export const ActRequest = Schema.Struct({
  /** One row per observation, each of the agent's observation width. */
  observations: Schema.Array(Schema.Array(Schema.Finite)),
  /** Guidance scale ρ (SWG, SWG-R). */
  guidanceScale: Schema.optionalKey(Schema.Finite),
  /** Sampling temperature ≥ 0 (diffusion methods). */
  temperature: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))),
  /** Candidates per observation (SWG-R, IDQL). */
  candidates: Schema.optionalKey(Config.PositiveInt.check(Schema.isLessThanOrEqualTo(MAX_CANDIDATES))),
  /** A seed makes the request repeatable; such a request is computed alone, not batched. */
  seed: Schema.optionalKey(Config.NonNegativeInt)
})
export type ActRequest = typeof ActRequest.Type

/** A response with `status` and {"error": {"tag", "message"}}. */
const problem = (status: number, tag: string, message: string) =>
  HttpServerResponse.jsonUnsafe({ error: { tag, message } }, { status })

/** A Schema or JSON failure as one line naming the field. */
const oneLine = (text: string) => text.split(/\s*\n\s*/).filter((s) => s !== "").join("; ")

/** The routes over an agent and its batcher. */
const routes = (agent: AgentShape, config: ServeConfig, act: (obs: Float64Array, o: ActOptions) => Effect.Effect<Acted, AgentError>) => {
  const S = agent.info.observationDim
  const A = agent.info.actionDim
  const info = { ...agent.info, maxBatch: config.maxBatch, batchWindowMs: config.batchWindowMs, maxCandidates: MAX_CANDIDATES }

  const postAct = Effect.gen(function*() {
    const body = yield* HttpServerRequest.schemaBodyJson(ActRequest).pipe(Effect.result)
    if (body._tag === "Failure") {
      const e = body.failure
      return e._tag === "SchemaError"
        ? problem(400, "InvalidRequest", oneLine(e.message))
        : problem(400, "InvalidJson", `the body is not JSON: ${oneLine(e.message)}`)
    }
    const request = body.success
    const rows = request.observations.length
    if (rows === 0) return problem(400, "InvalidRequest", "observations is empty: send at least one row")
    if (rows > config.maxBatch) {
      return problem(413, "BatchTooLarge", `${rows} observations in one request; at most ${config.maxBatch} (GET /v1/info: maxBatch)`)
    }
    const bad = request.observations.findIndex((row) => row.length !== S)
    if (bad >= 0) {
      return problem(400, "ObservationWidth", `observation ${bad} has ${request.observations[bad].length} values; the agent takes ${S}`)
    }
    const options: ActOptions = {
      ...(request.guidanceScale === undefined ? {} : { guidanceScale: request.guidanceScale }),
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
      ...(request.candidates === undefined ? {} : { candidates: request.candidates }),
      ...(request.seed === undefined ? {} : { key: Rng.named(request.seed, "serve") })
    }
    const observations = Float64Array.from(request.observations.flat())
    const acted = yield* act(observations, options).pipe(Effect.result)
    if (acted._tag === "Failure") {
      const { reason } = acted.failure
      return problem(reason._tag === "DeviceFailure" ? 500 : 400, reason._tag, reason.message)
    }
    const { actions, weights } = acted.success
    return HttpServerResponse.jsonUnsafe({
      actions: Array.from({ length: rows }, (_, r) => Array.from(actions.subarray(r * A, (r + 1) * A))),
      ...(weights === undefined ? {} : { weights: Array.from(weights) })
    })
  })

  return Layer.mergeAll(
    HttpRouter.add("GET", "/v1/health", HttpServerResponse.jsonUnsafe({ status: "ok" })),
    HttpRouter.add("GET", "/v1/info", HttpServerResponse.jsonUnsafe(info)),
    HttpRouter.add("POST", "/v1/act", postAct)
  )
}

/** The routes of the Agent in context, with a batcher that lives as long as the layer. */
export const app = (config: ServeConfig) =>
  Layer.unwrap(Effect.gen(function*() {
    const agent = yield* Agent
    const act = yield* ActBatching.make(agent, { windowMs: config.batchWindowMs, maxRows: config.maxBatch })
    return routes(agent, config, act)
  }))

/**
 * The server on `config.host:config.port` over the Agent in context; prints the address it listens on
 * (`serving <method> of <run dir> on http://HOST:PORT`) once it does.
 */
export const layer = (config: ServeConfig) =>
  HttpRouter.serve(app(config), { disableListenLog: true, disableLogger: true }).pipe(
    Layer.merge(Layer.effectDiscard(Effect.gen(function*() {
      const agent = yield* Agent
      yield* HttpServer.addressFormattedWith((address) =>
        Console.log(`serving ${agent.info.method} of ${agent.info.runDir} on ${address} (backend ${agent.info.backend})`))
    }))),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: config.port, host: config.host }))
  )
