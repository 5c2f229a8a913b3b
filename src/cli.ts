/**
 * The one entry point: `node src/cli.ts <command>`. Each subcommand decodes its Schema config
 * from flags, picks the backend (`--backend auto|gpu|cpu`) and runs its program.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { BenchConfig, type BenchResult, bench } from "./programs/Bench.ts"
import { Checkpoints } from "./services/Checkpoints.ts"
import { writeJsonAtomically } from "./services/Files.ts"
import { Plots } from "./services/Plots.ts"
import { Progress } from "./services/Progress.ts"
import { ToyConfig, toy } from "./programs/Toy.ts"
import { readFile } from "node:fs/promises"
import { DemoConfig, demo } from "./programs/Demo.ts"
import { Backend, BackendChoice } from "./services/Backend.ts"

class ConfigFileError extends Schema.TaggedError<ConfigFileError>()("ConfigFileError", {
  program: Schema.String,
  preset: Schema.String,
  cause: Schema.String
}) {
  override get message(): string {
    return `cannot read the ${this.program} config (preset ${this.preset}): ${this.cause}`
  }
}

const backendFlag = Flag.Literals("backend", BackendChoice.literals).pipe(
  Flag.withDescription("compute backend: auto (GPU adapter if any, else CPU), gpu or cpu"),
  Flag.withDefault("auto" as const)
)

const optionalInt = (name: string, description: string) =>
  Flag.Int(name).pipe(Flag.withDescription(description), Flag.optional)

/** Drops unset optional flags so the config's own defaults apply. */
const present = (fields: Record<string, Option.Option<unknown>>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(fields).flatMap(([k, v]) => (Option.isSome(v) ? [[k, v.value]] : [])))

const demoCommand = Command.make(
  "demo",
  {
    backend: backendFlag,
    steps: optionalInt("steps", "optimisation steps (default 300)"),
    batch: optionalInt("batch", "minibatch size (default 256)"),
    seed: optionalInt("seed", "random seed (default 0)")
  },
  Effect.fn(function*({ backend, ...flags }) {
    const config = yield* Schema.decodeUnknownEffect(DemoConfig)(present(flags))
    yield* demo(config).pipe(Effect.provide(Backend.layer(backend)))
  })
).pipe(Command.withDescription("train a small MLP regression and report the backend and its throughput"))

const benchCommand = Command.make(
  "bench",
  {
    backend: Flag.Literals("backend", ["all", ...BackendChoice.literals]).pipe(
      Flag.withDescription("backends to measure: all available (default), auto, gpu or cpu"),
      Flag.withDefault("all" as const)
    ),
    repeats: optionalInt("repeats", "timed repetitions per measurement (default 5)"),
    quick: Flag.Boolean("quick").pipe(Flag.withDescription("skip the largest sizes"), Flag.withDefault(false)),
    json: Flag.String("json").pipe(Flag.withDescription("also write the results as a JSON array to this file"), Flag.optional)
  },
  Effect.fn(function*({ backend, json, quick, ...flags }) {
    const config = yield* Schema.decodeUnknownEffect(BenchConfig)({ ...present(flags), quick })
    const choices: ReadonlyArray<BackendChoice> = backend === "all" ? ["gpu", "cpu"] : [backend]
    const results: Array<BenchResult> = []
    for (const choice of choices) {
      const result = yield* bench(config).pipe(
        Effect.provide(Backend.layer(choice)),
        Effect.map(Option.some),
        Effect.catchTag("GpuError", (e) =>
          backend === "all" ? Effect.as(Console.log(`skipping gpu: ${e.message}`), Option.none()) : Effect.fail(e))
      )
      if (Option.isSome(result)) results.push(result.value)
    }
    if (Option.isSome(json)) yield* writeJsonAtomically(json.value, results)
  })
).pipe(Command.withDescription("measure matmul, SWG training and guided-sampling speed on each backend"))

/** A preset JSON (presets/<program>-<name>.json) or a config file, merged under the flag overrides. */
const loadConfig = (program: string, preset: string, file: Option.Option<string>) =>
  Effect.tryPromise({
    try: async () => JSON.parse(await readFile(Option.getOrElse(file, () => new URL(`../presets/${program}-${preset}.json`, import.meta.url).pathname), "utf8")) as Record<string, unknown>,
    catch: (e) => new ConfigFileError({ program, preset, cause: String(e) })
  })

const listFlag = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

const splitList = (value: Option.Option<string>, parse: (s: string) => unknown) =>
  Option.map(value, (v) => v.split(",").map((s) => parse(s.trim())))

const toyCommand = Command.make(
  "toy",
  {
    backend: backendFlag,
    preset: Flag.String("preset").pipe(Flag.withDescription("cpu (minutes on a CPU) or paper (the paper's sizes, for a GPU)"), Flag.withDefault("cpu")),
    config: Flag.String("config").pipe(Flag.withDescription("a JSON config file instead of the preset"), Flag.optional),
    datasets: listFlag("datasets", "comma-separated: 8gaussians,swissroll,rings,moons,checkerboard,2spirals"),
    betas: listFlag("betas", "comma-separated β grid, e.g. 0,1,3,10"),
    steps: optionalInt("steps", "training steps per dataset"),
    seed: optionalInt("seed", "random seed"),
    outDir: Flag.String("out").pipe(Flag.withDescription("output directory (default out/toy)"), Flag.optional)
  },
  Effect.fn(function*({ backend, preset, config, datasets, betas, ...flags }) {
    const base = yield* loadConfig("toy", preset, config)
    const overrides = present({ ...flags, datasets: splitList(datasets, (s) => s), betas: splitList(betas, Number) })
    const decoded = yield* Schema.decodeUnknownEffect(ToyConfig)({ ...base, ...overrides })
    yield* toy(decoded).pipe(Effect.provide([Backend.layer(backend), Checkpoints.layer, Plots.layer, Progress.layer]))
  })
).pipe(Command.withDescription("SWG on the 2-D toys: train per dataset, sample with self-weighted guidance, compare with exact targets"))

const root = Command.make("dgrl").pipe(
  Command.withSubcommands([demoCommand, benchCommand, toyCommand]),
  Command.withDescription("diffusion-guided offline reinforcement learning on WebGPU")
)

Command.run(root, { version: "0.1.0" }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
