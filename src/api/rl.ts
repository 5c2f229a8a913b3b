/**
 * `diffusion-guided-rl/rl`: offline RL. D4RL-layout datasets, environments with D4RL scores, the IQL
 * critic, the SWG agent and its selectors, IQL's actor, and the offline stages as Effect programs
 * (train the critic, the SWG model and IQL's actor into a run directory; evaluate every method).
 */
export * as OfflineDataset from "../data/OfflineDataset.ts"
export * as Environment from "../env/Environment.ts"
export * as OfflineData from "../rl/OfflineData.ts"
export * as Critic from "../rl/Critic.ts"
export * as SwgAgent from "../rl/SwgAgent.ts"
export * as IqlActor from "../rl/IqlActor.ts"
export * as Offline from "../programs/Offline.ts"
