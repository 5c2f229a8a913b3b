/**
 * An application embedding the package: it provides the Backend layer (auto: a GPU when there is
 * one, else the WASM backend), loads a trained SWG agent from a run directory through the Agent
 * layer, and asks it for actions. Run as `node main.ts RUN_DIR`; prints one JSON line and exits 0
 * when everything it checks holds, 1 otherwise.
 */
import { Agent, Backend, Checkpoints } from "diffusion-guided-rl"
import { Rng } from "diffusion-guided-rl/tensor"
import { Effect, Layer } from "effect"

// The WebGPU types our declarations use (the Gpu service's device) reach the application through the
// package: this line does not type-check unless the declarations bring @webgpu/types with them.
const noDevice: GPUDevice | undefined = undefined

const runDir = process.argv[2]
if (runDir === undefined) throw new Error("usage: node main.ts RUN_DIR")

const AgentLayer = Agent.layer({ runDir, method: "swg" }).pipe(
  Layer.provide(Layer.mergeAll(Backend.layer("auto"), Checkpoints.layer))
)

const program = Effect.gen(function*() {
  const agent = yield* Agent
  const { observationDim, actionDim } = agent.info
  const rows = 3
  const observations = Array.from({ length: rows * observationDim }, (_, i) => Math.sin(i))
  const { actions, weights } = yield* agent.actWithWeights(observations, { guidanceScale: 1, temperature: 0, key: Rng.named(0, "consumer") })
  const wrongWidth = yield* Effect.flip(agent.act([1, 2, 3, 4].slice(0, observationDim + 1)))
  return { info: agent.info, actions: Array.from(actions), weights: Array.from(weights ?? []), rows, actionDim, wrongWidth: wrongWidth.reason._tag }
})

const result = await Effect.runPromise(program.pipe(Effect.provide(AgentLayer)))

// What the package keeps private: a path inside it that its exports map does not list.
const internal = await import("diffusion-guided-rl/dist/services/Agent.js" as string).then(() => "importable", (e: { code?: string }) => e.code)

const checks = {
  actions: result.actions.length === result.rows * result.actionDim && result.actions.every((a) => Number.isFinite(a) && Math.abs(a) <= 1),
  weights: result.weights.length === result.rows,
  wrongWidth: result.wrongWidth === "ObservationWidth",
  internalHidden: internal === "ERR_PACKAGE_PATH_NOT_EXPORTED",
  gpuTypes: noDevice === undefined
}
console.log(JSON.stringify({ ...result, internal, checks }))
process.exit(Object.values(checks).every(Boolean) ? 0 : 1)
