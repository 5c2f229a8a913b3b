/** JSON files of the data generators (ARS runs, recipes), read through a Schema; written with `Files`. */
import { readFile } from "node:fs/promises"
import { Effect, Predicate, Schema } from "effect"
import { DatagenError, Unreadable } from "./DatagenError.ts"

/**
 * Reads and decodes the JSON file at `path`; `undefined` when it does not exist. Any other failure (I/O, bad JSON,
 * a value the schema rejects) is a `DatagenError` with reason `Unreadable`.
 */
export const read = <S extends Schema.Codec<unknown, unknown, never, never>>(
  path: string,
  schema: S
): Effect.Effect<S["Type"] | undefined, DatagenError> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) => cause
  }).pipe(
    Effect.map((text): string | undefined => text),
    Effect.catch((cause) =>
      Predicate.hasProperty(cause, "code") && cause.code === "ENOENT"
        ? Effect.succeed(undefined)
        : Effect.fail(unreadable(path, cause instanceof Error ? cause.message : String(cause)))
    ),
    Effect.flatMap((text) =>
      text === undefined
        ? Effect.succeed(undefined)
        : Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(text).pipe(
          Effect.mapError((error) => unreadable(path, error.message))
        )
    )
  )

// internal

const unreadable = (path: string, message: string): DatagenError =>
  new DatagenError({ subject: path, reason: new Unreadable({ path, message }) })
