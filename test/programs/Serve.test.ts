/**
 * The policy server, over a tiny trained run, tested with a real HTTP client (fetch over TCP) against a
 * running server: the routes answer; a seeded request gives exactly what the agent gives for the same
 * key; concurrent requests are computed in fewer device calls and each gets its own rows back; bad
 * requests get a 4xx with a message and leave the server serving; a device failure is a 500. Last, the
 * CLI's `serve` command starts, prints its address and answers.
 */
import { spawn } from "node:child_process"
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { HttpServer } from "effect/http"
import * as Rng from "../../src/domain/Rng.ts"
import * as Serve from "../../src/programs/Serve.ts"
import { Agent, type AgentError, type AgentMethod } from "../../src/services/Agent.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { GpuError, ReadbackFailed } from "../../src/services/Gpu.ts"
import { trainTinyRun } from "../fixtures/TinyRun.ts"

const root = await mkdtemp(join(tmpdir(), "serve-"))
const runDir = await Effect.runPromise(trainTinyRun(root))

/** Every batch the agent computed: its row count. */
const batches: Array<number> = []

/** The Agent of `method`, counting its device calls, over the CPU backend (or one whose reads fail). */
const countedAgent = (method: AgentMethod, backend: Layer.Layer<Backend> = Backend.layerCpu) =>
  Layer.effect(Agent, Effect.gen(function*() {
    const agent = yield* Agent
    return Agent.of({
      ...agent,
      actWithWeights: (observations, options) => {
        batches.push(observations.length / agent.info.observationDim)
        return agent.actWithWeights(observations, options)
      }
    })
  })).pipe(Layer.provide(Agent.layer({ runDir, method })), Layer.provide(Layer.merge(backend, Checkpoints.layer)))

/** Starts the server on a free port; returns its base URL (the server stops with the test's scope). */
const start = (config: Partial<typeof Serve.ServeConfig.Encoded>, agent: Layer.Layer<Agent, AgentError> = countedAgent("swg")) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Serve.layer(Schema.decodeSync(Serve.ServeConfig)({ port: 0, ...config })).pipe(Layer.provide(agent)))
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "InetAddressV4") throw new Error(`expected an IPv4 address, got ${address._tag}`)
    return `http://127.0.0.1:${address.port}`
  })

const get = (url: string) => Effect.promise(async () => {
  const r = await fetch(url)
  return { status: r.status, body: await r.json() as Record<string, unknown> }
})

