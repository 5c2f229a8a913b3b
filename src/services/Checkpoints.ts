/**
 * Checkpoints as safetensors files: a Schema-validated JSON header in `__metadata__.header` plus named
 * tensors. Saving writes a temp file in the target's directory, fsyncs it and renames it over the target.
 */
import { randomBytes } from "node:crypto"
import { mkdir, open, readFile, rename, rm } from "node:fs/promises"
import { dirname } from "node:path"
import { Context, Effect, Layer, Predicate, Schema } from "effect"
import * as Safetensors from "../domain/Safetensors.ts"

/** The losses logged at one step, by name: each the mean over the steps since the previous record. */
export const LossRecord = Schema.Struct({
  step: Schema.Int,
  values: Schema.Record(Schema.String, Schema.NullOr(Schema.Finite))
})
export type LossRecord = typeof LossRecord.Type

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
  lossWindow: Schema.optionalKey(Schema.Struct({ count: Schema.Int, sums: Schema.Array(Schema.NullOr(Schema.Finite)) }))
})
export type CheckpointHeader = typeof CheckpointHeader.Type

/** A checkpoint: its header and its tensors, in file order. */
export interface Checkpoint {
  readonly header: CheckpointHeader
  readonly tensors: ReadonlyArray<Safetensors.Tensor>
}

/** The file does not exist. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {}) {
  override get message(): string {
    return "no such file"
  }
}

/** The file system refused a read, write, rename or directory creation. */
export class Io extends Schema.TaggedError<Io>()("Io", { message: Schema.String }) {}

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
        const bytes = Safetensors.encode(checkpoint.tensors, { header })
        const directory = dirname(path)
        const temp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`
        yield* io(() => mkdir(directory, { recursive: true }))
        yield* Effect.acquireUseRelease(
          io(() => open(temp, "wx")),
          (file) => io(() => file.writeFile(bytes)).pipe(Effect.andThen(io(() => file.sync()))),
          (file) => Effect.ignore(io(() => file.close()))
        ).pipe(
          Effect.andThen(io(() => rename(temp, path))),
          Effect.onError(() => Effect.ignore(io(() => rm(temp, { force: true }))))
        )
        yield* Effect.ignore(Effect.acquireUseRelease(
          io(() => open(directory, "r")),
          (handle) => io(() => handle.sync()),
          (handle) => Effect.ignore(io(() => handle.close()))
        ))
      },
      atPath
    )

    const load = Effect.fn("Checkpoints.load")(
      function*(path: string) {
        const bytes = yield* io(() => readFile(path))
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

// internal

const HeaderJson = Schema.fromJsonString(CheckpointHeader)
const encodeHeader = Schema.encodeEffect(HeaderJson)
const decodeHeader = Schema.decodeUnknownEffect(HeaderJson)

const atPath = <A>(effect: Effect.Effect<A, CheckpointErrorReason>, path: string): Effect.Effect<A, CheckpointError> =>
  Effect.mapError(effect, (reason) => new CheckpointError({ path, reason }))

const invalidHeader = (error: Schema.SchemaError): InvalidHeader =>
  new InvalidHeader({ message: `invalid header: ${error.message.replace(/\n\s*/g, " ")}` })

const io = <A>(run: () => Promise<A>): Effect.Effect<A, NotFound | Io> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) =>
      Predicate.hasProperty(cause, "code") && cause.code === "ENOENT"
        ? new NotFound()
        : new Io({ message: cause instanceof Error ? cause.message : String(cause) })
  })
