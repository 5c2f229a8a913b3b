/**
 * `TensorBackend.scope` for backends that own memory (GPU, WASM): run `f` inside a frame of the
 * backend's arena; when it returns, every allocation made in the frame is released except those
 * reachable from the result (tensors found by walking arrays and plain objects). A throw or an
 * async function releases the whole frame.
 */

/** The arena side of a scope: open a frame, and close it keeping some allocations. */
export interface ScopeArena<Allocation> {
  enter(): void
  exit(keep: ReadonlySet<Allocation>): void
}

/** The allocations reachable from `value`, by `allocationOf` (which names a tensor's allocation). */
const reachable = <Allocation>(value: unknown, allocationOf: (v: object) => Allocation | undefined): Set<Allocation> => {
  const keep = new Set<Allocation>()
  const seen = new WeakSet<object>()
  const walk = (v: unknown): void => {
    if (typeof v !== "object" || v === null || seen.has(v)) return
    seen.add(v)
    const allocation = allocationOf(v)
    if (allocation !== undefined) {
      keep.add(allocation)
      return
    }
    for (const x of Array.isArray(v) ? v : Object.values(v)) walk(x)
  }
  walk(value)
  return keep
}

export const runScope = <A, Allocation>(arena: ScopeArena<Allocation>, allocationOf: (v: object) => Allocation | undefined, f: () => A): A => {
  arena.enter()
  let result: A
  try {
    result = f()
  } catch (error) {
    arena.exit(new Set())
    throw error
  }
  if (typeof (result as { then?: unknown } | null)?.then === "function") {
    arena.exit(new Set())
    throw new Error("scope: the function must be synchronous (it returned a promise)")
  }
  arena.exit(reachable(result, allocationOf))
  return result
}
