/**
 * Writes an example for `toy --data`: a 2-D density that is none of the built-in six, as the CSV files a user brings.
 * The "banana": x1 ~ N(0, 1), x2 = x1²/2 − 1 + 0.35·ε with ε ~ N(0, 1), and the energy e(x) = 1/(1 + exp(−2·x1)),
 * high on the right arm. Its exact tilted targets p(x)·exp(β·e(x))/Z come by rejection from the generator with
 * acceptance exp(β·(e − 1)) ≤ 1 (e < 1 everywhere), so the target file holds exact samples.
 *
 *   node scripts/toy-example-csv.ts [--out out/toy-byo] [--points 20000] [--target-rows 4000] [--betas 0,3]
 *
 * writes <out>/banana.csv (columns x1, x2, e) and <out>/banana-target.csv (columns x1, x2, beta).
 */
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import * as PointsCsv from "../src/data/PointsCsv.ts"
import * as Rng from "../src/domain/Rng.ts"
import type { ToySample } from "../src/domain/ToyData.ts"
import { writeTextAtomically } from "../src/services/Files.ts"

const { values } = parseArgs({
  options: {
    out: { type: "string", default: "out/toy-byo" },
    points: { type: "string", default: "20000" },
    "target-rows": { type: "string", default: "4000" },
    betas: { type: "string", default: "0,3" }
  }
})

/** n banana points with their energies, deterministic in `key`. */
const banana = (n: number, key: Rng.RngKey): ToySample => {
  const noise = new Float64Array(2 * n)
  Rng.fillNormal(key, noise)
  const points = new Float64Array(2 * n)
  const energy = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const x1 = noise[2 * i]
    points[2 * i] = x1
    points[2 * i + 1] = 0.5 * x1 * x1 - 1 + 0.35 * noise[2 * i + 1]
    energy[i] = 1 / (1 + Math.exp(-2 * x1))
  }
  return { points, energy }
}

/** n exact samples of banana(x)·exp(β·e(x))/Z: proposals from `banana`, each kept with probability exp(β·(e − 1)). */
const bananaTarget = (beta: number, n: number, key: Rng.RngKey): Float64Array => {
  const out = new Float64Array(2 * n)
  let filled = 0
  for (let round = 0; filled < n; round++) {
    const proposal = banana(4096, Rng.split(Rng.at(key, round), "proposal"))
    const u = new Float64Array(4096)
    Rng.fillUniform(Rng.split(Rng.at(key, round), "accept"), u)
    for (let i = 0; i < 4096 && filled < n; i++) {
      if (u[i] < Math.exp(beta * (proposal.energy[i] - 1))) {
        out[2 * filled] = proposal.points[2 * i]
        out[2 * filled + 1] = proposal.points[2 * i + 1]
        filled++
      }
    }
  }
  return out
}

const betas = values.betas.split(",").map(Number)
const data = join(values.out, "banana.csv")
const target = join(values.out, "banana-target.csv")
await Effect.runPromise(Effect.gen(function*() {
  yield* PointsCsv.writePoints(data, banana(Number(values.points), Rng.named(0, "banana-data")))
  const rows = Number(values["target-rows"])
  yield* writeTextAtomically(target, PointsCsv.formatTargets(betas.map((beta) => ({ beta, points: bananaTarget(beta, rows, Rng.named(0, `banana-target-${beta}`)) }))))
}))
console.log(`wrote ${data} and ${target} (exact targets at β = ${betas.join(", ")})`)
