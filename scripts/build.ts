/**
 * `npm run build`: compiles src/ to JavaScript and declarations in dist/ (tsconfig.build.json), so
 * the package can be installed and imported under Node without type stripping (which Node refuses
 * inside node_modules). The sources import each other as `./x.ts`; tsc rewrites those to `./x.js` in
 * the JavaScript but not in the declarations, nor in `new URL("./x.ts", import.meta.url)` (the WASM
 * backend's worker), so this script rewrites both, then checks that no relative `.ts` specifier is
 * left and that every target of package.json's `exports` exists.
 *
 * Usage (from the repository root): node scripts/build.ts
 */
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, resolve } from "node:path"

const root = resolve(dirname(new URL(import.meta.url).pathname), "..")
const dist = join(root, "dist")

rmSync(dist, { recursive: true, force: true })
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit", cwd: root })

const files = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))

/** A relative specifier ending in .ts, quoted: `"./a/b.ts"` or `'../c.ts'` (not .d.ts). */
const relativeTs = /(["'])(\.{1,2}\/[^"'\n]*?)(?<!\.d)\.ts\1/g

/** A WebGPU type (GPUDevice, GPUBuffer, …): declared by @webgpu/types, which the sources get from tsconfig's `types`. */
const webGpuType = /\bGPU[A-Z]\w*\b/
const webGpuReference = `/// <reference types="@webgpu/types" />\n`

let rewritten = 0
for (const file of files(dist)) {
  if (!file.endsWith(".js") && !file.endsWith(".d.ts")) continue
  const text = readFileSync(file, "utf8")
  let out = text.replace(relativeTs, (_, quote: string, stem: string) => `${quote}${stem}.js${quote}`)
  // A declaration naming a WebGPU type references @webgpu/types itself (a dependency), so a consumer
  // type-checking our declarations (skipLibCheck off) finds GPUDevice without configuring anything.
  if (file.endsWith(".d.ts") && webGpuType.test(out.replace(/\/\*[\s\S]*?\*\//g, ""))) out = webGpuReference + out
  if (out !== text) {
    writeFileSync(file, out)
    rewritten++
  }
}

// Checks: every rewritten target exists, nothing relative still ends in .ts, every export target exists.
const problems: Array<string> = []
for (const file of files(dist)) {
  if (!file.endsWith(".js") && !file.endsWith(".d.ts")) continue
  const text = readFileSync(file, "utf8")
  for (const m of text.matchAll(/(["'])(\.{1,2}\/[^"'\n]*?\.(?:js|ts))\1/g)) {
    const target = resolve(dirname(file), m[2])
    const exists = m[2].endsWith(".js") ? existsSync(target) : false
    if (!exists) problems.push(`${file.slice(root.length + 1)}: ${m[2]} ${m[2].endsWith(".ts") ? "is a .ts specifier" : "does not exist"}`)
  }
}
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports: Record<string, string | Record<string, string>> }
for (const [entry, target] of Object.entries(manifest.exports)) {
  for (const path of typeof target === "string" ? [target] : Object.values(target)) {
    if (!existsSync(join(root, path))) problems.push(`exports["${entry}"] → ${path} does not exist`)
  }
}
if (problems.length > 0) {
  console.error(`build: ${problems.length} problem(s):\n  ${problems.slice(0, 20).join("\n  ")}`)
  process.exit(1)
}
console.log(`build: dist/ written (${files(dist).length} files; .ts specifiers rewritten in ${rewritten})`)
