/** Atomic writes of results files: a temp file in the same directory, then rename. */
import { randomBytes } from "node:crypto"
import { mkdir, rename, rm, writeFile } from "node:fs/promises"
import { dirname } from "node:path"
import { Effect, Schema } from "effect"

export class FileWriteError extends Schema.TaggedError<FileWriteError>()("FileWriteError", {
  path: Schema.String,
  cause: Schema.String
}) {
  override get message(): string {
    return `could not write ${this.path}: ${this.cause}`
  }
}

/** Writes `text` to `path` so that readers see the old file or the whole new one, never a part. */
export const writeTextAtomically = (path: string, text: string): Effect.Effect<void, FileWriteError> => {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`
  return Effect.tryPromise({
    try: async () => {
      await mkdir(dirname(path), { recursive: true })
      await writeFile(temp, text)
      await rename(temp, path)
    },
    catch: (e) => new FileWriteError({ path, cause: String(e) })
  }).pipe(Effect.tapError(() => Effect.promise(() => rm(temp, { force: true }))))
}

export const writeJsonAtomically = (path: string, value: unknown): Effect.Effect<void, FileWriteError> =>
  writeTextAtomically(path, `${JSON.stringify(value, null, 2)}\n`)
