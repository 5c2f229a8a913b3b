/**
 * A training loop that checkpoints every N steps and resumes exactly where it stopped: the
 * checkpoint holds every model's parameters, AdamW moments, step count and EMA copy, and all
 * randomness is counter-based (keyed by the step), so a resumed run replays the same stream.
 */
import { Console, Effect, Schema } from "effect"
import type { Tensor } from "../domain/TensorBackend.ts"
import type * as Model from "../nn/Model.ts"
import { Backend } from "../services/Backend.ts"
import { type CheckpointHeader, Checkpoints, decodeHeaderField, type LossRecord, type StageInput } from "../services/Checkpoints.ts"
import { Progress } from "../services/Progress.ts"
import type * as Safetensors from "../domain/Safetensors.ts"
import * as StageConfig from "./StageConfig.ts"
import * as StageInputs from "./StageInputs.ts"

/** The checkpoint at `path` does not fit the models it is restored into: `tensor` is missing or has another layout. */
export class CheckpointMismatch extends Schema.TaggedError<CheckpointMismatch>()("CheckpointMismatch", {
  path: Schema.String,
  tensor: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `checkpoint ${this.path} does not fit the model: tensor ${this.tensor} ${this.detail}`
  }
}

/** What the loop stores beside the models' own architecture: each model's AdamW step count. */
const LoopArchitecture = Schema.Struct({ adamSteps: Schema.Record(Schema.String, Schema.Int) })

export interface LoopOptions {
  /** Shown in progress lines. */
  readonly label: string
  readonly totalSteps: number
  /** Checkpoint file (written atomically every `checkpointEvery` steps and at the end). */
  readonly checkpointPath: string
  readonly checkpointEvery: number
  /** Continue from `checkpointPath` if it exists. */
  readonly resume: boolean
  readonly logEvery: number
  /** The trained models, by name (their names key the checkpoint's tensors). */
  readonly models: Readonly<Record<string, Model.Model>>
  /** Architecture (JSON), stored in the checkpoint header. */
  readonly architecture: Schema.Json
  /**
   * The stage's config, stored in the header; a checkpoint resumed from must have been trained with it (outside its
   * exempt fields), else the run fails with `ConfigChanged` before anything is restored.
   */
  readonly config: StageConfig.StageConfig
  readonly seed: number
  /** Records one step and returns its losses [1, k] (read only every `logEvery` steps). */
  readonly step: (index: number) => Tensor
  /** Names of the loss columns for progress lines. */
  readonly lossNames: ReadonlyArray<string>
  /**
   * The checkpoints this stage's data or models came from (StageInputs.ts): recorded in the header by digest, and a
   * resume fails with `InputChanged` when one has been rewritten since.
   */
  readonly inputs?: ReadonlyArray<string>
}

const parts = (m: Model.Model) => ({ params: m.params, m: m.adam.m, v: m.adam.v, ...(m.ema ? { ema: m.ema } : {}) })

/** Reads every model's state into checkpoint tensors. */
export const snapshot = Effect.fn("ResumableLoop.snapshot")(function*(models: Readonly<Record<string, Model.Model>>) {
  const backend = yield* Backend
  const tensors: Array<Safetensors.Tensor> = []
  const adamSteps: Record<string, number> = {}
  for (const [name, model] of Object.entries(models)) {
    adamSteps[name] = model.adam.step
    for (const [part, t] of Object.entries(parts(model))) {
      const data = yield* backend.read(t)
      tensors.push({ name: `${name}/${part}`, shape: [data.length], data })
    }
  }
  return { tensors, adamSteps }
})

/**
 * Writes the tensors of the checkpoint at `path` back into the models; every model part must be there as float32
 * with the model's size, else `CheckpointMismatch` names the tensor.
 */
export const restore = Effect.fn("ResumableLoop.restore")(function*(
  path: string,
  models: Readonly<Record<string, Model.Model>>,
  tensors: ReadonlyArray<Safetensors.Tensor>,
  adamSteps: Readonly<Record<string, number>>
) {
  const backend = yield* Backend
  const byName = new Map(tensors.map((t) => [t.name, t]))
  for (const [name, model] of Object.entries(models)) {
    for (const [part, t] of Object.entries(parts(model))) {
      const tensor = `${name}/${part}`
      const data = byName.get(tensor)?.data
      if (!(data instanceof Float32Array) || data.length !== t.size) {
        const detail = data === undefined
          ? `is missing (the file holds ${[...byName.keys()].join(", ") || "no tensors"})`
          : data instanceof Float32Array
          ? `has ${data.length} values where the model has ${t.size}`
          : `is ${data.constructor.name}, not Float32Array`
        return yield* new CheckpointMismatch({ path, tensor, detail })
      }
      yield* backend.run((ops) => ops.write(t, data))
    }
    model.adam.step = adamSteps[name] ?? 0
  }
})

