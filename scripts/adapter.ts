/**
 * Prints the WebGPU adapter Dawn picks (vendor, architecture, device, description), its features
 * and limits, as JSON on stdout. Exit code 1 when there is no adapter. Used by the bundle's
 * smoke test and by real-GPU runs to name the device next to its numbers.
 */
import { create, globals } from "webgpu"

Object.assign(globalThis, globals)
const adapter = await create([]).requestAdapter()
if (adapter === null) {
  console.error("no WebGPU adapter: requestAdapter() returned null (no Vulkan driver found?)")
  process.exit(1)
}
const { vendor, architecture, device, description, subgroupMinSize, subgroupMaxSize } = adapter.info
const limits: Record<string, number> = {}
for (const key in adapter.limits) {
  const value = (adapter.limits as unknown as Record<string, unknown>)[key]
  if (typeof value === "number") limits[key] = value
}
console.log(JSON.stringify({
  vendor, architecture, device, description, subgroupMinSize, subgroupMaxSize,
  features: [...adapter.features].sort(),
  limits
}, null, 2))
process.exit(0)
