/**
 * Where the time of a tensor program goes, op by op (`npm run bench -- --profile`): a backend that
 * forwards every call to another and records, per op, the calls, the wall time spent inside the
 * call and the kernel dispatches it recorded (both exclusive of backend calls it makes itself, e.g.
 * the ops inside a `scope`).
 *
 * The profiler's own bookkeeping is timed as well and reported as a row of its own (PROFILER_ROW),
 * not as part of the enclosing op's self time.
 *
 * On the CPU and WASM backends an op computes before it returns, so its time is its cost. On the
 * GPU backend an op only records a dispatch; its time there is the host's recording cost, and the
 * device's execution shows up in the read that ends the program (the `read` row).
 *
 * With `shapes`, each matmul's row names its product, op(A)·op(B) as m×k×n with N/T per operand and
 * the epilogue (e.g. "matmul 2048x128x128 NT", "matmul 256x23x128 NN relu+bias"), so a step whose time
 * is mostly matmul shows which products cost it.
 */
import type { MatmulOptions, Tensor, TensorBackend } from "./TensorBackend.ts"

export interface OpProfile {
  /** Op name, with its first string argument when it has one (e.g. "unary mish", "binary mul"). */
  readonly op: string
  readonly calls: number
  /** Wall milliseconds inside the op's calls, nested backend calls excluded. */
  readonly ms: number
  readonly dispatches: number
}

export interface Profiler {
  readonly backend: TensorBackend
  /** The ops seen since the last reset, the most expensive first. */
  readonly report: () => Array<OpProfile>
  readonly reset: () => void
}

/** The report's row of the profiler's own time (not spent by the backend: subtract it from the total). */
export const PROFILER_ROW = "(profiler bookkeeping)"

/** Methods that only inspect the backend: not profiled. */
const UNTIMED = new Set(["stats", "kind", "description"])

export interface ProfileOptions {
  /** Label each matmul with its product's shape, transposes and epilogue (see the header). */
  readonly shapes?: boolean
}

/** "matmul m×k×n" with N/T per operand and the epilogue, as `shapes` labels a matmul. */
export const matmulLabel = (a: Tensor, b: Tensor, o: MatmulOptions = {}): string => {
  const m = o.transA ? a.cols : a.rows
  const k = o.transA ? a.rows : a.cols
  const n = o.transB ? b.rows : b.cols
  const act = o.activation === undefined || o.activation === "identity" ? "" : o.activation
  const epilogue = act + (o.bias === undefined ? "" : `${act === "" ? "" : "+"}bias`)
  return `matmul ${m}x${k}x${n} ${o.transA ? "T" : "N"}${o.transB ? "T" : "N"}${epilogue === "" ? "" : ` ${epilogue}`}`
}

export const profile = (inner: TensorBackend, options: ProfileOptions = {}): Profiler => {
  const rows = new Map<string, { calls: number; ms: number; dispatches: number }>()
  // Self time: a backend method that calls another through the proxy must not count that call twice.
  let depth = 0
  let childMs = 0
  let childDispatches = 0
  const record = (op: string, ms: number, dispatches: number) => {
    const row = rows.get(op) ?? { calls: 0, ms: 0, dispatches: 0 }
    row.calls++
    row.ms += ms
    row.dispatches += dispatches
    rows.set(op, row)
  }
  // The profiler's own bookkeeping around each call (labels, counters, clock reads) is timed too and
  // reported as its own row, so that it is not counted as the self time of the enclosing op (a
  // `scope`, which would otherwise look expensive in proportion to the ops it contains).
  let overheadMs = 0
  let overheadCalls = 0
  const wrap = (name: string, f: (...args: Array<unknown>) => unknown) =>
    function(this: unknown, ...args: Array<unknown>) {
      const entered = performance.now()
      const kind = args.slice(0, 2).find((a) => typeof a === "string")
      const label = options.shapes === true && name === "matmul"
        ? matmulLabel(args[0] as Tensor, args[1] as Tensor, args[2] as MatmulOptions | undefined)
        : kind === undefined ? name : `${name} ${kind}`
      const outerChild = childMs
      const outerChildDispatches = childDispatches
      childMs = 0
      childDispatches = 0
      const dispatchesBefore = inner.stats().dispatches
      depth++
      const start = performance.now()
      const settle = (recorded: boolean) => {
        const end = performance.now()
        depth--
        const dispatches = inner.stats().dispatches - dispatchesBefore
        if (recorded) record(label, end - start - childMs, dispatches - childDispatches)
        const left = performance.now()
        // This call as its parent sees it: from entry to exit, bookkeeping included.
        childMs = outerChild + (depth > 0 ? left - entered : 0)
        childDispatches = outerChildDispatches + (depth > 0 ? dispatches : 0)
        overheadMs += start - entered + (left - end)
        overheadCalls++
      }
      try {
        const out = f.apply(inner, args)
        if (out instanceof Promise) {
          // A read: its time is the wait until it resolves (the device's work on the GPU, a copy on the CPU).
          settle(false)
          return out.finally(() => record(label, performance.now() - start, 0))
        }
        settle(true)
        return out
      } catch (e) {
        settle(true)
        throw e
      }
    }
  const backend = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof property !== "string" || UNTIMED.has(property) || typeof value !== "function") return value
      return wrap(property, value as (...args: Array<unknown>) => unknown)
    }
  })
  return {
    backend,
    report: () =>
      [
        ...[...rows].map(([op, r]) => ({ op, ...r })),
        ...(overheadCalls > 0 ? [{ op: PROFILER_ROW, calls: overheadCalls, ms: overheadMs, dispatches: 0 }] : [])
      ].sort((a, b) => b.ms - a.ms),
    reset: () => {
      rows.clear()
      overheadMs = 0
      overheadCalls = 0
    }
  }
}

/**
 * A markdown table of a profile, per `runs` runs of the profiled program (e.g. per training step).
 * The total and the shares are of the backend's time; the profiler's own row is listed without a share.
 */
export const markdown = (title: string, report: ReadonlyArray<OpProfile>, runs: number): string => {
  const ops = report.filter((r) => r.op !== PROFILER_ROW)
  const total = ops.reduce((s, r) => s + r.ms, 0)
  const share = (r: OpProfile) => (r.op === PROFILER_ROW ? "—" : `${((100 * r.ms) / Math.max(total, 1e-12)).toFixed(1)} %`)
  const lines = [
    `| ${title}: op | calls | ms | share | dispatches |`,
    "| --- | --- | --- | --- | --- |",
    ...report.map((r) =>
      `| ${r.op} | ${(r.calls / runs).toFixed(0)} | ${(r.ms / runs).toFixed(3)} | ${share(r)} | ${(r.dispatches / runs).toFixed(0)} |`),
    `| total | ${(ops.reduce((s, r) => s + r.calls, 0) / runs).toFixed(0)} | ${(total / runs).toFixed(3)} | 100 % | ${(ops.reduce((s, r) => s + r.dispatches, 0) / runs).toFixed(0)} |`
  ]
  return lines.join("\n")
}
