/**
 * The WASM backend's memory: a training-like loop inside `scope` takes no new blocks after its
 * first step, scopes keep what their result reaches and free the rest, freed blocks are reused,
 * views read and write their owner's storage (also as matmul operands), and misuse throws
 * ShapeError naming the op (IndexOutOfRange for a bad gather/scatter index). The emitted module validates with and without relaxed-SIMD FMA.
 */
import { assert, describe, it } from "@effect/vitest"
import { IndexOutOfRange, ShapeError } from "../../src/domain/Ops.ts"
import * as Kernels from "../../src/wasm/Kernels.ts"
import { sizeClass } from "../../src/wasm/Memory.ts"
import { flatMlpBuffers, flatMlpStep } from "../fixtures/ParityPrograms.ts"
import { assertClose, tolerances } from "../fixtures/Tolerance.ts"
import { cpu, randomData, wasm as B } from "./Parity.ts"

const expectShapeError = (op: string, f: () => unknown, detail: RegExp): void => {
  let thrown: unknown
  try {
    f()
  } catch (error) {
    thrown = error
  }
  assert.instanceOf(thrown, ShapeError, `${op}: expected a ShapeError, got ${String(thrown)}`)
  assert.strictEqual((thrown as ShapeError).op, op)
  assert.match((thrown as ShapeError).message, detail)
}

describe("wasm engine", () => {
  it("the kernel module validates with relaxed-SIMD FMA and without it", () => {
    assert.isTrue(WebAssembly.validate(Kernels.moduleBytes(true)))
    assert.isTrue(WebAssembly.validate(Kernels.moduleBytes(false)))
  })

  it("size classes are at most 25 % above the request and multiples of 64 bytes", () => {
    for (let bytes = 1; bytes < 1e6; bytes = Math.ceil(bytes * 1.37)) {
      const c = sizeClass(bytes)
      assert.isTrue(c >= bytes && c % 64 === 0 && (bytes <= 256 || c <= 1.25 * bytes), `${bytes} → ${c}`)
    }
  })

  it("a training-like loop inside scope takes no new blocks after its first step and matches the CPU", async () => {
    const [params, grads, m, v] = flatMlpBuffers(B)
    const [cp, cg, cm, cv] = flatMlpBuffers(cpu)
    const allocations: Array<number> = []
    for (let step = 0; step < 6; step++) {
      const loss = B.scope(() => flatMlpStep(B, params, grads, m, v, step))
      const want = cpu.scope(() => flatMlpStep(cpu, cp, cg, cm, cv, step))
      assertClose(await B.read(loss), await cpu.read(want), tolerances.losses, `loss at step ${step}`)
      B.dispose(loss)
      allocations.push(B.stats().allocations)
    }
    assert.deepStrictEqual(allocations.slice(1), allocations.slice(1).map(() => allocations[0]), `blocks per step: ${allocations}`)
    assertClose(await B.read(params), await cpu.read(cp), { atol: 1e-5, rtol: 1e-4 }, "parameters after 6 steps")
    for (const t of [params, grads, m, v]) B.dispose(t)
  })

  it("scope keeps what its result reaches (nested, in arrays and objects) and frees the rest", async () => {
    const result = B.scope(() => {
      const inner = B.scope(() => {
        const a = B.fill(2, 3, 1)
        B.fill(2, 3, 2)
        return { kept: [a] }
      })
      B.fill(4, 4, 3)
      return { a: inner.kept[0], b: B.affine(inner.kept[0], 2, 1) }
    })
    assertClose(await B.read(result.a), new Float32Array(6).fill(1), tolerances.elementwise, "a")
    assertClose(await B.read(result.b), new Float32Array(6).fill(3), tolerances.elementwise, "b")
    // What the outer scope freed (its [4, 4]; the inner one's block went to b) is reused.
    const before = B.stats().allocations
    const reused = [B.fill(4, 4, 7)]
    assert.strictEqual(B.stats().allocations, before)
    assertClose(await B.read(reused[0]), new Float32Array(16).fill(7), tolerances.elementwise, "reused block")
    for (const t of [result.a, result.b, ...reused]) B.dispose(t)
    expectShapeError("read", () => B.read(result.a), /disposed/)
  })

  it("views read and write their owner's storage, also as matmul operands and outputs of copyInto", async () => {
    const flat = B.upload(randomData(4, 64 + 12 * 7 + 64), 1, 64 + 12 * 7 + 64)
    const w = B.view(flat, 64, 12, 7)
    const x = randomData(5, 9 * 12)
    const got = B.matmul(B.upload(x, 9, 12), w, { transB: false }).out
    const host = (await B.read(flat)).subarray(64, 64 + 84)
    const want = cpu.matmul(cpu.upload(x, 9, 12), cpu.upload(host, 12, 7)).out
    assertClose(await B.read(got), await cpu.read(want), tolerances.matmul, "matmul with a view operand")
    B.copyInto(B.view(flat, 128, 1, 5), B.fill(1, 5, 9))
    assert.deepStrictEqual(Array.from((await B.read(flat)).subarray(128, 133)), [9, 9, 9, 9, 9])
    expectShapeError("view", () => B.view(flat, 3, 1, 1), /multiple of 64/)
    expectShapeError("view", () => B.view(flat, 128, 100, 100), /does not fit/)
  })

  it("shape mismatches and foreign tensors throw ShapeError naming the op", () => {
    expectShapeError("matmul", () => B.matmul(B.zeros(2, 3), B.zeros(4, 5)), /inner dimensions/)
    expectShapeError("matmul", () => B.matmul(B.zeros(2, 3), B.zeros(3, 5), { bias: B.zeros(1, 4) }), /bias/)
    expectShapeError("add", () => B.binary("add", B.zeros(2, 3), B.zeros(3, 2)), /broadcast/)
    expectShapeError("matmul", () => B.matmul(cpu.zeros(2, 3), B.zeros(3, 5)), /another backend/)
    // A bad index is IndexOutOfRange, as on the CPU.
    assert.throws(() => B.gatherRows(B.zeros(2, 3), B.fill(1, 1, 5)), IndexOutOfRange)
    assert.throws(() => B.scatterAddRows(B.zeros(1, 3), B.fill(1, 1, -1), 4), IndexOutOfRange)
  })
})

