/**
 * Diffusion-DICE's guide-then-select (Mao et al. 2024, §4.3) and its two ablations:
 *   - "d-dice": K guided candidates per state (the behaviour model with in-sample guidance), then one is selected;
 *   - "guide-only": one guided sample per state (K = 1), nothing to select;
 *   - "select-only": K behaviour samples (no guidance), then the same selection.
 * Selection, as the reference does it: on locomotion the argmax of the mean over the independent Q ensemble;
 * on Maze2D/AntMaze a draw from the categorical ∝ exp(Q₁(s, aᵢ) − max_j Q₁(s, aⱼ)) (temperature 1) over the
 * first head of the target twin Q. Candidates are not clipped (the environment clips).
 */
import * as Rng from "../domain/Rng.ts"
import type { RngKey } from "../domain/Rng.ts"
import type { Tensor, TensorBackend } from "../domain/TensorBackend.ts"
import * as Model from "../nn/Model.ts"
import * as Critic from "./Critic.ts"

export const DiceMethods = ["d-dice", "d-dice-guide-only", "d-dice-select-only"] as const
export type DiceMethod = (typeof DiceMethods)[number]

/** How one of K candidates is picked from its scores. */
export type Selection = "argmax" | "softmax"

/** Candidates per state and whether they are guided, for a method with K candidates configured. */
export const plan = (method: DiceMethod, candidates: number): { readonly candidates: number; readonly guided: boolean } => {
  switch (method) {
    case "d-dice":
      return { candidates, guided: true }
    case "d-dice-guide-only":
      return { candidates: 1, guided: true }
    case "d-dice-select-only":
      return { candidates, guided: false }
  }
}

/**
 * Picks one of K candidates in each of `rows` groups of scores [rows·K] (row r's candidates at r·K … r·K + K − 1);
 * returns the picked flat indices. argmax: the first highest score (non-finite scores lose unless all are);
 * softmax: a draw ∝ exp(score − max) with one uniform per row from `key`.
 */
export const pick = (scores: ArrayLike<number>, rows: number, k: number, selection: Selection, key: RngKey): Array<number> => {
  const u = new Float64Array(rows)
  Rng.fillUniform(key, u)
  return Array.from({ length: rows }, (_, r) => {
    let best = 0
    let top = -Infinity
    for (let j = 0; j < k; j++) {
      const s = scores[r * k + j]
      if (s > top) [best, top] = [j, s]
    }
    if (selection === "argmax" || !Number.isFinite(top)) return r * k + best
    let total = 0
    for (let j = 0; j < k; j++) total += Math.exp(scores[r * k + j] - top) || 0
    let acc = 0
    for (let j = 0; j < k; j++) {
      acc += Math.exp(scores[r * k + j] - top) || 0
      if (u[r] * total < acc) return r * k + j
    }
    return r * k + best
  })
}

/** Rows i·K … i·K + K − 1 repeat row i of x (the index upload goes back to the pool at once). */
export const repeatRows = (B: TensorBackend, x: Tensor, k: number): Tensor => {
  const index = B.upload(Float32Array.from({ length: x.rows * k }, (_, j) => Math.floor(j / k)), x.rows * k, 1)
  const out = B.gatherRows(x, index)
  B.dispose(index)
  return out
}

/** The critic's score of candidate actions [N, A] at states [N, S]: the ensemble mean (argmax) or Q₁ of the target (softmax). */
export const criticScores = (B: TensorBackend, critic: Critic.Critic, selection: Selection, observations: Tensor, actions: Tensor): Tensor =>
  B.scope(() => {
    if (selection === "argmax" && critic.ensemble !== undefined) {
      const p = Model.bind(B, critic.ensemble, critic.ensemble.params)
      return p.tape.reduce("mean", "cols", Critic.ensembleValues(p, critic.config, p.tape.leaf(observations), p.tape.leaf(actions))).value
    }
    const p = Model.bind(B, critic.q, critic.q.ema ?? critic.q.params)
    const q = Critic.qValues(p, critic.config, p.tape.leaf(observations), p.tape.leaf(actions))
    // without an ensemble, argmax ranks by min(Q₁, Q₂) of the target, as IDQL does
    return selection === "argmax" ? Critic.minQ(p.tape, q).value : B.sliceCols(q.value, 0, 1)
  })
