/**
 * The built-in locomotion models (src/env/models/). Always: body masses against the capsule-volume
 * formula, and the sensitivity of the rollout comparison. When Gymnasium's model files are at hand
 * ($DGRL_MUJOCO_REFERENCE, else $DGRL_MUJOCO_ASSETS, else ../shared/assets/mujoco/ beside the
 * repository; they are not part of the project), each built model is compiled beside its reference
 * file and compared: dimensions, masses and inertias as MuJoCo computes them, every contact, joint and
 * actuator parameter, the timestep and integrator, and a 200-step rollout under fixed actions.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import type { MjModel } from "mujoco-js"
import * as Rng from "../../src/domain/Rng.ts"
import * as Locomotion from "../../src/env/Locomotion.ts"
import * as Mjcf from "../../src/env/models/Mjcf.ts"
import * as Mujoco from "../../src/env/Mujoco.ts"
import { assertClose } from "../fixtures/Tolerance.ts"

const tasks = ["halfcheetah", "hopper", "walker2d"] as const

/** A directory named by the environment must hold the files (a failure, not a skip, when it does not). */
const named = process.env.DGRL_MUJOCO_REFERENCE || process.env.DGRL_MUJOCO_ASSETS || undefined
const besideRepository = fileURLToPath(new URL("../../../shared/assets/mujoco/", import.meta.url))
const reference = named ?? (existsSync(besideRepository) ? besideRepository : undefined)
if (reference === undefined) {
  console.warn(
    `[LocomotionModels.test] skipping the comparison with the reference models: it needs Gymnasium's ` +
      `half_cheetah.xml, hopper.xml and walker2d.xml, in ${besideRepository} or a directory named by DGRL_MUJOCO_REFERENCE`
  )
}

let runtime: Mujoco.Runtime
beforeAll(async () => {
  runtime = await Mujoco.load()
})

const compileBuilt = (task: Locomotion.Task, model: Mjcf.Model = Locomotion.tasks[task].model): MjModel =>
  Mujoco.compile(runtime, `${task}-built`, Mjcf.toXml(model))

/**
 * qpos ‖ qvel after each of `steps` environment steps (frameSkip `mj_step`s each, ctrl held), from
 * qpos0 + 0.01·sin(k + 1), qvel = 0.1·cos(k + 1), under uniform actions in [−1, 1] from a fixed stream.
 * No termination: the whole 200 steps are compared even after a hopper falls.
 */
const rollout = (model: MjModel, frameSkip: number, steps = 200): Float64Array => {
  const { module } = runtime
  const data = new module.MjData(model)
  const { nq, nu, nv } = model
  const qpos0 = model.qpos0 as Float64Array
  for (let k = 0; k < nq; k++) (data.qpos as Float64Array)[k] = qpos0[k] + 0.01 * Math.sin(k + 1)
  for (let k = 0; k < nv; k++) (data.qvel as Float64Array)[k] = 0.1 * Math.cos(k + 1)
  module.mj_forward(model, data)
  const out = new Float64Array(steps * (nq + nv))
  const u = new Float64Array(nu)
  for (let t = 0; t < steps; t++) {
    Rng.fillUniform(Rng.at(Rng.named(0, "test.LocomotionModels.actions"), t), u)
    const ctrl = data.ctrl as Float64Array
    for (let k = 0; k < nu; k++) ctrl[k] = 2 * u[k] - 1
    for (let s = 0; s < frameSkip; s++) module.mj_step(model, data)
    out.set(data.qpos as Float64Array, t * (nq + nv))
    out.set(data.qvel as Float64Array, t * (nq + nv) + nq)
  }
  data.delete()
  return out
}

const maxAbsDiff = (a: Float64Array, b: Float64Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0)

/** Mass of a capsule of radius r and cylinder length ℓ at density ρ: ρ·(πr²ℓ + 4/3·πr³). */
const capsuleMass = (r: number, length: number, density = 1000): number =>
  density * (Math.PI * r * r * length + (4 / 3) * Math.PI * r ** 3)

/**
 * Per body (world first, then in tree order) its capsules' (radius, length), from the published
 * figures: hopper and walker segment end points, halfcheetah radii 0.046 and half-lengths.
 */
const capsules: Record<Locomotion.Task, ReadonlyArray<ReadonlyArray<readonly [number, number]>>> = {
  hopper: [[], [[0.05, 1.45 - 1.05]], [[0.05, 1.05 - 0.6]], [[0.04, 0.6 - 0.1]], [[0.06, 0.26 + 0.13]]],
  walker2d: [
    [],
    [[0.05, 0.4]],
    ...[0, 1].flatMap(() => [[[0.05, 0.45]], [[0.04, 0.5]], [[0.06, 0.2]]] as const)
  ],
  halfcheetah: [[], [[0.046, 1], [0.046, 0.3]], [[0.046, 0.29]], [[0.046, 0.3]], [[0.046, 0.188]], [[0.046, 0.266]], [
    [0.046, 0.212]
  ], [[0.046, 0.14]]]
}

