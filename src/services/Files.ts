/**
 * The file-system mechanics every writer and reader of the library shares: one mapping of a failed
 * call to `NotFound` (ENOENT) or `Io`, one atomic replace (a temp file in the target's directory,
 * fsynced, renamed over the target, then the directory fsynced, so that a crash leaves the old file
 * or the whole new one), and JSON read through a Schema, whose failure names the file and the field.
 */
import { randomBytes } from "node:crypto"
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises"
import { dirname } from "node:path"
import { Effect, Predicate, Schema, SchemaIssue } from "effect"

/** The file does not exist. */
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {}) {
  override get message(): string {
    return "no such file"
  }
}

/** The file system refused a read, write, sync, rename or directory creation; `detail` names the step and the cause. */
export class Io extends Schema.TaggedError<Io>()("Io", { detail: Schema.String }) {
  override get message(): string {
    return `i/o failed: ${this.detail}`
  }
}

/**
 * The file's text is not the JSON its schema describes: `field` is where (`returnMean`, `parts[0].seed`; empty
 * when the text is not JSON or the top-level value has the wrong type) and `detail` what is wrong there.
 */
export class Malformed extends Schema.TaggedError<Malformed>()("Malformed", {
  field: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return this.field === "" ? `malformed: ${this.detail}` : `malformed field ${this.field}: ${this.detail}`
  }
}

/** Why a file could not be read or written. */
export const FileErrorReason = Schema.Union([NotFound, Io, Malformed])
export type FileErrorReason = typeof FileErrorReason.Type

/** A failed read or write of the file at `path`. */
export class FileError extends Schema.TaggedError<FileError>()("FileError", {
  path: Schema.String,
  reason: FileErrorReason
}) {
  override get message(): string {
    return `${this.path}: ${this.reason.message}`
  }
}

/** Runs a file-system call: a missing file (ENOENT) is `NotFound`, any other rejection `Io` with `what` and the cause. */
export const attempt = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, NotFound | Io> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) =>
      Predicate.hasProperty(cause, "code") && cause.code === "ENOENT"
        ? new NotFound()
        : new Io({ detail: `${what}: ${cause instanceof Error ? cause.message : String(cause)}` })
  })

/**
 * Replaces `path` atomically: creates its directory, lets `produce` write a fresh temp file beside it, fsyncs the
 * temp file, renames it over `path` and fsyncs the directory (best effort: not every file system can). Readers see
 * the old file or the whole new one; on failure the temp file is removed and `path` is untouched.
 */
export const replaceAtomically = <E>(
  path: string,
  produce: (temp: string) => Effect.Effect<void, E>
): Effect.Effect<void, E | NotFound | Io> => {
  const directory = dirname(path)
  const temp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`
  return attempt(`cannot create directory ${directory}`, () => mkdir(directory, { recursive: true })).pipe(
    Effect.andThen(
      produce(temp).pipe(
        Effect.andThen(sync(temp, "r+")),
        Effect.andThen(attempt(`cannot rename ${temp} to ${path}`, () => rename(temp, path))),
        Effect.onError(() => Effect.ignore(attempt("", () => rm(temp, { force: true }))))
      )
    ),
    Effect.andThen(Effect.ignore(sync(directory, "r")))
  )
}

/** Writes `data` to `path` atomically (see `replaceAtomically`). */
export const writeAtomically = (path: string, data: string | Uint8Array): Effect.Effect<void, NotFound | Io> =>
  replaceAtomically(path, (temp) => attempt(`cannot write ${temp}`, () => writeFile(temp, data, { flag: "wx" })))

/** Writes `text` to `path` so that readers see the old file or the whole new one, never a part. */
export const writeTextAtomically = (path: string, text: string): Effect.Effect<void, FileError> =>
  atPath(writeAtomically(path, text), path)

/** Writes `value` as indented JSON to `path` atomically. */
export const writeJsonAtomically = (path: string, value: unknown): Effect.Effect<void, FileError> =>
  writeTextAtomically(path, `${JSON.stringify(value, null, 2)}\n`)

/** Reads the JSON file at `path` and decodes it with `schema`; a value the schema rejects is `Malformed`. */
export const readJson = <S extends Schema.Codec<unknown, unknown, never, never>>(
  path: string,
  schema: S
): Effect.Effect<S["Type"], FileError> =>
  attempt(`cannot read ${path}`, () => readFile(path, "utf8")).pipe(
    Effect.flatMap((text) =>
      Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(text).pipe(Effect.mapError(malformed))
    ),
    (effect) => atPath(effect, path)
  )

/** Decodes `value` (JSON already read, e.g. a checkpoint header field) with `schema`; a rejection is `Malformed`. */
export const decodeJson = <S extends Schema.Codec<unknown, unknown, never, never>>(
  schema: S,
  value: unknown
): Effect.Effect<S["Type"], Malformed> => Schema.decodeUnknownEffect(schema)(value).pipe(Effect.mapError(malformed))

/** A `Malformed` naming the first field the schema rejected, as `a.b[2].c`. */
export const malformed = (error: Schema.SchemaError): Malformed => {
  const [first] = standardIssues(error.issue).issues
  const field = (first?.path ?? []).reduce<string>(
    (out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`),
    ""
  )
  return new Malformed({ field, detail: first?.message ?? error.message })
}

// internal

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1()

const atPath = <A>(effect: Effect.Effect<A, FileErrorReason>, path: string): Effect.Effect<A, FileError> =>
  Effect.mapError(effect, (reason) => new FileError({ path, reason }))

/** fsyncs `path` (a file opened "r+", or a directory opened "r"). */
const sync = (path: string, flags: "r" | "r+"): Effect.Effect<void, NotFound | Io> =>
  Effect.acquireUseRelease(
    attempt(`cannot open ${path}`, () => open(path, flags)),
    (handle) => attempt(`cannot sync ${path}`, () => handle.sync()),
    (handle) => Effect.ignore(attempt("", () => handle.close()))
  )
