/**
 * Locomotion data in D4RL's conventions (collect_data.py): next observations, timeouts at 1000 steps, terminals on
 * termination, infos/qpos and infos/qvel matching the observations, noisy linear behaviour, determinism; and the
 * medium-replay rollout selection.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fc from "fast-check"
import * as Ars from "../../src/datagen/Ars.ts"
import * as LocomotionData from "../../src/datagen/LocomotionData.ts"
import type * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import { Environments } from "../../src/env/Environments.ts"
import { Progress } from "../../src/services/Progress.ts"

const f32 = (t: OfflineDataset.Tensor): Float32Array => t.data as Float32Array

const sameArray = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.prototype.every.call(a, (x: number, i: number) => Object.is(x, b[i]))

/** Checks obs = qpos[1:] ‖ clip(qvel, ±bound) (in f32) and s'_i = s_{i+1} inside episodes. */
const checkConsistency = (ds: OfflineDataset.OfflineDataset, nq: number, nv: number, bound: number): void => {
  const o = ds.observationDim
  const qpos = f32(ds.infos.qpos)
  const qvel = f32(ds.infos.qvel)
  const next = ds.nextObservations
  assert.isDefined(next)
  for (let i = 0; i < ds.size; i++) {
    for (let k = 1; k < nq; k++) {
      if (ds.observations[i * o + k - 1] !== qpos[i * nq + k]) assert.fail(`row ${i}: observation ≠ qpos[${k}]`)
    }
    for (let k = 0; k < nv; k++) {
      const v = Math.fround(Math.min(bound, Math.max(-bound, qvel[i * nv + k])))
      if (ds.observations[i * o + nq - 1 + k] !== v) assert.fail(`row ${i}: observation ≠ clip(qvel[${k}])`)
    }
    const ended = ds.terminals[i] === 1 || ds.timeouts[i] === 1
    if (!ended && i + 1 < ds.size && next !== undefined) {
      if (!sameArray(next.subarray(i * o, (i + 1) * o), ds.observations.subarray((i + 1) * o, (i + 2) * o))) {
        assert.fail(`row ${i}: next observation ≠ the following row's observation`)
      }
    }
  }
}

describe("LocomotionData.selectRollouts", () => {
  it("keeps everything that fits, else whole rollouts up to the size, each left-out one too long to add", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 2, maxLength: 2 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 800 }),
        fc.nat(),
        (lengths, size, seed) => {
          const masks = LocomotionData.selectRollouts(lengths, size, seed)
          const total = lengths.flat().reduce((s, l) => s + l, 0)
          let kept = 0
          masks.forEach((mask, j) => mask.forEach((keep, m) => (kept += keep * lengths[j][m])))
          if (total <= size) return kept === total && masks.every((mask) => mask.every((keep) => keep === 1))
          const leftOutFits = masks.some((mask, j) => Array.from(mask).some((keep, m) => keep === 0 && kept + lengths[j][m] <= size))
          const again = LocomotionData.selectRollouts(lengths, size, seed)
          return kept <= size && !leftOutFits && again.every((mask, j) => sameArray(mask, masks[j]))
        }
      )
    )
  })
})

describe("LocomotionData.collect", () => {
  layer(Layer.mergeAll(Environments.layer, Progress.layerSilent))((it) => {
    it.effect("halfcheetah, uniform: timeouts every 1000 steps, no terminals, the last episode cut, deterministic", () =>
      Effect.gen(function*() {
        const part: LocomotionData.RolloutPart = {
          kind: "rollouts",
          task: "halfcheetah",
          size: 2500,
          seed: 5,
          batch: 2,
          behaviour: { kind: "uniform" }
        }
        const ds = yield* LocomotionData.collect(part)
        assert.strictEqual(ds.size, 2500)
        assert.deepStrictEqual([ds.observationDim, ds.actionDim], [17, 6])
        assert.deepStrictEqual(ds.infos.qpos.shape, [2500, 9])
        assert.deepStrictEqual(ds.infos.qvel.shape, [2500, 9])
        const timeouts = ds.timeouts.reduce<Array<number>>((out, t, i) => (t === 1 ? [...out, i] : out), [])
        assert.deepStrictEqual(timeouts, [999, 1999])
        assert.isTrue(ds.terminals.every((t) => t === 0))
        assert.isTrue(ds.actions.every((a) => a >= -1 && a <= 1))
        checkConsistency(ds, 9, 9, Infinity)
        assert.strictEqual(ds.metadata.env_name, "halfcheetah-v2")
        const again = yield* LocomotionData.collect(part)
        for (const key of ["observations", "actions", "rewards", "nextObservations"] as const) {
          assert.isTrue(sameArray(ds[key] ?? [], again[key] ?? []), key)
        }
        const other = yield* LocomotionData.collect({ ...part, seed: 6 })
        assert.isFalse(sameArray(ds.observations, other.observations))
      }))

    it.effect("hopper, uniform: a terminal ends every episode, velocities clipped at ±10 in observations", () =>
      Effect.gen(function*() {
        const ds = yield* LocomotionData.collect({
          kind: "rollouts",
          task: "hopper",
          size: 600,
          seed: 1,
          batch: 4,
          behaviour: { kind: "uniform" }
        })
        const terminals = ds.terminals.reduce((s, t) => s + t, 0)
        assert.isAbove(terminals, 5)
        assert.strictEqual(ds.timeouts.reduce((s, t) => s + t, 0), 0)
        checkConsistency(ds, 6, 6, 10)
      }))

    it.effect("a linear behaviour acts clip(M·((s − μ) ⊙ invStd) + σ·ε, ±1); σ = 0 gives the policy's own action", () =>
      Effect.gen(function*() {
        const weights = Array.from({ length: 6 * 17 }, (_, q) => Math.sin(q) * 0.8)
        const policy: Ars.LinearPolicy = {
          observationDim: 17,
          actionDim: 6,
          weights,
          mean: new Array(17).fill(0.1),
          invStd: new Array(17).fill(2)
        }
        const part = (actionNoise: number): LocomotionData.RolloutPart => ({
          kind: "rollouts",
          task: "halfcheetah",
          size: 300,
          seed: 2,
          batch: 1,
          behaviour: { kind: "linear", role: "expert", iteration: 0, evalReturn: 0, policy, actionNoise }
        })
        const exact = yield* LocomotionData.collect(part(0))
        const actions = new Float64Array(6)
        for (let i = 0; i < exact.size; i++) {
          Ars.act(policy, Float64Array.from(exact.observations.subarray(17 * i, 17 * i + 17)), actions)
          for (let k = 0; k < 6; k++) {
            // the policy saw the f64 observation; the file holds its f32 rounding, hence the tolerance
            assert.closeTo(exact.actions[6 * i + k], Math.min(1, Math.max(-1, actions[k])), 1e-4)
          }
        }
        const noisy = yield* LocomotionData.collect(part(0.1))
        assert.isFalse(sameArray(exact.actions, noisy.actions))
        assert.deepStrictEqual(noisy.metadata["policy/action_noise"], 0.1)
        assert.deepStrictEqual((noisy.metadata["policy/weights"] as OfflineDataset.Tensor).shape, [6, 17])
      }))
  })
})