describe("built locomotion models, without reference files", () => {
  it("body masses are ρ·(πr²ℓ + 4/3·πr³) of their capsules at ρ = 1000; halfcheetah's scaled to 14 kg in all", () => {
    for (const task of tasks) {
      const model = compileBuilt(task)
      let expected = capsules[task].map((parts) => parts.reduce((m, [r, length]) => m + capsuleMass(r, length), 0))
      if (task === "halfcheetah") {
        const total = expected.reduce((a, b) => a + b, 0)
        expected = expected.map((m) => (14 * m) / total)
      }
      assertClose(model.body_mass as Float64Array, expected, { atol: 1e-15, rtol: 1e-12 }, `${task} body_mass`)
      model.delete()
    }
  })

  it("the rollout comparison is sensitive: a 0.1% larger first gear moves the state by more than 1e-3", () => {
    for (const task of tasks) {
      const spec = Locomotion.tasks[task]
      const built = compileBuilt(task)
      const changed = compileBuilt(task, {
        ...spec.model,
        motors: spec.model.motors.map((motor, i) => (i === 0 ? { ...motor, gear: motor.gear * 1.001 } : motor))
      })
      assert.isAbove(maxAbsDiff(rollout(built, spec.frameSkip), rollout(changed, spec.frameSkip)), 1e-3, task)
      built.delete()
      changed.delete()
    }
  })
})

/** Physics parameters compared after compilation, beyond the dimensions. */
const realFields = [
  "qpos0",
  "body_mass",
  "body_inertia",
  "body_ipos",
  "geom_size",
  "geom_friction",
  "geom_margin",
  "geom_solref",
  "geom_solimp",
  "jnt_range",
  "jnt_stiffness",
  "jnt_solref",
  "jnt_solimp",
  "dof_damping",
  "dof_armature",
  "actuator_gear",
  "actuator_ctrlrange"
] as const
const integerFields = ["geom_contype", "geom_conaffinity", "geom_condim", "jnt_type", "jnt_limited", "actuator_ctrllimited"] as const

describe.skipIf(reference === undefined)("built locomotion models against the reference files", () => {
  const compileReference = (task: Locomotion.Task): MjModel =>
    Mujoco.compile(runtime, `${task}-reference`, readFileSync(join(reference ?? "", Locomotion.tasks[task].file), "utf8"))

  for (const task of tasks) {
    it(`${task}: same dimensions, masses, inertias and parameters (1e-9 relative), timestep and integrator`, () => {
      const built = compileBuilt(task)
      const ref = compileReference(task)
      for (const n of ["nq", "nv", "nu", "nbody", "ngeom", "njnt"] as const) assert.strictEqual(built[n], ref[n], n)
      assert.strictEqual(built.opt.timestep, ref.opt.timestep)
      assert.strictEqual(built.opt.integrator, ref.opt.integrator)
      assert.deepStrictEqual([...(built.opt.gravity as Float64Array)], [...(ref.opt.gravity as Float64Array)])
      // 1e-9 relative: far above the rounding of MuJoCo's mass and inertia computation (~1e-16), far
      // below any change of a published figure. atol only lets exact zeros (the world body) pass.
      for (const field of realFields) {
        assertClose(built[field] as Float64Array, ref[field] as Float64Array, { atol: 1e-15, rtol: 1e-9 }, `${task} ${field}`)
      }
      for (const field of integerFields) {
        assert.deepStrictEqual([...(built[field] as Int32Array)], [...(ref[field] as Int32Array)], `${task} ${field}`)
      }
      built.delete()
      ref.delete()
    })

    // Tolerance 0: the built model compiles to the same doubles as the reference (the test above
    // checks them to 1e-9; they are in fact equal), and one wasm build does the same arithmetic on
    // the same numbers. No looser tolerance would be meaningful: these rollouts are chaotic, a
    // 1-ulp change of the timestep grows to ~1e-13 (hopper), ~4e-12 (walker2d) and O(1)
    // (halfcheetah, from step ~100) by step 200, while a 0.1% gear change (checked above) gives > 1e-3.
    it(`${task}: a 200-step rollout under fixed actions matches bit for bit`, () => {
      const { frameSkip } = Locomotion.tasks[task]
      const built = compileBuilt(task)
      const ref = compileReference(task)
      const a = rollout(built, frameSkip)
      const b = rollout(ref, frameSkip)
      assert.strictEqual(maxAbsDiff(a, b), 0)
      assert.isTrue(a.every(Number.isFinite))
      built.delete()
      ref.delete()
    })
  }
})
