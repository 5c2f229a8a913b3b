/**
 * The checkpoints a stage was trained from: the critic whose advantages weighted the SWG model's data, the SWG
 * model QGPO drew its support actions from, the trajectory model that made PGD's synthetic experience, and so on.
 * A stage's checkpoint header records each one by name and content digest (SHA-256 of the file), and a stage is
 * skipped (Offline.finished) or resumed (ResumableLoop.run) only while those files are unchanged: when an earlier
 * stage has been retrained since, `InputChanged` names both checkpoints instead of letting a model built on the old
 * one pass for a model built on the new. Checkpoints written before inputs were recorded carry none and are not
 * checked; an input that is gone is not checked either (whatever loads it next reports it missing). Result files
 * record the checkpoints they were evaluated from the same way (Offline.evaluate), and one whose model has been
 * retrained since is evaluated again rather than kept.
 */
import { createHash } from "node:crypto"
import { readFile } from "node:fs/promises"
import { basename } from "node:path"
import { Effect, Schema } from "effect"
import type { StageInput } from "../services/Checkpoints.ts"
import { attempt, type Io } from "../services/Files.ts"

/** The checkpoint at `path` was trained from `input` as it was then; `input` has been rewritten since. */
export class InputChanged extends Schema.TaggedError<InputChanged>()("InputChanged", {
  path: Schema.String,
  input: Schema.String,
  /** SHA-256 (hex) of the input when the checkpoint was trained from it, and of the file now. */
  recorded: Schema.String,
  current: Schema.String
}) {
  override get message(): string {
    return `checkpoint ${this.path} was trained from ${this.input} as it was then (sha256 ${this.recorded.slice(0, 12)}…), ` +
      `and ${this.input} has changed since (sha256 ${this.current.slice(0, 12)}…): it was retrained; --fresh retrains this stage on it`
  }
}

/** SHA-256 (hex) of the file at `path`; undefined when there is none. */
const digest = (path: string): Effect.Effect<string | undefined, Io> =>
  attempt(`cannot read ${path}`, () => readFile(path)).pipe(
    Effect.map((bytes) => createHash("sha256").update(bytes).digest("hex") as string | undefined),
    Effect.catchTag("NotFound", () => Effect.succeed(undefined))
  )

/** What a checkpoint header records of the stage's input checkpoints at `paths` (those that exist). */
export const record = (paths: ReadonlyArray<string>): Effect.Effect<Array<StageInput>, Io> =>
  Effect.gen(function*() {
    const inputs: Array<StageInput> = []
    for (const path of paths) {
      const sha256 = yield* digest(path)
      if (sha256 !== undefined) inputs.push({ name: basename(path), sha256 })
    }
    return inputs
  })

/**
 * The first of `paths` that `recorded` (matched by file name) holds with other contents than the file has now, with
 * both digests; undefined when none changed, when nothing was recorded, or for a file that is gone.
 */
export const firstChanged = (
  paths: ReadonlyArray<string>,
  recorded: ReadonlyArray<StageInput> | undefined
): Effect.Effect<{ readonly input: string; readonly recorded: string; readonly current: string } | undefined, Io> =>
  Effect.gen(function*() {
    if (recorded === undefined) return undefined
    for (const input of paths) {
      const then = recorded.find((r) => r.name === basename(input))
      if (then === undefined) continue
      const now = yield* digest(input)
      if (now !== undefined && now !== then.sha256) return { input, recorded: then.sha256, current: now }
    }
    return undefined
  })

/**
 * Fails with `InputChanged` when one of `paths`, recorded in the header of the checkpoint at `path` (matched by file
 * name), now has other contents.
 */
export const check = (
  path: string,
  paths: ReadonlyArray<string>,
  recorded: ReadonlyArray<StageInput> | undefined
): Effect.Effect<void, InputChanged | Io> =>
  Effect.flatMap(firstChanged(paths, recorded), (changed) =>
    changed === undefined ? Effect.void : Effect.fail(new InputChanged({ path, ...changed })))
