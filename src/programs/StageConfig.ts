/**
 * A training stage's config as its checkpoint header records it, and the check that a checkpoint was trained with
 * the config a run now asks for. A finished stage is skipped (Offline.finished), and an interrupted one resumed
 * (ResumableLoop.run), only when the two agree, so a changed setting never passes silently for a trained model.
 *
 * Both sides are compared in their encoded form after the header's config went through the stage's Schema
 * (decoded, then encoded again): a key added to the Schema later takes its default in an old header and is no
 * difference; a key the header holds but no field reads any more is one (its meaning cannot be checked).
 * `exempt` names the fields a resume or an evaluation may legitimately change (each stage says which and why).
 */
import { Effect, Schema } from "effect"
import { type CheckpointError, decodeHeaderField } from "../services/Checkpoints.ts"

/** The checkpoint at `path` was trained with another config: `field` (e.g. `critic.valueLayerNorm`) differs. */
export class ConfigChanged extends Schema.TaggedError<ConfigChanged>()("ConfigChanged", {
  path: Schema.String,
  field: Schema.String,
  /** The values as JSON text; "absent" where one side has no such key. */
  checkpoint: Schema.String,
  current: Schema.String
}) {
  override get message(): string {
    return `checkpoint ${this.path} was trained with ${this.field} = ${this.checkpoint}, the config now has ${this.current}; ` +
      `--fresh retrains the stage (or set ${this.field} back to use the checkpoint)`
  }
}

export interface StageConfig {
  /** The current config, encoded as the header stores it. */
  readonly encoded: Schema.Json
  /** A header's config decoded by the stage's Schema and encoded again; `CheckpointError` if it does not decode. */
  readonly normalise: (path: string, header: unknown) => Effect.Effect<unknown, CheckpointError>
  /** Paths (`a.b`) of fields, with everything under them, that may differ. */
  readonly exempt: ReadonlyArray<string>
}

/** The stage config of `value` under `schema`, with its exempt fields. */
export const make = <S extends Schema.Codec<unknown, unknown, never, never>>(
  schema: S,
  value: S["Type"],
  exempt: ReadonlyArray<string> = []
): StageConfig => {
  const encode = Schema.encodeSync(schema)
  return {
    encoded: encode(value) as Schema.Json,
    normalise: (path, header) => Effect.map(decodeHeaderField(path, "config", schema, header), (v) => encode(v)),
    exempt
  }
}

/** The first difference between a checkpoint's value and the current one at `at`, skipping exempt paths. */
export interface Difference {
  readonly field: string
  readonly checkpoint: unknown
  readonly current: unknown
}

const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null && !Array.isArray(v)

const join = (at: string, key: string) => (at === "" ? key : `${at}.${key}`)

/** The first place where `checkpoint` and `current` (JSON values) differ, depth first in key order, or undefined. */
export const firstDifference = (
  checkpoint: unknown,
  current: unknown,
  exempt: ReadonlyArray<string>,
  at = ""
): Difference | undefined => {
  if (exempt.includes(at)) return undefined
  if (isRecord(checkpoint) && isRecord(current)) {
    const keys = [...new Set([...Object.keys(checkpoint), ...Object.keys(current)])]
    for (const key of keys) {
      const d = firstDifference(checkpoint[key], current[key], exempt, join(at, key))
      if (d !== undefined) return d
    }
    return undefined
  }
  if (Array.isArray(checkpoint) && Array.isArray(current) && checkpoint.length === current.length) {
    for (let i = 0; i < current.length; i++) {
      const d = firstDifference(checkpoint[i], current[i], exempt, `${at}[${i}]`)
      if (d !== undefined) return d
    }
    return undefined
  }
  return Object.is(checkpoint, current) ? undefined : { field: at, checkpoint, current }
}

/** The first key of the raw header `raw` that its normalised form dropped (no field of the Schema reads it). */
const firstUnreadKey = (raw: unknown, normalised: unknown, exempt: ReadonlyArray<string>, at = ""): string | undefined => {
  if (exempt.includes(at) || !isRecord(raw) || !isRecord(normalised)) return undefined
  for (const key of Object.keys(raw)) {
    if (!(key in normalised) && !exempt.includes(join(at, key))) return join(at, key)
    const inner = firstUnreadKey(raw[key], normalised[key], exempt, join(at, key))
    if (inner !== undefined) return inner
  }
  return undefined
}

const show = (v: unknown) => (v === undefined ? "absent" : JSON.stringify(v))

/**
 * Succeeds when the config of the checkpoint at `path` (its header's `config`) agrees with `stage` outside the
 * exempt fields; else `ConfigChanged` naming the first field that differs.
 */
export const check = (path: string, stage: StageConfig, header: unknown): Effect.Effect<void, ConfigChanged | CheckpointError> =>
  Effect.gen(function*() {
    const normalised = yield* stage.normalise(path, header)
    const d = firstDifference(normalised, stage.encoded, stage.exempt)
    if (d !== undefined) {
      return yield* new ConfigChanged({ path, field: d.field, checkpoint: show(d.checkpoint), current: show(d.current) })
    }
    const unread = firstUnreadKey(header, normalised, stage.exempt)
    if (unread !== undefined) {
      const value = unread.split(".").reduce<unknown>((v, k) => (isRecord(v) ? v[k] : undefined), header)
      return yield* new ConfigChanged({ path, field: unread, checkpoint: show(value), current: "no such field (this version reads none)" })
    }
  })
