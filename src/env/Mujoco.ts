/**
 * The MuJoCo WebAssembly runtime (npm `mujoco-js`, MuJoCo 3.3.8) and what every MuJoCo environment
 * shares: compiling MJCF with MuJoCo's error text, and one `MjData` time-shared by a batch of episodes.
 * Typed-array views into wasm memory are re-created on each access and detach when memory grows: never keep one.
 */
import loadMujoco, { type MainModule, type MjData, type MjModel } from "mujoco-js"
import * as Environment from "./Environment.ts"

/** A loaded MuJoCo module with its captured console output. */
export interface Runtime {
  readonly module: MainModule
  /** Lines MuJoCo printed since the last `compile` began (it reports file and parse errors there). */
  readonly messages: Array<string>
  /** A tiny model kept alive so wasm memory can be read while no other object exists. */
  readonly probe: MjModel
}

/** Instantiates the wasm module (about 170 ms) with its output captured instead of printed. */
export const load = async (): Promise<Runtime> => {
  const messages: Array<string> = []
  const capture = (line: string): void => {
    messages.push(line)
    if (messages.length > maxMessages) messages.shift()
  }
  const module = await loadMujoco({ print: capture, printErr: capture })
  module.FS.mkdir(modelDirectory)
  const probePath = `${modelDirectory}/probe.xml`
  module.FS.writeFile(probePath, probeXml)
  const probe = module.MjModel.loadFromXML(probePath)
  module.FS.unlink(probePath)
  return { module, messages, probe }
}

/** Current size of the wasm heap in bytes (it grows, never shrinks; freed blocks are reused). */
export const heapBytes = (runtime: Runtime): number => (runtime.probe.qpos0 as Float64Array).buffer.byteLength

/** Compiles MJCF text; throws `EnvironmentError(InvalidModel)` carrying MuJoCo's message. */
export const compile = (runtime: Runtime, environment: string, xml: string): MjModel => {
  const { messages, module } = runtime
  const path = `${modelDirectory}/${environment}-${fileCounter++}.xml`
  module.FS.writeFile(path, xml)
  messages.length = 0
  let model: MjModel | null
  try {
    model = module.MjModel.loadFromXML(path)
  } catch (cause) {
    throw invalidModel(environment, cppMessage(runtime, cause))
  } finally {
    module.FS.unlink(path)
  }
  if (model === null) {
    const text = messages.join("\n").trim()
    throw invalidModel(environment, text === "" ? "MuJoCo could not load the model" : text)
  }
  return model
}

/**
 * Per-member integration state (time, qpos, qvel, act, qacc_warmstart: everything `mj_step` reads
 * besides ctrl in these models) for a batch sharing one `MjData`, so memory does not grow with the
 * batch (an `MjData` is ~7–14 MB) and a member's trajectory is bit-identical to a lone episode's.
 */
export interface Batch {
  readonly model: MjModel
  readonly data: MjData
  /** Makes member `index` the one held by `data`, parking the previous one. */
  readonly activate: (index: number) => void
  /** Frees `data` (not `model`). */
  readonly free: () => void
}

/** A time-shared `MjData` for `batch` members of `model`. */
export const makeBatch = (runtime: Runtime, model: MjModel, batch: number): Batch => {
  const data = new runtime.module.MjData(model)
  const { na, nq, nv } = model
  const width = 1 + nq + 2 * nv + na
  const states = new Float64Array(batch * width)
  let resident = -1
  const park = (): void => {
    if (resident < 0) return
    const o = resident * width
    states[o] = data.time
    states.set(data.qpos as Float64Array, o + 1)
    states.set(data.qvel as Float64Array, o + 1 + nq)
    states.set(data.qacc_warmstart as Float64Array, o + 1 + nq + nv)
    if (na > 0) states.set(data.act as Float64Array, o + 1 + nq + 2 * nv)
  }
  const restore = (index: number): void => {
    const o = index * width
    data.time = states[o]
    ;(data.qpos as Float64Array).set(states.subarray(o + 1, o + 1 + nq))
    ;(data.qvel as Float64Array).set(states.subarray(o + 1 + nq, o + 1 + nq + nv))
    ;(data.qacc_warmstart as Float64Array).set(states.subarray(o + 1 + nq + nv, o + 1 + nq + 2 * nv))
    if (na > 0) (data.act as Float64Array).set(states.subarray(o + 1 + nq + 2 * nv, o + width))
  }
  return {
    model,
    data,
    activate: (index) => {
      if (index === resident) return
      park()
      restore(index)
      resident = index
    },
    free: () => data.delete()
  }
}

