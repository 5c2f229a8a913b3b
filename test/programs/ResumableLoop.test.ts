/**
 * A run killed at a random step and resumed from its last checkpoint ends with exactly the
 * parameters of an uninterrupted run (counter-based randomness keyed by the step).
 */
import { createHash } from "node:crypto"
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Schema } from "effect"
import fc from "fast-check"
import { expect } from "vitest"
import * as Rng from "../../src/domain/Rng.ts"
import * as ResumableLoop from "../../src/programs/ResumableLoop.ts"
import * as StageConfig from "../../src/programs/StageConfig.ts"
import * as StageInputs from "../../src/programs/StageInputs.ts"
import * as Critic from "../../src/rl/Critic.ts"
import { Backend } from "../../src/services/Backend.ts"
import { Checkpoints } from "../../src/services/Checkpoints.ts"
import { Progress } from "../../src/services/Progress.ts"

const layers = Layer.mergeAll(Backend.layerCpu, Checkpoints.layer, Progress.layerSilent)
const TOTAL = 24
/** A stage without config fields. */
const noConfig = StageConfig.make(Schema.Struct({}), {})

/** A fresh "process": new critic and data, a loop that dies at `killAt` (if given). */
const attempt = (path: string, resume: boolean, killAt: number | undefined, checkpointEvery = 5, onStep: (i: number) => void = () => {}) =>
  Effect.gen(function*() {
    const { ops: B } = yield* Backend
    const config = new Critic.CriticConfig({ hidden: 16, discount: 0.9, valueLoss: "expectile", tau: 0.7, linexBeta: 1, polyak: 0.05, lr: 1e-3, batch: 16 })
    const critic = Critic.create(B, config, 3, 2, Rng.named(1, "critic"))
    const data: Critic.DeviceTransitions = {
      observations: B.normal(64, 3, Rng.named(2, "s")),
      actions: B.uniform(64, 2, Rng.named(3, "a")),
      rewards: B.normal(64, 1, Rng.named(4, "r")),
      masks: B.fill(64, 1, 1),
      nextObservations: B.normal(64, 3, Rng.named(5, "s2"))
    }
    const exit = yield* Effect.exit(ResumableLoop.run({
      label: "critic", totalSteps: TOTAL, checkpointPath: path, checkpointEvery, resume, logEvery: 10,
      models: { q: critic.q, v: critic.v }, architecture: {}, config: StageConfig.make(Critic.CriticConfig, config), seed: 0, lossNames: ["v", "q"],
      step: (i) => {
        if (i === killAt) throw new Error(`killed at step ${i}`)
        onStep(i)
        return Critic.updateStep(B, critic, data, Rng.named(6, "batch"), i)
      }
    }))
    const losses = yield* Checkpoints.use((c) => c.load(path)).pipe(Effect.map((c) => c.header.losses), Effect.orElseSucceed(() => undefined))
    return { exit, losses, q: yield* Backend.use((b) => b.read(critic.q.params)), v: yield* Backend.use((b) => b.read(critic.v.params)) }
  })

it.effect("a run killed at a random step and resumed matches an uninterrupted run", () =>
  Effect.gen(function*() {
    const reference = yield* attempt(join(yield* Effect.promise(() => mkdtemp(join(tmpdir(), "ref-"))), "c.safetensors"), false, undefined)
    expect(Exit.isSuccess(reference.exit)).toBe(true)
    expect(reference.losses?.map((r) => r.step)).toEqual([10, 20, 24])
    yield* Effect.promise(() =>
      fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: TOTAL - 1 }), async (killAt) => {
        const dir = await mkdtemp(join(tmpdir(), "resume-"))
        const path = join(dir, "c.safetensors")
        const killed = await Effect.runPromise(attempt(path, true, killAt).pipe(Effect.provide(layers)))
        expect(Exit.isFailure(killed.exit)).toBe(true)
        const resumed = await Effect.runPromise(attempt(path, true, undefined).pipe(Effect.provide(layers)))
        expect(Exit.isSuccess(resumed.exit)).toBe(true)
        expect(resumed.q).toEqual(reference.q)
        expect(resumed.v).toEqual(reference.v)
        // the learning curve in the checkpoint is the uninterrupted run's
        expect(resumed.losses).toEqual(reference.losses)
        // and the interrupted state really differed (the test can fail)
        expect(killed.q).not.toEqual(reference.q)
      }), { numRuns: 6 })
    )
  }).pipe(Effect.provide(layers)), 120_000)

