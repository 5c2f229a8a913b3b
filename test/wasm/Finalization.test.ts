/**
 * Tensors that garbage-collected code drops are freed by the arena's FinalizationRegistry, also
 * those made inside a scope and returned from it (registered only when they leave the outermost
 * scope), while tensors a scope frees itself are reused at once. Run in a child process with
 * --expose-gc, so that collections can be forced.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"

const backend = new URL("../../src/wasm/WasmBackend.ts", import.meta.url).pathname

const script = `
const W = await import(${JSON.stringify(backend)})
const B = W.make({ threads: 1 })
const settle = async () => { for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)) } }
const blocks = async (make) => {
  const before = B.stats().allocations
  for (let i = 0; i < 300; i++) {
    let t = make(i)
    t = undefined
    if (i % 25 === 24) await settle()
  }
  return B.stats().allocations - before
}
const out = {
  // returned from the outermost scope, then dropped: freed by the registry
  escaped: await blocks((i) => B.scope(() => B.affine(B.fill(64, 64, i), 2, 1))),
  // returned from a nested scope, then from the outer one
  nested: await blocks((i) => B.scope(() => B.scope(() => B.affine(B.fill(64, 64, i), 2, 1)))),
  // made outside any scope and dropped
  unscoped: await blocks((i) => B.fill(64, 64, i)),
  // a view returned from a scope keeps its owner's block until the view is dropped
  view: await blocks((i) => B.scope(() => B.view(B.fill(64, 128, i), 64, 64, 64)))
}
B.close()
console.log(JSON.stringify(out))
`

describe("wasm memory and garbage collection", () => {
  it("tensors dropped by their holders are freed, whether made in a scope or not", () => {
    const output = execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8" })
    const blocks = JSON.parse(output.trim().split("\n").at(-1)!) as Record<string, number>
    // 300 tensors each; freed ones are reused, so new blocks stay far below 300 (a leak takes one per tensor).
    for (const [kind, n] of Object.entries(blocks)) expect(n, kind).toBeLessThan(100)
  })
})
