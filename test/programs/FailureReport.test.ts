/**
 * Failures a user can act on: the CLI, run as a user runs it, prints an expected failure as one line
 * (what is wrong, what to do) with exit code 1 and no stack trace; `--log-level debug` and defects keep
 * the full report.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Cause, Effect, Schema } from "effect"
import { CliError } from "effect/cli"
import { describe, expect, it } from "vitest"
import { CheckpointError, Checkpoints, Corrupted } from "../../src/services/Checkpoints.ts"
import * as Offline from "../../src/programs/Offline.ts"
import * as Critic from "../../src/rl/Critic.ts"
import { NotFound } from "../../src/services/Files.ts"
import { DatasetError } from "../../src/data/DatasetStore.ts"
import * as FailureReport from "../../src/programs/FailureReport.ts"
import * as OfflineDataset from "../../src/data/OfflineDataset.ts"
import { entriesOf, writeRaw } from "../data/D4rlFiles.ts"

const repo = new URL("../..", import.meta.url).pathname

/** Runs `node src/cli.ts ...args` from the repository root. */
const cli = (...args: Array<string>) => {
  const r = spawnSync(process.execPath, ["src/cli.ts", ...args], { cwd: repo, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

const STACK_LINE = /^\s+at /m

/** An offline config with every default. */
const baseConfig = () => Schema.decodeUnknownSync(Offline.OfflineConfig)({ task: "t", dataset: "d", runDir: "r" })

describe("the CLI on bad input", () => {
  it("a missing dataset file: one line naming the file and how to make it, exit 1", () => {
    const r = cli("evaluate", "--task", "pendulum-x", "--dataset", "/nonexistent/pendulum.hdf5", "--backend", "cpu")
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split("\n")).toEqual([
      "error: dataset /nonexistent/pendulum.hdf5: no such file (make it with `npm run cli -- dataset generate --name TASK`, or pass --dataset FILE)"
    ])
    expect(r.stderr).not.toMatch(STACK_LINE)
  }, 30_000)

  it("an unknown dataset name: one line listing the known names, exit 1", () => {
    const r = cli("dataset", "generate", "--name", "ant-medium-v2")
    expect(r.status).toBe(1)
    const lines = r.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^error: .*unknown dataset "ant-medium-v2"; known: .*hopper-medium-replay-v2.*\(pass one of the names listed\)$/)
  }, 30_000)

  it("a config value out of range: one line naming the field, exit 1", () => {
    const r = cli("evaluate", "--task", "pendulum-x", "--episodes", "0", "--backend", "cpu")
    expect(r.status).toBe(1)
    const lines = r.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`["evaluation"]["episodes"]`)
    expect(r.stderr).not.toMatch(STACK_LINE)
  }, 30_000)

  it("a config file with a key no setting reads: one line naming the file and the key's path, exit 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "failure-"))
    const file = join(dir, "typo.json")
    writeFileSync(file, JSON.stringify({ critic: { hidden: 64, valueLayernorm: "hidden" } }))
    const r = cli("train-critic", "--task", "pendulum-x", "--config", file, "--run-dir", dir, "--backend", "cpu")
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split("\n")).toEqual([
      `error: config ${file}: no setting reads the key critic.valueLayernorm (check its spelling, or remove it)`
    ])
    expect(existsSync(join(dir, "critic.safetensors"))).toBe(false)
  }, 30_000)

  it("a finished stage trained with another config: one line naming the checkpoint, the field and both values, exit 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "failure-"))
    const file = join(dir, "config.json")
    writeFileSync(file, JSON.stringify({ criticSteps: 10, critic: { hidden: 64 } }))
    const path = join(dir, "critic.safetensors")
    const trained = Schema.decodeUnknownSync(Critic.CriticConfig)({ hidden: 64, tau: 0.9 })
    await Effect.runPromise(Checkpoints.use((c) => c.save(path, {
      header: {
        format: "dgrl-checkpoint/1", architecture: {}, config: Offline.criticStage(new Offline.OfflineConfig({ ...baseConfig(), critic: trained })).encoded,
        step: 10, rng: { seed: 0, counter: 10 }, createdBy: "test"
      },
      tensors: []
    })).pipe(Effect.provide(Checkpoints.layer)))
    const r = cli("train-critic", "--task", "pendulum-x", "--config", file, "--run-dir", dir, "--backend", "cpu", "--dataset", "/nonexistent/p.hdf5")
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split("\n")).toEqual([
      `error: checkpoint ${path} was trained with tau = 0.9, the config now has 0.7; --fresh retrains the stage (or set tau back to use the checkpoint)`
    ])
  }, 30_000)

  it("a corrupt checkpoint: one line naming the file and saying how to recover, exit 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "failure-"))
    writeFileSync(join(dir, "swg.safetensors"), "not a safetensors file")
    const r = cli("serve", "--run-dir", dir, "--backend", "cpu", "--port", "0")
    expect(r.status).toBe(1)
    const lines = r.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^error: agent swg \\(${dir}\\): checkpoint ${join(dir, "swg.safetensors")}: .*\\(the checkpoint is damaged`))
    expect(r.stderr).not.toMatch(STACK_LINE)
  }, 30_000)

  it("toy --data with a bad value: one line naming the file, line and column, exit 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "failure-"))
    const path = join(dir, "density.csv")
    writeFileSync(path, ["x1,x2,e", ...Array.from({ length: 30 }, (_, i) => (i === 4 ? "0.1,0.2,high" : `${i},${i},0`))].join("\n"))
    const r = cli("toy", "--data", path, "--backend", "cpu")
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split("\n")).toEqual([
      `error: ${path} line 6, column "e": "high" is not a number (fix the file where named: a header naming x1, x2, e (--data) or x1, x2, beta (--target), then one row of decimal numbers per point)`
    ])
  }, 30_000)

  it("toy --target without --data: one line, exit 1", () => {
    const r = cli("toy", "--target", "t.csv", "--backend", "cpu")
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split("\n")).toEqual(["error: --target and --name go with --data FILE.csv (the points they describe)"])
  }, 30_000)

  it("toy --data with --datasets: one line, exit 1", () => {
    const r = cli("toy", "--data", "d.csv", "--datasets", "moons", "--backend", "cpu")
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split("\n")).toEqual(["error: --datasets picks built-in datasets, --data runs on a file instead: pass one of them"])
  }, 30_000)

  it("--log-level debug prints the full report with its stack trace", () => {
    const r = cli("evaluate", "--task", "pendulum-x", "--dataset", "/nonexistent/pendulum.hdf5", "--backend", "cpu", "--log-level", "debug")
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("DatasetError: dataset /nonexistent/pendulum.hdf5: no such file")
    expect(r.stderr).toMatch(STACK_LINE)
  }, 30_000)

  it("a parse error is printed once, by the CLI with its help, exit 1", () => {
    const r = cli("no-such-command")
    expect(r.status).toBe(1)
    expect(r.stderr).toContain(`Unknown subcommand "no-such-command"`)
    expect(r.stderr).not.toContain("error: ")
  }, 30_000)
})

describe("the offline stages on any D4RL-layout file (--dataset FILE.hdf5)", () => {
  /** 64 steps of random transitions, 5 observation and 2 action columns, episodes of 16 steps: nothing D4RL-specific but the layout. */
  const dataset = () => {
    const n = 64
    const values = (count: number, scale: number) => Float32Array.from({ length: count }, (_, i) => scale * Math.sin(1.7 * i + 0.3))
    return OfflineDataset.make({
      observationDim: 5, actionDim: 2, observations: values(5 * n, 2), actions: values(2 * n, 0.9), rewards: values(n, 1),
      terminals: new Uint8Array(n), timeouts: Uint8Array.from({ length: n }, (_, i) => ((i + 1) % 16 === 0 ? 1 : 0))
    })
  }

  it("a valid file under any task name trains (train-critic, 2 steps)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "any-d4rl-"))
    const path = join(dir, "my-robot.hdf5")
    await writeRaw(path, entriesOf(dataset()))
    const r = cli("train-critic", "--task", "my-robot-v0", "--dataset", path, "--steps", "2", "--run-dir", join(dir, "run"), "--backend", "cpu")
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    expect(existsSync(join(dir, "run", "critic.safetensors"))).toBe(true)
  }, 60_000)

  it("a file missing a key: one line naming the file and the key, exit 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "any-d4rl-"))
    const path = join(dir, "no-rewards.hdf5")
    await writeRaw(path, entriesOf(dataset()).filter((e) => e.name !== "rewards"))
    const r = cli("train-critic", "--task", "my-robot-v0", "--dataset", path, "--run-dir", join(dir, "run"), "--backend", "cpu")
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split("\n")).toEqual([
      `error: dataset ${path}: key "rewards" is missing (check the file with \`npm run cli -- dataset inspect --path FILE\` (a D4RL-layout HDF5 file is expected))`
    ])
  }, 30_000)

  it("a key with a bad shape: one line naming the file, the key and both shapes, exit 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "any-d4rl-"))
    const path = join(dir, "flat-actions.hdf5")
    await writeRaw(path, entriesOf(dataset()).map((e) => (e.name === "actions" ? { ...e, shape: [128] } : e)))
    const r = cli("train-swg", "--task", "my-robot-v0", "--dataset", path, "--run-dir", join(dir, "run"), "--backend", "cpu")
    expect(r.status).toBe(1)
    const lines = r.stderr.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^error: dataset ${path}: key "actions" has shape \\[128\\], expected \\[N, actionDim\\] \\(check the file`))
    expect(r.stderr).not.toMatch(STACK_LINE)
  }, 30_000)
})

describe("FailureReport.report", () => {
  const missing = new DatasetError({ path: "d.hdf5", reason: new NotFound() })

  it("an expected failure is one line: the message and the hint", () => {
    expect(FailureReport.report(Cause.fail(missing), { verbose: false })).toBe(
      "error: dataset d.hdf5: no such file (make it with `npm run cli -- dataset generate --name TASK`, or pass --dataset FILE)"
    )
  })

  it("the hint follows the reason, not just the tag", () => {
    expect(FailureReport.hint(new CheckpointError({ path: "c", reason: new NotFound() }))).toContain("train that stage first")
    expect(FailureReport.hint(new CheckpointError({ path: "c", reason: new Corrupted({ issue: "Truncated", message: "short" }) }))).toContain("--fresh")
  })

  it("a multi-line Schema message is joined onto one line", () => {
    const error = Schema.decodeUnknownExit(Schema.Struct({ a: Schema.Int }))({ a: 0.5 })
    const text = FailureReport.report(error._tag === "Failure" ? error.cause : Cause.empty, { verbose: false })!
    expect(text.split("\n")).toHaveLength(1)
    expect(text).toContain(`["a"]`)
  })

  it("a defect keeps its stack trace", () => {
    const text = FailureReport.report(Cause.die(new Error("boom")), { verbose: false })!
    expect(text).toContain("boom")
    expect(text).toMatch(STACK_LINE)
  })

  it("verbose keeps the full report of an expected failure", () => {
    expect(FailureReport.report(Cause.fail(missing), { verbose: true })).toMatch(STACK_LINE)
  })

  it("nothing for interruptions or for errors the CLI has printed already", () => {
    expect(FailureReport.report(Cause.interrupt(1), { verbose: false })).toBeUndefined()
    expect(FailureReport.report(Cause.fail(new CliError.ShowHelp({ commandPath: [], errors: [] })), { verbose: false })).toBeUndefined()
  })

  it("--log-level debug, trace or all turns verbose on", () => {
    expect(FailureReport.verboseFromArgv(["node", "cli.ts", "evaluate", "--log-level", "debug"])).toBe(true)
    expect(FailureReport.verboseFromArgv(["node", "cli.ts", "--log-level=trace"])).toBe(true)
    expect(FailureReport.verboseFromArgv(["node", "cli.ts", "--log-level", "info"])).toBe(false)
    expect(FailureReport.verboseFromArgv(["node", "cli.ts"])).toBe(false)
  })
})