const post = (url: string, body: unknown) => Effect.promise(async () => {
  const r = await fetch(url, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json" } })
  return { status: r.status, body: await r.json() as { actions?: Array<Array<number>>; weights?: Array<number>; error?: { tag: string; message: string } } }
})

describe("policy server", () => {
  it.live("health and info", () =>
    Effect.gen(function*() {
      const base = yield* start({ maxBatch: 64 })
      expect(yield* get(`${base}/v1/health`)).toEqual({ status: 200, body: { status: "ok" } })
      const info = yield* get(`${base}/v1/info`)
      expect(info.status).toBe(200)
      expect(info.body).toMatchObject({
        method: "swg", task: "pendulum-noisy", observationDim: 3, actionDim: 1, checkpointStep: 200, maxBatch: 64,
        defaults: { guidanceScale: 10, temperature: 0 }
      })
      expect(info.body.backend).toMatch(/^cpu: /)
    }).pipe(Effect.scoped), 60_000)

  it.live("a seeded request gives what the agent gives for the same key", () =>
    Effect.gen(function*() {
      const base = yield* start({})
      const observations = [[1, 0, 0], [0, 1, 2], [-1, 0, -3]]
      const served = yield* post(`${base}/v1/act`, { observations, guidanceScale: 2, temperature: 1, seed: 5 })
      expect(served.status).toBe(200)
      const direct = yield* Effect.gen(function*() {
        return yield* (yield* Agent).actWithWeights(observations.flat(), { guidanceScale: 2, temperature: 1, key: Rng.named(5, "serve") })
      }).pipe(Effect.provide(countedAgent("swg")))
      expect(served.body.actions).toEqual(Array.from(direct.actions, (a) => [a]))
      expect(served.body.weights).toEqual(Array.from(direct.weights!))
      // And the same request again gives the same answer.
      expect((yield* post(`${base}/v1/act`, { observations, guidanceScale: 2, temperature: 1, seed: 5 })).body).toEqual(served.body)
    }).pipe(Effect.scoped), 60_000)

  it.live("concurrent requests share device calls, and each gets its own rows back", () =>
    Effect.gen(function*() {
      const base = yield* start({ batchWindowMs: 50 })
      const clients = 16
      const observation = (i: number) => [Math.cos(i), Math.sin(i), i / 4 - 2]
      // At temperature 0 an action depends only on its observation, so batching must not change it.
      batches.length = 0
      const alone = yield* Effect.forEach(Array.from({ length: clients }, (_, i) => i), (i) =>
        post(`${base}/v1/act`, { observations: [observation(i)], temperature: 0 }))
      expect(batches).toEqual(Array(clients).fill(1))
      batches.length = 0
      const together = yield* Effect.forEach(Array.from({ length: clients }, (_, i) => i), (i) =>
        post(`${base}/v1/act`, { observations: [observation(i)], temperature: 0 }), { concurrency: "unbounded" })
      expect(together.map((r) => r.body.actions)).toEqual(alone.map((r) => r.body.actions))
      expect(batches.reduce((a, b) => a + b, 0)).toBe(clients)
      expect(batches.length).toBeLessThan(clients)
      expect(Math.max(...batches)).toBeGreaterThan(1)
    }).pipe(Effect.scoped), 60_000)

  it.live("bad requests get a 4xx with a message, and the server goes on serving", () =>
    Effect.gen(function*() {
      const base = yield* start({ maxBatch: 8 })
      const act = (body: unknown) => post(`${base}/v1/act`, body)
      const cases: ReadonlyArray<readonly [unknown, number, string, string]> = [
        [{ observations: [[1, 0]] }, 400, "ObservationWidth", "observation 0 has 2 values; the agent takes 3"],
        [{ observations: [[1, 0, "NaN"]] }, 400, "InvalidRequest", `["observations"][0][2]`],
        [{ observations: [[1, 0, null]] }, 400, "InvalidRequest", `["observations"][0][2]`],
        ['{"observations": [[1, 0, 1e999]]}', 400, "InvalidRequest", "Expected a finite number"],
        ["{not json", 400, "InvalidJson", "the body is not JSON"],
        [{ observations: [] }, 400, "InvalidRequest", "observations is empty"],
        [{ observations: Array(9).fill([1, 0, 0]) }, 413, "BatchTooLarge", "9 observations in one request; at most 8"],
        [{ observations: [[1, 0, 0]], candidates: 4 }, 400, "InvalidActOptions", "swg takes guidanceScale, temperature, not candidates"],
        [{ observations: [[1, 0, 0]], temperature: -1 }, 400, "InvalidRequest", `["temperature"]`],
        [{ observation: [[1, 0, 0]] }, 400, "InvalidRequest", `["observations"]`]
      ]
      for (const [body, status, tag, message] of cases) {
        const r = yield* act(body)
        assert.strictEqual(r.status, status, JSON.stringify(r.body))
        assert.strictEqual(r.body.error?.tag, tag)
        expect(r.body.error?.message).toContain(message)
      }
      expect((yield* Effect.promise(() => fetch(`${base}/v1/nothing`))).status).toBe(404)
      expect(yield* get(`${base}/v1/health`)).toEqual({ status: 200, body: { status: "ok" } })
      const ok = yield* act({ observations: Array(8).fill([1, 0, 0]) })
      expect(ok.status).toBe(200)
      expect(ok.body.actions).toHaveLength(8)
    }).pipe(Effect.scoped), 60_000)

  it.live("a device failure is a 500 naming it, and the server goes on", () =>
    Effect.gen(function*() {
      const failingRead = Layer.effect(Backend, Effect.gen(function*() {
        const b = yield* Backend
        return Backend.of({ ...b, read: () => Effect.fail(new GpuError({ reason: new ReadbackFailed({ message: "mapAsync rejected" }) })) })
      })).pipe(Layer.provide(Backend.layerCpu))
      const base = yield* start({}, countedAgent("iql", failingRead))
      const r = yield* post(`${base}/v1/act`, { observations: [[1, 0, 0]] })
      expect(r.status).toBe(500)
      expect(r.body.error).toEqual({ tag: "DeviceFailure", message: "reading a tensor back failed: mapAsync rejected" })
      expect((yield* get(`${base}/v1/health`)).status).toBe(200)
    }).pipe(Effect.scoped), 60_000)
})

describe("npm run cli -- serve", () => {
  it("starts, prints its address, answers, and stops on SIGTERM", async () => {
    const child = spawn(process.execPath, ["src/cli.ts", "serve", "--run-dir", runDir, "--port", "0", "--backend", "cpu", "--method", "iql"], {
      cwd: new URL("../..", import.meta.url).pathname, stdio: ["ignore", "pipe", "pipe"]
    })
    try {
      const address = await new Promise<string>((resolve, reject) => {
        let out = ""
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString()
          const m = /on (http:\/\/\S+)/.exec(out)
          if (m) resolve(m[1])
        })
        child.on("exit", (code) => reject(new Error(`serve exited with ${code} before listening: ${out}`)))
      })
      const info = await (await fetch(`${address}/v1/info`)).json() as { method: string; observationDim: number }
      expect(info).toMatchObject({ method: "iql", observationDim: 3 })
      const acted = await (await fetch(`${address}/v1/act`, { method: "POST", body: JSON.stringify({ observations: [[1, 0, 0]] }) })).json()
      expect(acted).toMatchObject({ actions: [[expect.any(Number)]] })
    } finally {
      child.kill("SIGTERM")
    }
    const code = await new Promise<number | null>((resolve) => child.exitCode !== null ? resolve(child.exitCode) : child.on("exit", resolve))
    expect(code === 0 || code === 130 || code === null).toBe(true)
  }, 60_000)
})