const header = (
  o: LoopOptions,
  step: number,
  adamSteps: Record<string, number>,
  losses: ReadonlyArray<LossRecord>,
  window: { readonly count: number; readonly sums: ArrayLike<number> },
  inputs: ReadonlyArray<StageInput>
): CheckpointHeader => ({
  format: "dgrl-checkpoint/1",
  architecture: { models: o.architecture, adamSteps },
  config: o.config.encoded,
  step,
  rng: { seed: o.seed, counter: step },
  createdBy: `dgrl ${o.label}`,
  losses,
  lossWindow: { count: window.count, sums: Array.from(window.sums, (v) => (Number.isFinite(v) ? v : null)) },
  inputs
})

/** Runs (or resumes) the loop; returns the last logged losses (means over their window). */
export const run = Effect.fn("ResumableLoop.run")(function*(o: LoopOptions) {
  const backend = yield* Backend
  const checkpoints = yield* Checkpoints
  const progress = yield* Progress
  const B = backend.ops
  let start = 0
  // The learning curve travels in the checkpoint, so a resumed run keeps the curve up to its step.
  // Each record is the mean loss over its logging window, summed on the device (no readback per
  // step); the open window is saved too, so a resumed run logs the same means.
  const losses: Array<LossRecord> = []
  let windowCount = 0
  let windowSum = B.zeros(1, o.lossNames.length)
  if (o.resume) {
    const existing = yield* checkpoints.load(o.checkpointPath).pipe(
      Effect.map((c) => c as typeof c | undefined),
      Effect.catchTag("CheckpointError", (e) => (e.reason._tag === "NotFound" ? Effect.succeed(undefined) : Effect.fail(e)))
    )
    if (existing !== undefined) {
      yield* StageConfig.check(o.checkpointPath, o.config, existing.header.config)
      yield* StageInputs.check(o.checkpointPath, o.inputs ?? [], existing.header.inputs)
      const { adamSteps } = yield* decodeHeaderField(o.checkpointPath, "architecture", LoopArchitecture, existing.header.architecture)
      yield* restore(o.checkpointPath, o.models, existing.tensors, adamSteps)
      start = existing.header.step
      losses.push(...(existing.header.losses ?? []).filter((r) => r.step <= start))
      const window = existing.header.lossWindow
      if (window !== undefined && window.sums.length === o.lossNames.length) {
        windowCount = window.count
        yield* backend.run((ops) => ops.write(windowSum, Float32Array.from(window.sums, (v) => v ?? Number.NaN)))
      }
    }
  }
  const inputs = yield* StageInputs.record(o.inputs ?? [])
  // The step of the checkpoint on disk; a save runs to its end even when the run is interrupted meanwhile.
  let saved = start
  const save = (step: number) =>
    Effect.uninterruptible(Effect.gen(function*() {
      const { tensors, adamSteps } = yield* snapshot(o.models)
      const sums = yield* backend.read(windowSum)
      yield* checkpoints.save(o.checkpointPath, { header: header(o, step, adamSteps, losses, { count: windowCount, sums }, inputs), tensors })
      saved = step
    }))
  const tracker = yield* progress.start(o.label, o.totalSteps, start)
  let last: Array<number> = []
  // Steps whose updates are in the models (and in the loss window): a step and its bookkeeping run in one
  // synchronous block, so an interruption falls between two steps, never inside one.
  let completed = start
  const train = Effect.gen(function*() {
    for (let i = start; i < o.totalSteps; i++) {
      // Lets an interruption (Ctrl-C) in before every step rather than at the next read or save.
      yield* Effect.yieldNow
      yield* backend.run(() => {
        const stepLosses = o.step(i)
        const sum = B.binary("add", windowSum, stepLosses)
        B.dispose(windowSum)
        B.dispose(stepLosses)
        windowSum = sum
        windowCount += 1
        completed = i + 1
      })
      if ((i + 1) % o.logEvery === 0 || i === o.totalSteps - 1) {
        const sums = yield* backend.read(windowSum)
        // Closing the window is one block too: a record in `losses` and a still-open window never coexist.
        yield* backend.run((ops) => {
          last = Array.from(sums, (v) => v / windowCount)
          losses.push({ step: i + 1, values: Object.fromEntries(o.lossNames.map((n, k) => [n, Number.isFinite(last[k]) ? last[k] : null])) })
          ops.write(windowSum, new Float32Array(o.lossNames.length))
          windowCount = 0
        })
        yield* tracker.update(i + 1, Object.fromEntries(o.lossNames.map((n, k) => [n, last[k]])))
      }
      if ((i + 1) % o.checkpointEvery === 0 && i + 1 < o.totalSteps) yield* save(i + 1)
    }
  })
  // An interrupted run (Ctrl-C, SIGTERM) keeps every completed step: it checkpoints where it stopped, and the same
  // command with resume on continues from there exactly (the window's sums travel too).
  yield* train.pipe(Effect.onInterrupt(() =>
    completed > saved
      ? save(completed).pipe(
        Effect.andThen(Console.error(`${o.label}: interrupted after step ${completed}; checkpoint ${o.checkpointPath} saved`)),
        Effect.catch((e) => Console.error(`${o.label}: interrupted after step ${completed}; the checkpoint could not be saved: ${e.message}`))
      )
      : Effect.void
  ))
  if (start < o.totalSteps || !o.resume) yield* save(o.totalSteps)
  B.dispose(windowSum)
  return last
})
