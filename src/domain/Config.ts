/** Schema building blocks shared by every program's config. */
import { Effect, Schema } from "effect"

export const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
export const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
export const PositiveFinite = Schema.Finite.check(Schema.isGreaterThan(0))
export const Probability = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))

/** A field that may be left out of the JSON/flags and then takes `value`. */
export const withDefault = <S extends Schema.Top>(value: S["Encoded"]) =>
  (schema: S) => schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))