describe("wasm packed-operand cache", () => {
  it("a right operand reused unchanged gives the same products, and every in-place write is seen", async () => {
    const [m, k, n] = [5, 37, 29]
    const flat = B.upload(randomData(1, 64 + k * n), 1, 64 + k * n)
    const w = B.view(flat, 64, k, n)
    const x = B.upload(randomData(2, m * k), m, k)
    const xt = B.upload(randomData(3, m * n), m, n)
    /** x·W and xt·Wᵀ on the WASM backend against the CPU on W's current contents. */
    const check = async (label: string) => {
      const host = (await B.read(flat)).slice(64)
      const wc = cpu.upload(host, k, n)
      const want = [cpu.matmul(cpu.upload(await B.read(x), m, k), wc).out, cpu.matmul(cpu.upload(await B.read(xt), m, n), wc, { transB: true }).out]
      const got = [B.matmul(x, w).out, B.matmul(xt, w, { transB: true }).out]
      for (let i = 0; i < 2; i++) assertClose(await B.read(got[i]), await cpu.read(want[i]), tolerances.matmul, `${label} product ${i}`)
    }
    // First, second (packs) and third (reuses) use.
    for (const use of [1, 2, 3]) await check(`use ${use}`)
    const grad = B.upload(randomData(4, 64 + k * n), 1, 64 + k * n)
    const [mom, vel] = [B.zeros(1, 64 + k * n), B.zeros(1, 64 + k * n)]
    const writes: ReadonlyArray<readonly [string, () => void]> = [
      ["adamw", () => B.adamw(flat, grad, mom, vel, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 })],
      ["ema", () => B.ema(flat, grad, 0.5)],
      ["copyInto a view", () => B.copyInto(B.view(flat, 64, 1, n), B.fill(1, n, 3))],
      ["write", () => B.write(flat, randomData(5, 64 + k * n))]
    ]
    for (const [name, write] of writes) {
      write()
      for (const use of [1, 2, 3]) await check(`after ${name}, use ${use}`)
    }
  })
})
