/** JSON files of the data generators (ARS runs, recipes), read through a Schema (`Files.readJson`); written with `Files`. */
import { Effect, type Schema } from "effect"
import { readJson } from "../services/Files.ts"
import { DatagenError, Unreadable } from "./DatagenError.ts"

/**
 * Reads and decodes the JSON file at `path`; `undefined` when it does not exist. Any other failure (I/O, bad JSON,
 * a value the schema rejects) is a `DatagenError` with reason `Unreadable`, whose message names the field.
 */
export const read = <S extends Schema.Codec<unknown, unknown, never, never>>(
  path: string,
  schema: S
): Effect.Effect<S["Type"] | undefined, DatagenError> =>
  readJson(path, schema).pipe(
    Effect.map((value): S["Type"] | undefined => value),
    Effect.catch((error) =>
      error.reason._tag === "NotFound"
        ? Effect.succeed(undefined)
        : Effect.fail(new DatagenError({ subject: path, reason: new Unreadable({ path, message: error.reason.message }) }))
    )
  )