it.effect("an interrupted run (Ctrl-C) checkpoints every step it completed, and resuming it matches an uninterrupted run", () =>
  Effect.gen(function*() {
    const reference = yield* attempt(join(yield* Effect.promise(() => mkdtemp(join(tmpdir(), "ref-"))), "c.safetensors"), false, undefined)
    for (const interruptAt of [3, 13, 21]) {
      const path = join(yield* Effect.promise(() => mkdtemp(join(tmpdir(), "interrupt-"))), "c.safetensors")
      // no periodic checkpoint before the end: whatever is on disk after the interruption, the interruption wrote
      let executed = 0
      const fiber = yield* Effect.forkChild(attempt(path, true, undefined, 1000, () => executed++))
      while (executed <= interruptAt) yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      expect(executed).toBeLessThan(TOTAL)
      const saved = yield* Checkpoints.use((c) => c.load(path))
      expect(saved.header.step).toBe(executed)
      // the open loss window travelled too: the resumed curve is the uninterrupted one
      const resumed = yield* attempt(path, true, undefined, 1000)
      expect(Exit.isSuccess(resumed.exit)).toBe(true)
      expect(resumed.q).toEqual(reference.q)
      expect(resumed.v).toEqual(reference.v)
      expect(resumed.losses).toEqual(reference.losses)
    }
  }).pipe(Effect.provide(layers)), 60_000)

it.effect("logs each loss as the mean over its window, also across a resume inside a window", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "window-")))
    const path = join(dir, "w.safetensors")
    const loop = (resume: boolean, killAt?: number) =>
      Effect.exit(Effect.gen(function*() {
        const { ops: B } = yield* Backend
        return yield* ResumableLoop.run({
          label: "window", totalSteps: 24, checkpointPath: path, checkpointEvery: 4, resume, logEvery: 10,
          models: {}, architecture: {}, config: noConfig, seed: 0, lossNames: ["a", "b"],
          step: (i) => {
            if (i === killAt) throw new Error(`killed at step ${i}`)
            return B.upload(Float32Array.from([i, 2 * i]), 1, 2)
          }
        })
      }))
    expect(Exit.isFailure(yield* loop(false, 17))).toBe(true) // checkpoint at 16: window 11..16 open
    expect(Exit.isSuccess(yield* loop(true))).toBe(true)
    const saved = yield* Checkpoints.use((c) => c.load(path))
    // steps 0..9, 10..19, 20..23 → means 4.5, 14.5, 21.5 (and twice that)
    expect(saved.header.losses).toEqual([
      { step: 10, values: { a: 4.5, b: 9 } },
      { step: 20, values: { a: 14.5, b: 29 } },
      { step: 24, values: { a: 21.5, b: 43 } }
    ])
  }).pipe(Effect.provide(layers)))

it.effect("records its input checkpoints by digest, and will not resume once one has been rewritten (InputChanged naming both)", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "inputs-")))
    const path = join(dir, "w.safetensors")
    const input = join(dir, "critic.safetensors")
    const before = Buffer.from("the critic as trained first")
    yield* Effect.promise(() => writeFile(input, before))
    const loop = (killAt?: number) =>
      Effect.gen(function*() {
        const { ops: B } = yield* Backend
        return yield* ResumableLoop.run({
          label: "inputs", totalSteps: 24, checkpointPath: path, checkpointEvery: 4, resume: true, logEvery: 10,
          models: {}, architecture: {}, config: noConfig, seed: 0, lossNames: ["a"], inputs: [input],
          step: (i) => {
            if (i === killAt) throw new Error(`killed at step ${i}`)
            return B.upload(Float32Array.from([i]), 1, 1)
          }
        })
      })
    expect(Exit.isFailure(yield* Effect.exit(loop(17)))).toBe(true)
    const saved = yield* Checkpoints.use((c) => c.load(path))
    expect(saved.header.step).toBe(16)
    expect(saved.header.inputs).toEqual([{ name: "critic.safetensors", sha256: createHash("sha256").update(before).digest("hex") }])
    // the critic retrained meanwhile: no resume on top of a model trained from the old one
    yield* Effect.promise(() => writeFile(input, "the critic retrained"))
    const error = yield* Effect.flip(loop())
    expect(error).toBeInstanceOf(StageInputs.InputChanged)
    expect(error).toMatchObject({ path, input })
    expect((yield* Checkpoints.use((c) => c.load(path))).header.step).toBe(16)
    // the same bytes again: it resumes and finishes
    yield* Effect.promise(() => writeFile(input, before))
    expect(Exit.isSuccess(yield* Effect.exit(loop()))).toBe(true)
    expect((yield* Checkpoints.use((c) => c.load(path))).header.step).toBe(24)
  }).pipe(Effect.provide(layers)))

