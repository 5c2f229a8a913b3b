/**
 * The datasets this library can generate, by D4RL name, and the JSON recipe written beside each HDF5 file: every
 * parameter and seed needed to regenerate it (maze2d: the generator config; locomotion: the parts, policies included).
 */
import { Result, Schema } from "effect"
import * as Maze2dData from "./Maze2dData.ts"
import * as LocomotionData from "./LocomotionData.ts"
import { DatagenError, UnknownDataset } from "./DatagenError.ts"
import * as Summary from "./Summary.ts"

/** A maze2d dataset: maze and reward type. */
export interface Maze2dEntry {
  readonly kind: "maze2d"
  readonly name: string
  readonly maze: "umaze" | "medium" | "large"
  readonly reward: "sparse" | "dense"
}

/** A locomotion dataset: task and D4RL variant. */
export interface LocomotionEntry {
  readonly kind: "locomotion"
  readonly name: string
  readonly task: typeof LocomotionData.Tasks[number]
  readonly variant: LocomotionData.Variant
}

/** A supported dataset. */
export type Entry = Maze2dEntry | LocomotionEntry

const mazes = ["umaze", "medium", "large"] as const

/** Every supported dataset: maze2d-{umaze,medium,large}[-dense]-v1 and {task}-{variant}-v2. */
export const entries: ReadonlyArray<Entry> = [
  ...mazes.flatMap((maze): Array<Entry> => [
    { kind: "maze2d", name: `maze2d-${maze}-v1`, maze, reward: "sparse" },
    { kind: "maze2d", name: `maze2d-${maze}-dense-v1`, maze, reward: "dense" }
  ]),
  ...LocomotionData.Tasks.flatMap((task) =>
    LocomotionData.Variants.map((variant): Entry => ({ kind: "locomotion", name: `${task}-${variant}-v2`, task, variant }))
  )
]

/** The supported names. */
export const names: ReadonlyArray<string> = entries.map((e) => e.name)

/** The entry called `name`, or `DatagenError(UnknownDataset)`. */
export const find = (name: string): Result.Result<Entry, DatagenError> => {
  const entry = entries.find((e) => e.name === name)
  return entry === undefined
    ? Result.fail(new DatagenError({ subject: name, reason: new UnknownDataset({ name, known: [...names] }) }))
    : Result.succeed(entry)
}

/** The recipe of a maze2d dataset. */
export const Maze2dRecipe = Schema.Struct({
  format: Schema.Literal("dgrl-recipe/1"),
  kind: Schema.Literal("maze2d"),
  name: Schema.String,
  config: Maze2dData.Maze2dDataConfig,
  /** Episodes and seed of the behaviour evaluation stored in metadata/behavior/*. */
  evaluation: Schema.Struct({ episodes: Schema.Int, seed: Schema.Int }),
  summary: Summary.DatasetSummary
})
export type Maze2dRecipe = typeof Maze2dRecipe.Type

/** The recipe of a locomotion dataset: its parts, concatenated in order. */
export const LocomotionRecipe = Schema.Struct({
  format: Schema.Literal("dgrl-recipe/1"),
  kind: Schema.Literal("locomotion"),
  name: Schema.String,
  parts: Schema.Array(LocomotionData.Part),
  summary: Summary.DatasetSummary
})
export type LocomotionRecipe = typeof LocomotionRecipe.Type

/** A recipe file. */
export const Recipe = Schema.Union([Maze2dRecipe, LocomotionRecipe])
export type Recipe = typeof Recipe.Type

/** Where the recipe of the dataset at `hdf5Path` lives: `<name>.recipe.json` beside it. */
export const recipePath = (hdf5Path: string): string => `${hdf5Path.replace(/\.hdf5$/, "")}.recipe.json`
