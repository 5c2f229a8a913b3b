/**
 * The SWG fidelity ablation's table (issue #16): per task, the columns that sample the SWG model (SWG, SWG-R,
 * diffusion BC, IDQL, QGPO) under each arm, as mean ± standard error over the seeds that have a result file, seeds in
 * brackets. The default arm (reference clip, smooth expectile) is the main table (results/); the hard-expectile arm is
 * this folder's hard/, the data-range clip (with hard expectile weights, the agent before issue #16) its data-range/,
 * and the follow-up arm with κ = 10 (kappa10.sh) its kappa10/.
 * Usage (from the repository root; Node 24, as npm scripts get it): npx node ablations/swg-fidelity/summarise.ts > ablations/swg-fidelity/results.md
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { mean, standardError } from "../../src/domain/Statistics.ts"

const tasks = ["maze2d-umaze-v1", "maze2d-medium-v1", "halfcheetah-medium-v2", "hopper-medium-replay-v2", "walker2d-medium-expert-v2"]
const columns: ReadonlyArray<{ label: string; dir: string; method: string }> = [
  { label: "data", dir: "results", method: "data" },
  { label: "smooth (default): SWG", dir: "results", method: "swg" },
  { label: "smooth: SWG-R", dir: "results", method: "swg-r" },
  { label: "smooth: BC", dir: "results", method: "diffusion-bc" },
  { label: "smooth: IDQL", dir: "results", method: "idql" },
  { label: "smooth: QGPO", dir: "results", method: "qgpo" },
  { label: "hard: SWG", dir: "ablations/swg-fidelity/hard", method: "swg" },
  { label: "hard: SWG-R", dir: "ablations/swg-fidelity/hard", method: "swg-r" },
  { label: "hard: BC", dir: "ablations/swg-fidelity/hard", method: "diffusion-bc" },
  { label: "hard: IDQL", dir: "ablations/swg-fidelity/hard", method: "idql" },
  { label: "hard: QGPO", dir: "ablations/swg-fidelity/hard", method: "qgpo" },
  { label: "data-range + hard: SWG", dir: "ablations/swg-fidelity/data-range", method: "swg" },
  { label: "data-range + hard: SWG-R", dir: "ablations/swg-fidelity/data-range", method: "swg-r" },
  { label: "smooth κ = 10: SWG", dir: "ablations/swg-fidelity/kappa10", method: "swg" },
  { label: "smooth κ = 10: SWG-R", dir: "ablations/swg-fidelity/kappa10", method: "swg-r" },
  { label: "smooth κ = 10: BC", dir: "ablations/swg-fidelity/kappa10", method: "diffusion-bc" }
]

/** The normalised scores of one (dir, task, method) over the seeds that have a result file. */
const scores = (dir: string, task: string, method: string): Array<number> => {
  const folder = join(dir, task)
  if (!existsSync(folder)) return []
  const pattern = new RegExp(`^${method}-seed(\\d+)\\.json$`)
  return readdirSync(folder).filter((f) => pattern.test(f)).sort()
    .map((f) => JSON.parse(readFileSync(join(folder, f), "utf8")).normalizedScore as number | null)
    .filter((s): s is number => s !== null)
}

const cell = (xs: ReadonlyArray<number>): string =>
  xs.length === 0 ? "—" : `${mean(xs).toFixed(1)} ± ${(xs.length > 1 ? standardError(xs) : 0).toFixed(1)} (${xs.length})`

const rows = tasks.map((task) => `| ${task} | ${columns.map((c) => cell(scores(c.dir, task, c.method))).join(" | ")} |`)
console.log([
  `| task | ${columns.map((c) => c.label).join(" | ")} |`,
  `| --- | ${columns.map(() => "---").join(" | ")} |`,
  ...rows
].join("\n"))
