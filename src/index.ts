/**
 * The package's root entry: the Effect services a host application composes (the compute backend,
 * checkpoints, datasets, environments) and the trained agents as one `Agent` service, with their typed
 * errors. The tensor engine, the diffusion core and the offline RL pieces have their own entries:
 * `diffusion-guided-rl/tensor`, `/diffusion` and `/rl`. Nothing else is exported.
 */
export { Backend, BackendChoice } from "./services/Backend.ts"
export {
  AdapterUnavailable,
  AllocationFailed,
  DeviceLost,
  Gpu,
  GpuError,
  GpuErrorReason,
  OutOfMemory,
  probeAdapter,
  ReadbackFailed,
  ShaderCompilation
} from "./services/Gpu.ts"
export { CheckpointError, CheckpointHeader, Checkpoints, Corrupted, InvalidHeader } from "./services/Checkpoints.ts"
export type { Checkpoint } from "./services/Checkpoints.ts"
export { FileError, Io, Malformed, NotFound } from "./services/Files.ts"
export { DatasetError, DatasetStore, NotHdf5 } from "./data/DatasetStore.ts"
export { Environments } from "./env/Environments.ts"
export { EnvironmentError } from "./env/Environment.ts"
export { IndexOutOfRange, MemoryLimit, ShapeError } from "./domain/Ops.ts"
export {
  Agent,
  AgentError,
  AgentErrorReason,
  AgentMethod,
  defaultActDefaults,
  DeviceFailure,
  InvalidActOptions,
  InvalidCheckpoint,
  MissingCheckpoint,
  NonFiniteObservation,
  ObservationWidth
} from "./services/Agent.ts"
export type { Acted, ActDefaults, ActOptions, AgentInfo, AgentOptions, AgentShape } from "./services/Agent.ts"
/** The policy server: `PolicyServer.layer(config)` serves the Agent in context over HTTP (POST /v1/act, GET /v1/info, /v1/health). */
export * as PolicyServer from "./programs/Serve.ts"
