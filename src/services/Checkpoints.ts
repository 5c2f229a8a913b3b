/**
 * Checkpoints as safetensors files: a Schema-validated JSON header in `__metadata__.header` plus named
 * tensors. Saving replaces the file atomically (`Files.writeAtomically`: temp file, fsync, rename).
 */
import { readFile } from "node:fs/promises"
import { Context, Effect, Layer, Schema } from "effect"
import * as Safetensors from "../domain/Safetensors.ts"
import { attempt, decodeJson, Io, NotFound, writeAtomically } from "./Files.ts"

/** The losses logged at one step, by name: each the mean over the steps since the previous record. */
export const LossRecord = Schema.Struct({
  step: Schema.Int,
  values: Schema.Record(Schema.String, Schema.NullOr(Schema.Finite))
})
export type LossRecord = typeof LossRecord.Type

/** A checkpoint the stage was trained from, by file name and SHA-256 of its contents (StageInputs.ts). */
export const StageInput = Schema.Struct({ name: Schema.String, sha256: Schema.String })
export type StageInput = typeof StageInput.Type

/** Checkpoint header, stored as a JSON string under `__metadata__.header`. */
export const CheckpointHeader = Schema.Struct({
  format: Schema.Literal("dgrl-checkpoint/1"),
  /** The model's architecture description, as the model module defines it. */
  architecture: Schema.Json,
  /** The resolved run configuration. */
  config: Schema.Json,
  /** Optimisation steps taken so far. */
  step: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Where the run's random stream stands, so training can resume on the same draws. */
  rng: Schema.Struct({ seed: Schema.Int, counter: Schema.Int }),
  createdBy: Schema.String,
  /** The losses logged so far (a learning curve); a non-finite loss is stored as null. */
  losses: Schema.optionalKey(Schema.Array(LossRecord)),
  /** The logging window still open at `step`: how many steps it holds and their loss sums. */
  lossWindow: Schema.optionalKey(Schema.Struct({ count: Schema.Int, sums: Schema.Array(Schema.NullOr(Schema.Finite)) })),
  /** The checkpoints the stage was trained from, as they were (absent in checkpoints written before they were recorded). */
  inputs: Schema.optionalKey(Schema.Array(StageInput))
})
export type CheckpointHeader = typeof CheckpointHeader.Type

/** A checkpoint: its header and its tensors, in file order. */
export interface Checkpoint {
  readonly header: CheckpointHeader
  readonly tensors: ReadonlyArray<Safetensors.Tensor>
}

/** The bytes are not a valid safetensors file; `issue` is the `SafetensorsIssue` tag. */
export class Corrupted extends Schema.TaggedError<Corrupted>()("Corrupted", {
  issue: Schema.String,
  message: Schema.String
}) {}

/** The header is missing or does not match `CheckpointHeader`; `message` names the field. */
export class InvalidHeader extends Schema.TaggedError<InvalidHeader>()("InvalidHeader", { message: Schema.String }) {}

/** Why a checkpoint could not be saved or loaded. */
export const CheckpointErrorReason = Schema.Union([NotFound, Io, Corrupted, InvalidHeader])
export type CheckpointErrorReason = typeof CheckpointErrorReason.Type

/** A failed save or load of the checkpoint at `path`. */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  path: Schema.String,
  reason: CheckpointErrorReason
}) {
  override get message(): string {
    return `checkpoint ${this.path}: ${this.reason.message}`
  }
}

/** Saves and loads checkpoints on the local file system. */
export class Checkpoints extends Context.Service<Checkpoints, {
  /** Writes the checkpoint atomically: readers see the old file or the new one, never a partial one. */
  readonly save: (path: string, checkpoint: Checkpoint) => Effect.Effect<void, CheckpointError>
  /** Reads, decodes and validates the checkpoint at `path`. */
  readonly load: (path: string) => Effect.Effect<Checkpoint, CheckpointError>
}>()("dgrl/services/Checkpoints") {
  static readonly layer: Layer.Layer<Checkpoints> = Layer.sync(Checkpoints, () => {
    const save = Effect.fn("Checkpoints.save")(
      function*(path: string, checkpoint: Checkpoint) {
        const header = yield* encodeHeader(checkpoint.header).pipe(Effect.mapError(invalidHeader))
        yield* writeAtomically(path, Safetensors.encode(checkpoint.tensors, { header }))
      },
      atPath
    )

    const load = Effect.fn("Checkpoints.load")(
      function*(path: string) {
        const bytes = yield* attempt("cannot read", () => readFile(path))
        const file = yield* Effect.fromResult(Safetensors.decode(bytes)).pipe(
          Effect.mapError((issue) => new Corrupted({ issue: issue._tag, message: issue.message }))
        )
        const raw = file.metadata.header
        if (raw === undefined) return yield* new InvalidHeader({ message: "no header entry in __metadata__" })
        const header = yield* decodeHeader(raw).pipe(Effect.mapError(invalidHeader))
        return { header, tensors: file.tensors }
      },
      atPath
    )

    return Checkpoints.of({ save, load })
  })
}

/**
 * Decodes `value`, the free-form JSON at `field` of the header of the checkpoint at `path` (its `architecture` or
 * `config`), with `schema`; a mismatch is `InvalidHeader` naming the field, e.g. `architecture.models.weightRange`.
 */
export const decodeHeaderField = <S extends Schema.Codec<unknown, unknown, never, never>>(
  path: string,
  field: string,
  schema: S,
  value: unknown
): Effect.Effect<S["Type"], CheckpointError> =>
  decodeJson(schema, value).pipe(
    Effect.mapError((m) =>
      new CheckpointError({
        path,
        reason: new InvalidHeader({ message: `invalid header field ${m.field === "" ? field : `${field}.${m.field}`}: ${m.detail}` })
      })
    )
  )

// internal

const HeaderJson = Schema.fromJsonString(CheckpointHeader)
const encodeHeader = Schema.encodeEffect(HeaderJson)
const decodeHeader = Schema.decodeUnknownEffect(HeaderJson)

const atPath = <A>(effect: Effect.Effect<A, CheckpointErrorReason>, path: string): Effect.Effect<A, CheckpointError> =>
  Effect.mapError(effect, (reason) => new CheckpointError({ path, reason }))

const invalidHeader = (error: Schema.SchemaError): InvalidHeader =>
  new InvalidHeader({ message: `invalid header: ${error.message.replace(/\n\s*/g, " ")}` })
