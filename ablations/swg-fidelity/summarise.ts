/**
 * The SWG fidelity ablation's table (issue #16): per task, SWG, SWG-R and diffusion BC under each arm (and IDQL and
 * QGPO, which sample the SWG model, under the reference and smooth arms: smooth-baselines.sh),
 * as mean ± standard error over the seeds that have a result file, seeds in brackets. The reference
 * arm is the main table (results/); the other arms are this folder's data-range/ and smooth/.
 * Usage (from the repository root; Node 24, as npm scripts get it): npx node ablations/swg-fidelity/summarise.ts > ablations/swg-fidelity/results.md
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { mean, standardError } from "../../src/domain/Statistics.ts"

const tasks = ["maze2d-umaze-v1", "maze2d-medium-v1", "halfcheetah-medium-v2", "hopper-medium-replay-v2", "walker2d-medium-expert-v2"]
const columns: ReadonlyArray<{ label: string; dir: string; method: string }> = [
  { label: "data", dir: "results", method: "data" },
  { label: "reference: SWG", dir: "results", method: "swg" },
  { label: "reference: SWG-R", dir: "results", method: "swg-r" },
  { label: "reference: BC", dir: "results", method: "diffusion-bc" },
  { label: "reference: IDQL", dir: "results", method: "idql" },
  { label: "reference: QGPO", dir: "results", method: "qgpo" },
  { label: "data-range: SWG", dir: "ablations/swg-fidelity/data-range", method: "swg" },
  { label: "data-range: SWG-R", dir: "ablations/swg-fidelity/data-range", method: "swg-r" },
  { label: "smooth: SWG", dir: "ablations/swg-fidelity/smooth", method: "swg" },
  { label: "smooth: SWG-R", dir: "ablations/swg-fidelity/smooth", method: "swg-r" },
  { label: "smooth: BC", dir: "ablations/swg-fidelity/smooth", method: "diffusion-bc" },
  { label: "smooth: IDQL", dir: "ablations/swg-fidelity/smooth", method: "idql" },
  { label: "smooth: QGPO", dir: "ablations/swg-fidelity/smooth", method: "qgpo" }
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
