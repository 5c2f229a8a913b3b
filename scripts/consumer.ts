/**
 * `npm run consumer`: tests the package as it is published. Builds dist/ (scripts/build.ts), packs
 * the tarball (`npm pack`), installs it into a copy of test/consumer/ in an empty temporary folder,
 * type-checks the consumer's program against the packed declarations, trains a tiny run directory
 * (test/fixtures/TinyRun.ts) and runs the consumer's program on it: an Effect program that provides
 * the Backend layer, loads the trained SWG agent and asks it for actions (test/consumer/main.ts says
 * what it checks). Exits non-zero when any step fails.
 *
 * Usage (from the repository root): node scripts/consumer.ts [--keep] [--no-build]
 * (--keep leaves the temporary folder; --no-build packs the dist/ already there.)
 */
import { execFileSync } from "node:child_process"
import { cpSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { Effect } from "effect"
import { trainTinyRun } from "../test/fixtures/TinyRun.ts"

const root = resolve(dirname(new URL(import.meta.url).pathname), "..")
const keep = process.argv.includes("--keep")
const started = performance.now()
const step = (what: string) => console.log(`consumer: ${what} (${((performance.now() - started) / 1000).toFixed(1)} s)`)

/** npm as the running npm script was started (npm_execpath), else the `npm` on the PATH. */
const npm = (args: ReadonlyArray<string>, cwd: string): string => {
  const execPath = process.env.npm_execpath
  return execPath !== undefined && execPath.endsWith(".js")
    ? execFileSync(process.execPath, [execPath, ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
    : execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
}

const work = mkdtempSync(join(tmpdir(), "dgrl-consumer-"))
try {
  if (!process.argv.includes("--no-build")) {
    execFileSync(process.execPath, [join(root, "scripts/build.ts")], { cwd: root, stdio: "inherit" })
    step("built dist/")
  }
  const packed = JSON.parse(npm(["pack", "--json", "--pack-destination", work], root)) as Array<{ filename: string; size: number; entryCount: number }>
  const tarball = join(work, packed[0].filename)
  step(`packed ${packed[0].filename}: ${packed[0].entryCount} files, ${(statSync(tarball).size / 1024).toFixed(0)} KiB`)

  const app = join(work, "app")
  cpSync(join(root, "test/consumer"), app, { recursive: true })
  npm(["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball], app)
  step("installed the tarball and the consumer's dependencies")

  execFileSync(process.execPath, [join(app, "node_modules/typescript/bin/tsc"), "-p", app], { cwd: app, stdio: "inherit" })
  step("type-checked the consumer against the packed declarations")

  // A few steps: the consumer checks loading and acting, not the policy's quality.
  const runDir = await Effect.runPromise(trainTinyRun(join(work, "run"), 20))
  step(`trained a tiny run in ${runDir}`)

  const out = execFileSync(process.execPath, [join(app, "main.ts"), runDir], { cwd: app, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] })
  console.log(out.trim())
  step("the consumer loaded the agent and acted: every check held")
} finally {
  if (keep) console.log(`consumer: kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
