/**
 * `npm run bundle`: one archive, out/bundle/dgrl-bundle.tar.xz, that runs the programs, the bench
 * and the vitest GPU tier on a Linux x86-64 machine with nothing but a Vulkan driver and loader:
 *
 *   dgrl/node_modules/node/bin/node   Node itself (the `node` devDependency's binary)
 *   dgrl/node_modules/...             the production dependencies and the test runner (vitest,
 *                                     @effect/vitest, fast-check) with what they import, pruned:
 *                                     linux-x64 prebuilt binaries only, no type declarations,
 *                                     source maps, docs or TypeScript compiler
 *   dgrl/src, test, presets, scripts  the project
 *   dgrl/run.sh                       smoke test: adapter, a few training steps, one sampling call
 *
 * Usage (from the repository root): node scripts/bundle.ts [--out FILE] [--level 0-9 (xz preset, default 6)]
 * Prints the archive's size; fails when it is over 64 MiB (the limit a carried archive must meet).
 */
import { execFileSync } from "node:child_process"
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, dirname, join, resolve } from "node:path"

const LIMIT_BYTES = 64 * 1024 * 1024
const root = resolve(dirname(new URL(import.meta.url).pathname), "..")

const argument = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(name)
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback
}
const archive = resolve(argument("--out", join(root, "out/bundle/dgrl-bundle.tar.xz")))
const level = argument("--level", "6")
if (!/^[0-9]$/.test(level)) throw new Error(`--level must be 0-9, got ${level}`)

interface LockEntry {
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
}
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> }

/** Dev dependencies the GPU tier needs at run time; the rest (tsc, type packages, node itself) stay out. */
const testRunner = ["vitest", "@effect/vitest", "fast-check"]
/** Never bundled, even when something lists them as an (optional) peer. */
const excluded = new Set(["typescript", "node"])
for (const name of testRunner) {
  if (!(name in manifest.devDependencies)) throw new Error(`${name} is not a devDependency any more: update scripts/bundle.ts`)
}

/** Node's resolution over package-lock paths: `dep` seen from the package at `from`. */
const resolveFrom = (from: string, dep: string): string | undefined => {
  for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf("/node_modules/")))) {
    const candidate = `${dir === "" ? "" : `${dir}/`}node_modules/${dep}`
    if (candidate in lock.packages && existsSync(join(root, candidate))) return candidate
    if (dir === "") return undefined
  }
}

// The closure of the roots, through dependencies, installed optional dependencies and installed peers
// (optional platform packages of other systems are not installed here, so they fall out).
const included = new Set<string>()
const pending = [...Object.keys(manifest.dependencies), ...testRunner].map((name) => {
  const at = resolveFrom("", name)
  if (at === undefined) throw new Error(`${name} is not installed: run npm ci first`)
  return at
})
while (pending.length > 0) {
  const at = pending.pop()!
  if (included.has(at)) continue
  included.add(at)
  const entry = lock.packages[at]
  for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies })) {
    if (excluded.has(dep)) continue
    const found = resolveFrom(at, dep)
    if (found !== undefined) pending.push(found)
  }
}

/** Files no program or test reads at run time. */
const dropFile = (name: string) =>
  /\.(d\.[cm]?ts|d\.ts\.map|map|md|markdown)$/i.test(name) || /^(CHANGELOG|HISTORY|AUTHORS|CONTRIBUTING|DEVELOPER)/i.test(name)
const dropDir = new Set(["test", "tests", "__tests__", "docs", "doc", "example", "examples", "benchmark", "benchmarks", ".github"])
/** Per package: folders that are another platform's binaries, sources or unused builds. */
const dropPaths: Record<string, ReadonlyArray<string>> = {
  "node_modules/webgpu": ["build", "dist/darwin-universal", "dist/linux-arm64", "dist/win32-arm64", "dist/win32-x64"],
  "node_modules/effect": ["src"],
  "node_modules/@effect/platform-node": ["src"],
  "node_modules/@effect/platform-node-shared": ["src"],
  "node_modules/@effect/vitest": ["src"],
  "node_modules/h5wasm": ["src", "dist/iife", "CMakeLists.txt", "Makefile"]
}
for (const at of included) {
  const name = basename(at)
  if (/(darwin|win32|android|freebsd|arm64|arm-|musl|wasm32|ia32)/.test(name)) {
    throw new Error(`${at} is another platform's binary package but was installed: bundle from a linux-x64 glibc checkout`)
  }
}

const stage = mkdtempSync(join(tmpdir(), "dgrl-bundle-"))
const top = join(stage, "dgrl")
try {
  for (const at of [...included].sort()) {
    const skip = new Set((dropPaths[at] ?? []).map((p) => join(root, at, p)))
    cpSync(join(root, at), join(top, at), {
      recursive: true,
      dereference: true,
      filter: (source) => {
        if (skip.has(source)) return false
        const name = basename(source)
        if (statSync(source).isDirectory()) return source === join(root, at) || !(dropDir.has(name) || name === "node_modules")
        return !dropFile(name)
      }
    })
  }
  // Node itself: the binary alone (the `node` package's installer scripts are not needed to run it).
  mkdirSync(join(top, "node_modules/node/bin"), { recursive: true })
  copyFileSync(realpathSync(join(root, "node_modules/node/bin/node")), join(top, "node_modules/node/bin/node"))
  execFileSync("chmod", ["755", join(top, "node_modules/node/bin/node")])
  // Its symbol table and debug info are an eighth of it; the dynamic symbols Dawn's addon links
  // against stay. Where binutils is missing the binary goes in as it is (about 4 MiB more).
  try {
    execFileSync("strip", [join(top, "node_modules/node/bin/node")])
  } catch {
    console.log("strip not found: Node's binary goes in unstripped")
  }

  for (const dir of ["src", "test", "presets"]) cpSync(join(root, dir), join(top, dir), { recursive: true })
  mkdirSync(join(top, "scripts"))
  for (const file of ["adapter.ts", "smoke.ts"]) copyFileSync(join(root, "scripts", file), join(top, "scripts", file))
  copyFileSync(join(root, "scripts/run.sh"), join(top, "run.sh"))
  execFileSync("chmod", ["755", join(top, "run.sh")])
  for (const file of ["package.json", "vitest.config.ts", "tsconfig.json"]) copyFileSync(join(root, file), join(top, file))

  mkdirSync(dirname(archive), { recursive: true })
  rmSync(archive, { force: true })
  execFileSync("tar", ["-C", stage, "--owner=0", "--group=0", "--sort=name", "-cf", archive, "-I", `xz -${level} -T0`, "dgrl"], {
    stdio: "inherit"
  })
} finally {
  rmSync(stage, { recursive: true, force: true })
}

const bytes = statSync(archive).size
const mib = (bytes / 1024 / 1024).toFixed(1)
console.log(`${archive}: ${mib} MiB (${included.size} packages; limit 64 MiB)`)
if (bytes > LIMIT_BYTES) {
  console.error(`the bundle is over 64 MiB (${mib} MiB)`)
  process.exit(1)
}
