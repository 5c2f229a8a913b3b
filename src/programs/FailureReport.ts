/**
 * How a failed command is told to its user. An expected failure (a typed error) becomes one line on
 * stderr: what is wrong (the error's own message, which names the file, flag or field) and what to do
 * about it (a hint chosen by the error's tag and reason). A defect (a bug: a thrown exception, an
 * `Effect.die`) keeps Effect's full report with its stack trace, as does any failure at
 * `--log-level debug` (or trace, all). The exit code stays the runtime's: 1 for a failure, the
 * CLI's own code for a parse error, which the CLI has already printed with the help text.
 */
import { Cause, Console, Effect, Predicate, Runtime } from "effect"

/** Options of `report` and `reportFailures`. */
export interface ReportOptions {
  /** Print Effect's full report (causes, spans, stack traces) for expected failures too. */
  readonly verbose: boolean
}

/** True when `argv` asks for `--log-level debug`, `trace` or `all` (the CLI's global flag). */
export const verboseFromArgv = (argv: ReadonlyArray<string>): boolean =>
  argv.some((arg, i) => {
    const value = arg.startsWith("--log-level=") ? arg.slice("--log-level=".length) : arg === "--log-level" ? argv[i + 1] : undefined
    return value === "debug" || value === "trace" || value === "all"
  })

const tagOf = (u: unknown): string | undefined => (Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" ? u._tag : undefined)

const reasonTagOf = (u: unknown): string | undefined => (Predicate.hasProperty(u, "reason") ? tagOf(u.reason) : undefined)

/** An error's message on one line (Schema's multi-line issue trees are joined with "; "). */
const oneLine = (text: string): string => text.split(/\s*\n\s*/).filter((s) => s !== "").join("; ")

const messageOf = (error: unknown): string => {
  if (error instanceof Error && error.message !== "") return oneLine(error.message)
  if (Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== "") return oneLine(error.message)
  return oneLine(tagOf(error) ?? String(error))
}

/**
 * What the user can do about `error`, by its tag and reason; undefined when the message alone says it.
 * Every hint names a flag, a command or a setting that exists.
 */
export const hint = (error: unknown): string | undefined => {
  const tag = tagOf(error)
  const reason = reasonTagOf(error)
  switch (tag) {
    case "DatasetError":
      return reason === "NotFound"
        ? "make it with `npm run cli -- dataset generate --name TASK`, or pass --dataset FILE"
        : "check the file with `npm run cli -- dataset inspect --path FILE` (a D4RL-layout HDF5 file is expected)"
    case "CheckpointError":
      return reason === "NotFound"
        ? "train that stage first (train-critic, then train-swg and train-baseline), or pass --run-dir DIR of a trained run"
        : "the checkpoint is damaged or from another version: retrain that stage with --fresh, or pass another --run-dir"
    case "CheckpointMismatch":
      return "the checkpoint was trained with another model size: use the preset or --config it was trained with, or retrain with --fresh"
    case "UnknownTask":
    case "UnknownDataset":
      return "pass one of the names listed"
    case "DatagenError":
      return reason === "UnknownDataset" ? "pass one of the names listed" : undefined
    case "PointsCsvError":
      return reason === "NotFound" || reason === "Io"
        ? "check the path"
        : "fix the file where named: a header naming x1, x2, e (--data) or x1, x2, beta (--target), then one row of decimal numbers per point"
    case "ConfigFileError":
      return "check --preset (cpu or paper) or the JSON file given to --config"
    case "SchemaError":
      return "check the flag or config value named above"
    case "FileError":
      return reason === "Malformed"
        ? "fix or delete that file (a result file is rewritten by the same command with --fresh)"
        : "check the path"
    case "EnvironmentError":
      return reason === "ModelNotFound"
        ? "unset DGRL_MUJOCO_ASSETS to use the built-in models, or point it at a folder with the model XML files"
        : undefined
    case "GpuError":
      return reason === "AdapterUnavailable"
        ? "use --backend wasm or --backend cpu, or install a Vulkan driver (README, \"Getting a GPU path\")"
        : reason === "OutOfMemory" || reason === "AllocationFailed"
        ? "use a smaller batch, or --backend wasm or cpu"
        : "retry with --backend wasm or cpu"
    case "MemoryLimit":
      return "use a smaller batch in --config, or --backend gpu"
    case "TauMismatch":
      return "use the same τ for the critic and the weight function (--config), or retrain the critic with --fresh"
    case "AgentError":
      return reason === "MissingCheckpoint"
        ? "train that method first, or pass --run-dir DIR of a run that has it"
        : reason === "InvalidCheckpoint"
        ? "the checkpoint is damaged or from another version: retrain that stage with --fresh, or pass another --run-dir"
        : reason === "ObservationWidth" || reason === "NonFiniteObservation"
        ? "send observations of the task the agent was trained on"
        : undefined
    default:
      return undefined
  }
}

/** One line for one expected failure: `error: <what is wrong> (<what to do>)`. */
export const describe = (error: unknown): string => {
  const what = messageOf(error)
  const todo = hint(error)
  return todo === undefined ? `error: ${what}` : `error: ${what} (${todo})`
}

/**
 * The text to print for a failed program, or undefined when there is nothing to add: an interruption, or
 * a CLI parse error the CLI has already printed with its help (it marks those `Runtime.errorReported: false`).
 */
export const report = <E>(cause: Cause.Cause<E>, options: ReportOptions): string | undefined => {
  if (Cause.hasInterruptsOnly(cause)) return undefined
  if (!Runtime.getErrorReported(Cause.squash(cause))) return undefined
  if (options.verbose || Cause.hasDies(cause)) return Cause.pretty(cause)
  const lines = cause.reasons.flatMap((r) => (Cause.isFailReason(r) ? [describe(r.error)] : []))
  return [...new Set(lines)].join("\n")
}

/**
 * Prints `report` of a failure to stderr and fails on as before, so the exit code is unchanged; run the
 * result with `NodeRuntime.runMain({ disableErrorReporting: true })` so the runtime does not print it again.
 */
export const reportFailures = (options: ReportOptions) => <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tapCause(program, (cause) => {
    const text = report(cause, options)
    return text === undefined ? Effect.void : Console.error(text)
  })