/**
 * Gym's `reset` for member `index` (mujoco_env.py): `mj_resetData`, then qpos, qvel := the given
 * values, then `mj_forward`. The member becomes resident.
 */
export const resetMember = (
  runtime: Runtime,
  batch: Batch,
  index: number,
  qpos: ArrayLike<number>,
  qvel: ArrayLike<number>
): void => {
  batch.activate(index)
  const { data, model } = batch
  runtime.module.mj_resetData(model, data)
  ;(data.qpos as Float64Array).set(qpos)
  ;(data.qvel as Float64Array).set(qvel)
  runtime.module.mj_forward(model, data)
}

/** Per-member state access (gym's `sim.get_state` / `set_state`) shared by the MuJoCo environments. */
export interface StateAccess {
  /** Member `index`'s qpos and qvel (copies). */
  state(index: number): { readonly qpos: Float64Array; readonly qvel: Float64Array }
  /** Sets member `index`'s qpos and qvel, then `mj_forward`; returns its observation. */
  setState(index: number, qpos: ArrayLike<number>, qvel: ArrayLike<number>): Float64Array
}

/**
 * `StateAccess` over a batch: `ensureOpen` guards a closed environment, `observe` writes member i's
 * observation into `observations` [batch, observationDim] from qpos and qvel.
 */
export const stateAccess = (
  runtime: Runtime,
  batch: Batch,
  o: {
    readonly ensureOpen: () => void
    readonly observations: Float64Array
    readonly observationDim: number
    readonly observe: (i: number, observations: Float64Array, qpos: Float64Array, qvel: Float64Array) => void
  }
): StateAccess => ({
  state: (i) => {
    o.ensureOpen()
    batch.activate(i)
    return { qpos: (batch.data.qpos as Float64Array).slice(), qvel: (batch.data.qvel as Float64Array).slice() }
  },
  setState: (i, qpos, qvel) => {
    o.ensureOpen()
    batch.activate(i)
    ;(batch.data.qpos as Float64Array).set(qpos)
    ;(batch.data.qvel as Float64Array).set(qvel)
    runtime.module.mj_forward(batch.model, batch.data)
    o.observe(i, o.observations, batch.data.qpos as Float64Array, batch.data.qvel as Float64Array)
    return o.observations.slice(i * o.observationDim, (i + 1) * o.observationDim)
  }
})

// internal

const maxMessages = 64
const probeXml = `<mujoco><worldbody><body><joint type="slide"/><geom size="0.1"/></body></worldbody></mujoco>`
const modelDirectory = "/dgrl-models"
let fileCounter = 0

const invalidModel = (environment: string, message: string): Environment.EnvironmentError =>
  new Environment.EnvironmentError({ environment, reason: new Environment.InvalidModel({ message }) })

/** The C string MuJoCo's exception points at (`getExceptionMessage` returns only the type name). */
const cppMessage = (runtime: Runtime, cause: unknown): string => {
  if (typeof cause !== "object" || cause === null || !("excPtr" in cause) || typeof cause.excPtr !== "number") {
    return String(cause)
  }
  const heap = new Uint8Array((runtime.probe.qpos0 as Float64Array).buffer)
  const start = cause.excPtr
  let end = start
  while (end < heap.length && end < start + 4096 && heap[end] !== 0) end++
  return new TextDecoder().decode(heap.subarray(start, end)).trim()
}
