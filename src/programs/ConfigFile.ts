/**
 * A user's config (a preset, a --config file, merged with flags) decoded strictly: a key that no field of the
 * program's config reads (a typo such as `valueLayernorm`, or a setting renamed since, such as QGPO's
 * `energyLayers`) is an error naming the file and the key, not silently dropped. Checkpoint headers and result
 * files are read leniently elsewhere (old files may carry keys a later version no longer has).
 */
import { Effect, Schema } from "effect"
import { malformed } from "../services/Files.ts"

/** `key` (a path such as `critic.valueLayernorm`) of the config in `file` is read by no setting. */
export class UnknownConfigKey extends Schema.TaggedError<UnknownConfigKey>()("UnknownConfigKey", {
  file: Schema.String,
  key: Schema.String
}) {
  override get message(): string {
    return `config ${this.file}: no setting reads the key ${this.key} (check its spelling, or remove it)`
  }
}

/**
 * Decodes `raw` (read from `file`, flags merged in) with `schema`, rejecting keys the schema does not have. A value
 * the schema rejects is the usual `SchemaError` naming its field; only when everything else decodes is an excess key
 * reported, as `UnknownConfigKey`.
 */
export const decodeStrict = <S extends Schema.Codec<unknown, unknown, never, never>>(schema: S, raw: unknown, file: string) =>
  Schema.decodeUnknownEffect(schema)(raw, { onExcessProperty: "error" }).pipe(
    Effect.catchTag("SchemaError", (strict) =>
      Schema.decodeUnknownEffect(schema)(raw).pipe(
        Effect.flatMap(() => Effect.fail(new UnknownConfigKey({ file, key: malformed(strict).field })))
      ))
  )
