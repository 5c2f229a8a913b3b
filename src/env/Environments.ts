/**
 * The Effect-facing way to get environments: the layer loads the MuJoCo runtime once, and every
 * constructor is scoped, so the environment is closed (its MuJoCo model and data freed) on every exit path.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import * as Environment from "./Environment.ts"
import * as Locomotion from "./Locomotion.ts"
import * as Maze2d from "./Maze2d.ts"
import * as Mujoco from "./Mujoco.ts"
import * as Pendulum from "./Pendulum.ts"

/** Builds environments whose lifetime is the caller's scope. */
export class Environments extends Context.Service<Environments, {
  /** Pendulum-v1 (pure TypeScript). */
  readonly pendulum: (options: { readonly batch: number }) => Effect.Effect<
    Pendulum.PendulumEnv,
    Environment.EnvironmentError,
    Scope.Scope
  >
  /** maze2d-{umaze,medium,large}-v1 (sparse) or -dense-v1. */
  readonly maze2d: (options: Maze2d.Options) => Effect.Effect<Maze2d.Maze2dEnv, Environment.EnvironmentError, Scope.Scope>
  /** halfcheetah-v2, hopper-v2, walker2d-v2. */
  readonly locomotion: (
    options: Locomotion.Options
  ) => Effect.Effect<Locomotion.LocomotionEnv, Environment.EnvironmentError, Scope.Scope>
  /** The MuJoCo runtime the layer loaded, for heap statistics and custom models. */
  readonly runtime: Mujoco.Runtime
}>()("dgrl/env/Environments") {
  static readonly layer: Layer.Layer<Environments, Environment.EnvironmentError> = Layer.effect(
    Environments,
    Effect.gen(function*() {
      const runtime = yield* Effect.tryPromise({
        try: Mujoco.load,
        catch: (cause) =>
          new Environment.EnvironmentError({
            environment: "mujoco",
            reason: new Environment.RuntimeUnavailable({ message: cause instanceof Error ? cause.message : String(cause) })
          })
      })
      return Environments.of({
        pendulum: (options) => scoped(() => Pendulum.make(options)),
        maze2d: (options) => scoped(() => Maze2d.make(runtime, options)),
        locomotion: (options) => scoped(() => Locomotion.make(runtime, options)),
        runtime
      })
    })
  )
}

// internal

const scoped = <Env extends Environment.VectorEnv>(
  build: () => Env
): Effect.Effect<Env, Environment.EnvironmentError, Scope.Scope> =>
  Effect.acquireRelease(Environment.attempt(build), (env) => Effect.sync(() => env.close()))
