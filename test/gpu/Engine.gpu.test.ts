/**
 * The GPU backend's machinery: a training-like loop allocates nothing after its first step, scopes
 * release what their result does not reach, host writes respect queue order, shape errors throw
 * ShapeError before anything reaches Dawn, and a broken kernel fails the layer naming it.
 */
import { assert } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import { ShapeError } from "../../src/domain/Ops.ts"
import type { Tensor, TensorBackend } from "../../src/domain/TensorBackend.ts"
import { dawnOptions, Gpu, GpuError } from "../../src/services/Gpu.ts"
import { cpu, describeGpu, randomData } from "../fixtures/GpuTest.ts"
import { flatMlpBuffers, flatMlpStep } from "../fixtures/ParityPrograms.ts"
import { assertClose, tolerances } from "../fixtures/Tolerance.ts"

const expectShapeError = (B: TensorBackend, op: string, shapes: ReadonlyArray<string>, f: () => unknown): void => {
  const before = B.stats().dispatches
  let thrown: unknown
  try {
    f()
  } catch (error) {
    thrown = error
  }
  assert.instanceOf(thrown, ShapeError, `${op}: expected a ShapeError, got ${String(thrown)}`)
  const error = thrown as ShapeError
  assert.strictEqual(error.op, op)
  for (const shape of shapes) assert.include(error.message, shape, `${op}: message names ${shape}`)
  assert.strictEqual(B.stats().dispatches, before, `${op}: no dispatch recorded`)
}

