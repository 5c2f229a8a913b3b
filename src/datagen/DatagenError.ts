/**
 * Why a dataset could not be generated, trained for or regenerated: one wrapper error with a tagged reason,
 * as the rest of the library reports failures (environment and HDF5 failures keep their own error types).
 */
import { Schema } from "effect"

/** The dataset name is not one `Recipes.names` lists. */
export class UnknownDataset extends Schema.TaggedError<UnknownDataset>()("UnknownDataset", {
  name: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `unknown dataset "${this.name}"; known: ${this.known.join(", ")}`
  }
}

/** A configuration value is out of range or inconsistent with another (e.g. b > N in ARS). */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", { message: Schema.String }) {}

/** A cached ARS run at `path` was made with other hyperparameters or another seed. */
export class CacheMismatch extends Schema.TaggedError<CacheMismatch>()("CacheMismatch", {
  path: Schema.String,
  message: Schema.String
}) {}

/** A JSON file (ARS cache, recipe) could not be read or does not decode. */
export class Unreadable extends Schema.TaggedError<Unreadable>()("Unreadable", {
  path: Schema.String,
  message: Schema.String
}) {}

/** Replaying ARS from its seed did not reproduce the saved iterate bit for bit. */
export class ReplayMismatch extends Schema.TaggedError<ReplayMismatch>()("ReplayMismatch", {
  message: Schema.String
}) {}

/** The reasons of `DatagenError`. */
export const DatagenErrorReason = Schema.Union([UnknownDataset, InvalidConfig, CacheMismatch, Unreadable, ReplayMismatch])
export type DatagenErrorReason = typeof DatagenErrorReason.Type

/** A failure while building `subject` (a dataset name, an ARS task, a file). */
export class DatagenError extends Schema.TaggedError<DatagenError>()("DatagenError", {
  subject: Schema.String,
  reason: DatagenErrorReason
}) {
  override get message(): string {
    return `${this.subject}: ${this.reason._tag}: ${this.reason.message}`
  }
}
