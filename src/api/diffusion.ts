/**
 * `diffusion-guided-rl/diffusion`: the diffusion core over the tensor engine. Noise schedules, the
 * sampler steps and loops (DDPM, DDIM, DPM-Solver++), ε-networks and their loss, self-weighted guidance
 * (SWG) and guided sampling with the generated weight.
 */
export * as NoiseSchedule from "../domain/NoiseSchedule.ts"
export * as SamplerSteps from "../domain/SamplerSteps.ts"
export * as WeightFunction from "../domain/WeightFunction.ts"
export * as EpsNetwork from "../diffusion/EpsNetwork.ts"
export * as Sampler from "../diffusion/Sampler.ts"
export * as Swg from "../diffusion/Swg.ts"
export * as SwgPolicy from "../diffusion/SwgPolicy.ts"
export * as Training from "../diffusion/Training.ts"