describeGpu("engine", (it) => {
  it.effect("a training-like loop inside scope allocates no buffers after its first step", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const [params, grads, m, v] = flatMlpBuffers(B)
      const losses: Array<number> = []
      const allocations: Array<number> = []
      for (let step = 0; step < 6; step++) {
        const loss = B.scope(() => flatMlpStep(B, params, grads, m, v, step))
        losses.push((yield* Effect.promise(() => B.read(loss)))[0])
        B.dispose(loss)
        allocations.push(B.stats().allocations)
      }
      assert.deepStrictEqual(allocations.slice(1), allocations.slice(1).map(() => allocations[0]), `allocations per step: ${allocations}`)
      assert.isTrue(losses.every(Number.isFinite), `losses ${losses}`)
      // The same steps on the CPU reference give the same losses.
      const [cp, cg, cm, cv] = flatMlpBuffers(cpu)
      const cpuLosses: Array<number> = []
      for (let step = 0; step < 6; step++) {
        cpuLosses.push((yield* Effect.promise(() => cpu.read(flatMlpStep(cpu, cp, cg, cm, cv, step))))[0])
      }
      assertClose(losses, cpuLosses, tolerances.losses, "losses")
      for (const t of [params, grads, m, v]) B.dispose(t)
    }))

  it.effect("scope keeps what its result reaches (nested, in arrays and objects) and releases the rest", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const result = B.scope(() => {
        const inner = B.scope(() => {
          const a = B.fill(2, 3, 1)
          B.fill(2, 3, 2)
          return { kept: [a] }
        })
        B.fill(4, 4, 3)
        return { a: inner.kept[0], b: B.affine(inner.kept[0], 2, 1) }
      })
      assertClose(yield* Effect.promise(() => B.read(result.a)), new Float32Array(6).fill(1), tolerances.elementwise, "a")
      assertClose(yield* Effect.promise(() => B.read(result.b)), new Float32Array(6).fill(3), tolerances.elementwise, "b")
      B.dispose(result.a)
      B.dispose(result.b)
      assert.throws(() => B.read(result.a), /disposed/)
    }))

  it.effect("host writes and pooled reuse respect queue order", () =>
    Effect.gen(function*() {
      const { backend: B } = yield* Gpu
      const x1 = randomData(1, 300)
      const x2 = randomData(2, 300)
      const a = B.upload(x1, 10, 30)
      const b = B.unary("exp", a)
      B.write(a, x2)
      const c = B.scope(() => B.unary("relu", B.upload(x1, 10, 30)))
      const d = B.upload(x2, 10, 30)
      const read = (t: Tensor) => Effect.promise(() => B.read(t))
      const ref = (f: (X: TensorBackend) => Tensor) => Effect.promise(() => cpu.read(f(cpu)))
      assertClose(yield* read(b), yield* ref((X) => X.unary("exp", X.upload(x1, 10, 30))), tolerances.transcendental, "exp before write")
      assertClose(yield* read(a), x2, tolerances.elementwise, "written")
      assertClose(yield* read(c), yield* ref((X) => X.unary("relu", X.upload(x1, 10, 30))), tolerances.elementwise, "relu before reuse")
      assertClose(yield* read(d), x2, tolerances.elementwise, "reused buffer")
      const shared = new Float32Array(new SharedArrayBuffer(300 * 4))
      shared.set(x1)
      const e = B.upload(shared, 10, 30)
      assertClose(yield* read(e), x1, tolerances.elementwise, "upload from a SharedArrayBuffer")
      for (const t of [a, b, c, d, e]) B.dispose(t)
    }))

  it.effect("shape mismatches throw ShapeError naming the op and shapes, with nothing dispatched", () =>
    Effect.gen(function*() {
      const { backend: B, device } = yield* Gpu
      B.flush()
      device.pushErrorScope("validation")
      B.scope(() => {
        const t23 = B.zeros(2, 3)
        const t32 = B.zeros(3, 2)
        const t22 = B.zeros(2, 2)
        const s11 = B.zeros(1, 1)
        expectShapeError(B, "matmul", ["[2, 3]", "[2, 3]"], () => B.matmul(t23, t23))
        expectShapeError(B, "matmul", ["bias", "[1, 2]"], () => B.matmul(t23, t32, { bias: t22 }))
        expectShapeError(B, "add", ["[2, 3]", "[3, 2]"], () => B.binary("add", t23, t32))
        expectShapeError(B, "mulBackward", ["[2, 3]", "[2, 2]"], () => B.binaryBackward("mul", t23, t23, t22))
        expectShapeError(B, "tanhBackward", ["[2, 3]", "[3, 2]"], () => B.unaryBackward("tanh", t23, t32))
        expectShapeError(B, "clampBackward", ["[2, 3]", "[2, 2]"], () => B.clampBackward(t23, 0, 1, t22))
        expectShapeError(B, "broadcastTo", ["[2, 3]"], () => B.broadcastTo(t23, 4, 3))
        expectShapeError(B, "concatCols", ["[2, 3]", "[3, 2]"], () => B.concatCols([t23, t32]))
        expectShapeError(B, "sliceCols", ["[2, 3]"], () => B.sliceCols(t23, 2, 2))
        expectShapeError(B, "padCols", ["[2, 3]"], () => B.padCols(t23, 1, 3))
        expectShapeError(B, "gatherRows", ["[2, 3]"], () => B.gatherRows(t23, t23))
        expectShapeError(B, "scatterAddRows", ["[2, 1]", "[1, 1]"], () => B.scatterAddRows(t23, s11, 4))
        expectShapeError(B, "copyInto", ["[2, 3]", "[3, 2]"], () => B.copyInto(t23, t32))
        expectShapeError(B, "layerNorm", ["gamma", "[1, 3]", "[2, 2]"], () => B.layerNorm(t23, t22, undefined, 1e-5))
        expectShapeError(B, "layerNormBackward", ["mean", "[2, 1]", "[1, 1]"], () => B.layerNormBackward(t23, t23, undefined, s11, s11, true))
        expectShapeError(B, "dropout", ["1"], () => B.dropout(t23, 1, { seed: 0, stream: 0, offset: 0 }))
        expectShapeError(B, "mseLoss", ["[2, 3]", "[3, 2]"], () => B.mseLoss(t23, t32, undefined))
        expectShapeError(B, "mseLoss", ["weight", "[2, 1]", "[2, 2]"], () => B.mseLoss(t23, t23, t22))
        expectShapeError(B, "mseLossBackward", ["dLoss", "[1, 1]", "[2, 2]"], () => B.mseLossBackward(t23, t23, undefined, t22))
        expectShapeError(B, "expectileLossBackward", ["dLoss", "[2, 3]"], () => B.expectileLossBackward(t23, 0.7, t23))
        expectShapeError(B, "adamw", ["[2, 3]", "[3, 2]"], () =>
          B.adamw(t23, t23, t32, t23, { lr: 1, beta1: 0.9, beta2: 0.9, eps: 1, weightDecay: 0, step: 1 }))
        expectShapeError(B, "ema", ["[2, 3]", "[2, 2]"], () => B.ema(t23, t22, 0.5))
        const u23 = B.zeros(2, 3)
        expectShapeError(B, "adamw", ["share storage"], () =>
          B.adamw(t23, u23, t23, u23, { lr: 1, beta1: 0.9, beta2: 0.9, eps: 1, weightDecay: 0, step: 1 }))
        expectShapeError(B, "copyInto", ["share storage"], () => B.copyInto(t23, t23))
        const flat = B.zeros(1, 192)
        expectShapeError(B, "ema", ["share storage"], () => B.ema(B.view(flat, 0, 1, 128), B.view(flat, 64, 1, 128), 0.5))
        expectShapeError(B, "view", ["[2, 2]", "32"], () => B.view(t23, 32, 2, 2))
        expectShapeError(B, "upload", ["[2, 3]"], () => B.upload(new Float32Array(5), 2, 3))
        expectShapeError(B, "write", ["[2, 3]"], () => B.write(t23, new Float32Array(5)))
        expectShapeError(B, "zeros", ["rows"], () => B.zeros(0, 3))
        expectShapeError(B, "matmul", ["another backend"], () => B.matmul(cpu.zeros(2, 2), t22))
        return undefined
      })
      B.flush()
      const error = yield* Effect.promise(() => device.popErrorScope())
      assert.isNull(error, `Dawn reported ${error?.message}`)
    }))

  it.effect("a WGSL syntax error fails the Gpu layer with ShaderCompilation naming the kernel", () =>
    Effect.gen(function*() {
      const broken = Gpu.layerWith({
        patch: (spec) => (spec.name === "layerNorm" ? { ...spec, code: `${spec.code}\nfn broken( {` } : spec)
      })
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(broken)))
      assert.isTrue(Exit.isFailure(exit), "the layer should fail")
      const error = yield* Effect.flip(Effect.scoped(Layer.build(broken)))
      assert.instanceOf(error, GpuError)
      assert.strictEqual(error.reason._tag, "ShaderCompilation")
      if (error.reason._tag === "ShaderCompilation") assert.strictEqual(error.reason.kernel, "layerNorm")
      assert.include(error.message, "layerNorm")
    }))

  it.effect("Dawn toggles (the option or DGRL_DAWN_TOGGLES) reach the device: with skip_validation an invalid buffer is no validation error", () =>
    Effect.gen(function*() {
      const invalidBufferError = (layer: Layer.Layer<Gpu, GpuError>) =>
        Effect.scoped(Effect.gen(function*() {
          const { device } = Context.get(yield* Layer.build(layer), Gpu)
          device.pushErrorScope("validation")
          // MAP_READ may only be combined with COPY_DST.
          device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE })
          return yield* Effect.promise(() => device.popErrorScope())
        }))
      const saved = process.env.DGRL_DAWN_TOGGLES
      try {
        delete process.env.DGRL_DAWN_TOGGLES
        const description = (layer: Layer.Layer<Gpu, GpuError>) =>
          Effect.map(Effect.scoped(Layer.build(layer)), (context) => Context.get(context, Gpu).backend.description)
        assert.include(yield* description(Gpu.layer), "Dawn toggles disable_robustness,disable_workgroup_init", "the default toggles")
        assert.isNotNull(yield* invalidBufferError(Gpu.layer), "the default toggles keep validation")
        assert.notInclude(yield* description(Gpu.layerWith({ toggles: [] })), "Dawn toggles")
        process.env.DGRL_DAWN_TOGGLES = ""
        assert.notInclude(yield* description(Gpu.layer), "Dawn toggles", "DGRL_DAWN_TOGGLES= means none")
        assert.isNull(yield* invalidBufferError(Gpu.layerWith({ toggles: ["skip_validation"] })), "skip_validation reached Dawn")
        process.env.DGRL_DAWN_TOGGLES = "disable_robustness, skip_validation"
        assert.isNull(yield* invalidBufferError(Gpu.layer), "DGRL_DAWN_TOGGLES reached Dawn")
        assert.include(yield* description(Gpu.layer), "Dawn toggles disable_robustness,skip_validation")
        process.env.DGRL_DAWN_TOGGLES = "skip_validation,no_such_toggle"
        const error = yield* Effect.flip(Effect.scoped(Layer.build(Gpu.layer)))
        assert.strictEqual(error.reason._tag, "UnknownToggle")
        assert.include(error.message, `unknown Dawn toggle "no_such_toggle"`)
      } finally {
        if (saved === undefined) delete process.env.DGRL_DAWN_TOGGLES
        else process.env.DGRL_DAWN_TOGGLES = saved
      }
      assert.deepStrictEqual(dawnOptions(["skip_validation", "disable_robustness"]), ["enable-dawn-features=skip_validation,disable_robustness"])
      assert.deepStrictEqual(dawnOptions([]), [])
    }))
})