it.effect("resuming from a checkpoint that does not fit the models fails with a typed error naming the tensor or field", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "mismatch-")))
    const path = join(dir, "c.safetensors")
    const { ops: B } = yield* Backend
    const config = new Critic.CriticConfig({ hidden: 8, discount: 0.9, valueLoss: "expectile", tau: 0.7, linexBeta: 1, polyak: 0.05, lr: 1e-3, batch: 4 })
    const critic = Critic.create(B, config, 3, 2, Rng.named(1, "critic"))
    const checkpoints = yield* Checkpoints
    const header = {
      format: "dgrl-checkpoint/1" as const, architecture: { models: {}, adamSteps: { v: 3 } }, config: {}, step: 2,
      rng: { seed: 0, counter: 2 }, createdBy: "test"
    }
    const resume = ResumableLoop.run({
      label: "critic", totalSteps: 4, checkpointPath: path, checkpointEvery: 2, resume: true, logEvery: 2,
      models: { v: critic.v }, architecture: {}, config: noConfig, seed: 0, lossNames: ["v"], step: () => B.zeros(1, 1)
    })
    const { tensors } = yield* ResumableLoop.snapshot({ v: critic.v })

    // the AdamW second moment is missing
    yield* checkpoints.save(path, { header, tensors: tensors.filter((t) => t.name !== "v/v") })
    const missing = yield* Effect.flip(resume)
    expect(missing).toBeInstanceOf(ResumableLoop.CheckpointMismatch)
    expect(missing).toMatchObject({ path, tensor: "v/v" })
    expect(missing.message).toContain("is missing")

    // the parameters have another size
    const params = tensors.find((t) => t.name === "v/params")!
    const shorter = { ...params, shape: [params.data.length - 1], data: params.data.slice(1) }
    yield* checkpoints.save(path, { header, tensors: tensors.map((t) => (t === params ? shorter : t)) })
    expect(yield* Effect.flip(resume)).toMatchObject({ _tag: "CheckpointMismatch", tensor: "v/params" })

    // the header's AdamW step counts are not integers
    yield* checkpoints.save(path, { header: { ...header, architecture: { models: {}, adamSteps: { v: "3" } } }, tensors })
    const invalid = yield* Effect.flip(resume)
    expect(invalid._tag).toBe("CheckpointError")
    expect(invalid.message).toContain(path)
    expect(invalid.message).toContain("architecture.adamSteps.v")
  }).pipe(Effect.provide(layers)))

it.effect("resuming a checkpoint trained with another config fails with ConfigChanged naming the field, before anything is restored", () =>
  Effect.gen(function*() {
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "changed-")))
    const path = join(dir, "c.safetensors")
    const { ops: B } = yield* Backend
    const trained = new Critic.CriticConfig({ hidden: 8, discount: 0.9, valueLoss: "expectile", tau: 0.7, linexBeta: 1, polyak: 0.05, lr: 1e-3, batch: 4 })
    const loop = (config: Critic.CriticConfig, totalSteps: number, critic = Critic.create(B, config, 3, 2, Rng.named(1, "critic"))) =>
      ResumableLoop.run({
        label: "critic", totalSteps, checkpointPath: path, checkpointEvery: 2, resume: true, logEvery: 2,
        models: Critic.models(critic), architecture: {}, config: StageConfig.make(Critic.CriticConfig, config, ["batch"]), seed: 0,
        lossNames: Critic.lossNames(config), step: () => B.zeros(1, Critic.lossNames(config).length)
      }).pipe(Effect.as(critic))
    yield* loop(trained, 2)
    const before = yield* Checkpoints.use((c) => c.load(path))

    // V's LayerNorm placement changed: the typed error names the field and both values; the model keeps its init
    const changed = new Critic.CriticConfig({ ...trained, valueLayerNorm: "hidden" })
    const fresh = Critic.create(B, changed, 3, 2, Rng.named(1, "critic"))
    const init = yield* Backend.use((b) => b.read(fresh.v.params))
    const error = yield* Effect.flip(loop(changed, 4, fresh))
    expect(error).toBeInstanceOf(StageConfig.ConfigChanged)
    expect(error).toMatchObject({ path, field: "valueLayerNorm", checkpoint: "absent", current: `"hidden"` })
    expect(error.message).toContain("--fresh")
    expect(yield* Backend.use((b) => b.read(fresh.v.params))).toEqual(init)
    expect((yield* Checkpoints.use((c) => c.load(path))).header.step).toBe(before.header.step)

    // τ changed
    expect(yield* Effect.flip(loop(new Critic.CriticConfig({ ...trained, tau: 0.9 }), 4))).toMatchObject({ field: "tau", checkpoint: "0.7", current: "0.9" })

    // an exempt field (here the batch) may change, and so may the step count: the stage resumes to 4 steps
    yield* loop(new Critic.CriticConfig({ ...trained, batch: 8 }), 4)
    expect((yield* Checkpoints.use((c) => c.load(path))).header.step).toBe(4)
  }).pipe(Effect.provide(layers)))
