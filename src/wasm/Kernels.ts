/**
 * The WASM backend's kernels, emitted as WebAssembly bytecode at run time (Wasm.ts):
 *
 *   - `packA` / `packB`: copy a block of op(A) (MR-row panels) or op(B) (NR-column panels) into
 *     contiguous scratch, zero-padded to whole panels; the strides cover every transpose;
 *   - `macro`: C block (+)= packed A · packed B by MR×NR register tiles of f32x4 accumulators
 *     (the GotoBLAS/BLIS scheme: the B micro-panel stays in L1 while A panels stream past it);
 *   - `epilogue_<act>`: C ← act(C + bias), storing C + bias first when a pre-activation is kept;
 *   - `unary_<act>` / `unaryGrad_<act>`: act(x) and dy·act'(x) over a flat array.
 *
 * All pointers are byte offsets into the shared memory; 0 means "absent" (the allocator never
 * hands out address 0). Multiply-adds use relaxed-SIMD FMA when the engine validates it, else a
 * multiply and an add.
 */
import type { Activation as ActivationName } from "../domain/Ops.ts"
import { encodeModule, FunctionBuilder, type Local } from "./Wasm.ts"

/**
 * The activations, as in Ops.Activations (the type below fails to check if the lists differ).
 * Repeated here so that worker threads load no Effect code: this module imports types only.
 */
export const Activations = ["identity", "relu", "silu", "mish", "gelu", "tanh", "sigmoid", "softplus"] as const
type SameList = [Exclude<ActivationName, (typeof Activations)[number]>, Exclude<(typeof Activations)[number], ActivationName>]
const _sameList: SameList extends [never, never] ? true : false = true
void _sameList

/** Register tile: MR rows × NR columns of C, NR/4 vectors per row (12 accumulators at 6×8). */
export const MR = 6
/**
 * Narrower tiles for products with fewer rows than MR (a batch-1 sampling step): a 6-row tile
 * on one row would spend 5/6 of its multiply-adds on padding.
 */
export const TILE_ROWS = [1, 2, 3, 4, 5, 6] as const
export type TileRows = (typeof TILE_ROWS)[number]
export const NR = 8

/** Largest memory the module accepts: 65536 pages of 64 KiB = 4 GiB. */
export const MAX_PAGES = 65536

export interface KernelExports {
  /** packA[mr](a, sAi, sAp, i0, mc, k0, kc, dst): mr-row panels; strides in elements. */
  readonly packA: Record<TileRows, (a: number, sAi: number, sAp: number, i0: number, mc: number, k0: number, kc: number, dst: number) => void>
  /** packB(b, sBp, sBj, k0, kc, j0, nc, dst). */
  readonly packB: (b: number, sBp: number, sBj: number, k0: number, kc: number, j0: number, nc: number, dst: number) => void
  /** macro[mr](ap, bp, mc, nc, kc, c, ldcBytes, accumulate, tile) with mr×NR tiles. */
  readonly macro: Record<TileRows, (ap: number, bp: number, mc: number, nc: number, kc: number, c: number, ldc: number, accumulate: number, tile: number) => void>
  /** gemv(a, sAi, sAp, b, c, m, k): c [m, 1] = op(A)·b for a column b [k, 1], op(A) row-major (sAp = 1) or transposed (sAi = 1). */
  readonly gemv: (a: number, sAi: number, sAp: number, b: number, c: number, m: number, k: number) => void
  /** outer(a, b, c, m, n): c [m, n] = a·b for a column a [m, 1] and a row b [1, n]. */
  readonly outer: (a: number, b: number, c: number, m: number, n: number) => void
  /** epilogue(c, ldcBytes, rows, cols, bias, pre, ldpreBytes, tmp) per activation. */
  readonly epilogue: Record<ActivationName, (c: number, ldc: number, rows: number, cols: number, bias: number, pre: number, ldpre: number, tmp: number) => void>
  /** unary(x, out, n, tmp): out = act(x). */
  readonly unary: Record<ActivationName, (x: number, out: number, n: number, tmp: number) => void>
  /** unaryGrad(x, dy, out, n, tmp): out = dy·act'(x). */
  readonly unaryGrad: Record<ActivationName, (x: number, dy: number, out: number, n: number, tmp: number) => void>
  /** addRows(x, index, rows, cols, acc): acc[index[r], c] (f64; row 0 when index is 0) += x[r, c], rows in order. */
  readonly addRows: (x: number, index: number, rows: number, cols: number, acc: number) => void
  /** affine(x, out, n, scale, shift, tmp): out = scale·x + shift in f64, rounded to f32. */
  readonly affine: (x: number, out: number, n: number, scale: number, shift: number, tmp: number) => void
  /** trig[op](x, out, n, range, tmp): out = sin x or cos x in f64, rounded to f32; at `range` (2 f64) the count of |x| > TRIG_MAX. */
  readonly trig: Record<"sin" | "cos", (x: number, out: number, n: number, range: number, tmp: number) => void>
  /** trigGrad[op](x, dy, out, n, range, tmp): out = dy·op′(x) in f64, rounded to f32; `range` as `trig`. */
  readonly trigGrad: Record<"sin" | "cos", (x: number, dy: number, out: number, n: number, range: number, tmp: number) => void>
  /** copyRows(src, srcStride, dst, dstStride, rows, bytes): strided row copies (byte addresses and strides). */
  readonly copyRows: (src: number, srcStride: number, dst: number, dstStride: number, rows: number, bytes: number) => void
  /** gatherRows(src, index, dst, rows, bytes): dst row j = src row index[j] (index: f32 integers, in range). */
  readonly gatherRows: (src: number, index: number, dst: number, rows: number, bytes: number) => void
  /** binary[op](a, b, out, n, tmp): same-shape elementwise a ∘ b in f32. */
  readonly binary: Record<"add" | "sub" | "mul", (a: number, b: number, out: number, n: number, tmp: number) => void>
  /** layerNorm(x, out, mean, rstd, gamma, beta, rows, n, eps): rows of n floats (n a multiple of 4), f64 arithmetic. */
  readonly layerNorm: (x: number, out: number, mean: number, rstd: number, gamma: number, beta: number, rows: number, n: number, eps: number) => void
  /** layerNormBackward(dy, x, gamma, mean, rstd, dx, sums, rows, n): dx, and Σ dy·x̂, Σ dy added into sums (2n f64). */
  readonly layerNormBackward: (dy: number, x: number, gamma: number, mean: number, rstd: number, dx: number, sums: number, rows: number, n: number) => void
  /**
   * dropout(x, out, n, seed, stream, offset, threshold, keep, maskOut, tmp): element i is kept when the top
   * 24 bits of Philox word 0 of counter (i, offset) under key (seed, stream) are ≥ threshold, and
   * then becomes x/keep rounded from f64 to f32 (as the reference computes it). With maskOut ≠ 0
   * the keep mask is also stored there (n i32s, −1 = kept) for `dropoutMasked`.
   */
  readonly dropout: (
    x: number, out: number, n: number, seed: number, stream: number, offset: number, threshold: number, keep: number, maskOut: number, tmp: number
  ) => void
  /** dropoutMasked(x, out, n, mask, keep, tmp): the same as `dropout` with a stored mask instead of Philox. */
  readonly dropoutMasked: (x: number, out: number, n: number, mask: number, keep: number, tmp: number) => void
  /** philoxWords(w0, w1, n, seed, stream, offset, tmp): words 0 and 1 of Philox4x32-10 of counter (i, offset) for i < n. */
  readonly philoxWords: (w0: number, w1: number, n: number, seed: number, stream: number, offset: number, tmp: number) => void
  /** adamw(p, g, m, v, n, β1, 1 − β1, β2, 1 − β2, 1/c1, 1/c2, ε, lr, wd, tmp), in place, f32 arithmetic. */
  readonly adamw: (
    p: number, g: number, m: number, v: number, n: number,
    beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number,
    c1inv: number, c2inv: number, eps: number, lr: number, wd: number, tmp: number
  ) => void
  /** ema(target, source, n, rate, tmp): target += rate·(source − target). */
  readonly ema: (target: number, source: number, n: number, rate: number, tmp: number) => void
}

/** f32x4 helpers over one function's locals. */
class Vec {
  readonly f: FunctionBuilder
  private readonly fma: boolean
  private readonly pool: Array<Local> = []
  constructor(f: FunctionBuilder, fma: boolean) {
    this.f = f
    this.fma = fma
  }
  /** A scratch v128 local (reused across calls to `release`). */
  take(): Local {
    return this.pool.pop() ?? this.f.local("v128")
  }
  release(...ls: ReadonlyArray<Local>): void {
    this.pool.push(...ls)
  }
  /** Stack [a, b, c] → a·b + c. */
  madd(): void {
    if (this.fma) this.f.f32x4RelaxedMadd()
    else {
      // [a, b, c] → c + a·b needs c last: multiply first by rotating through a local.
      const c = this.take()
      this.f.localSet(c).f32x4Mul().localGet(c).f32x4Add()
      this.release(c)
    }
  }

  /**
   * eˣ of the vector in `x`, left on the stack: x = n·ln2 + r with |r| ≤ ln2/2, eʳ by Cephes'
   * degree-6 polynomial (expf.c, ≈1 ulp), 2ⁿ built in the exponent bits. x is clamped to
   * [−87, 88] so 2ⁿ stays a normal float (pmin/pmax with x first: one instruction each, NaN kept).
   * n is rounded by adding 1.5·2²³, after which the float's low mantissa bits hold n as an integer.
   */
  exp(x: Local): void {
    const f = this.f
    const [t, n, r] = [this.take(), this.take(), this.take()]
    const MAGIC = 12582912 // 1.5·2²³
    const MAGIC_BITS = 0x4b400000
    f.localGet(x).localGet(f.constant("f32x4", -87)).f32x4Pmax().localGet(f.constant("f32x4", 88)).f32x4Pmin().localSet(t)
    f.localGet(t).localGet(f.constant("f32x4", Math.LOG2E)).f32x4Mul().localGet(f.constant("f32x4", MAGIC)).f32x4Add().localSet(n)
    // r = t − n·ln2 (ln2 in two parts, Cody–Waite), n = (t·log2e + MAGIC) − MAGIC
    f.localGet(n).localGet(f.constant("f32x4", MAGIC)).f32x4Sub().localSet(r)
    f.localGet(t).localGet(r).localGet(f.constant("f32x4", 0.693359375)).f32x4Mul().f32x4Sub()
    f.localGet(r).localGet(f.constant("f32x4", -2.12194440e-4)).f32x4Mul().f32x4Sub().localSet(r)
    f.localGet(f.constant("f32x4", 1.9875691500e-4))
    for (const c of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]) {
      f.localGet(r).f32x4Mul().localGet(f.constant("f32x4", c)).f32x4Add()
    }
    f.localGet(r).localGet(r).f32x4Mul().f32x4Mul().localGet(r).f32x4Add().localGet(f.constant("f32x4", 1)).f32x4Add()
    // 2ⁿ: exponent field n + 127, from the integer in n's bits.
    f.localGet(n).localGet(f.constant("i32x4", 127 - MAGIC_BITS)).i32x4Add().i32Const(23).i32x4Shl()
    f.f32x4Mul()
    this.release(t, n, r)
  }

  /** 1/(1 + e⁻ˣ) of `x`, on the stack. */
  sigmoid(x: Local): void {
    const f = this.f
    const m = this.take()
    f.localGet(x).f32x4Neg().localSet(m)
    f.localGet(f.constant("f32x4", 1)).localGet(f.constant("f32x4", 1))
    this.exp(m)
    f.f32x4Add().f32x4Div()
    this.release(m)
  }

  /** tanh x = 1 − 2/(e²ˣ + 1), on the stack. */
  tanh(x: Local): void {
    const f = this.f
    const d = this.take()
    f.localGet(x).localGet(x).f32x4Add().localSet(d)
    f.localGet(f.constant("f32x4", 1)).localGet(f.constant("f32x4", 2))
    this.exp(d)
    f.localGet(f.constant("f32x4", 1)).f32x4Add().f32x4Div().f32x4Sub()
    this.release(d)
  }

  /** log(1 + t) for t ∈ [0, 1]: 2·atanh(s) with s = t/(2 + t) ≤ 1/3, odd series to s¹³. */
  log1p(t: Local): void {
    const f = this.f
    const [s, s2] = [this.take(), this.take()]
    f.localGet(t).localGet(t).localGet(f.constant("f32x4", 2)).f32x4Add().f32x4Div().localSet(s)
    f.localGet(s).localGet(s).f32x4Mul().localSet(s2)
    f.localGet(f.constant("f32x4", 1 / 13))
    for (const c of [1 / 11, 1 / 9, 1 / 7, 1 / 5, 1 / 3, 1]) f.localGet(s2).f32x4Mul().localGet(f.constant("f32x4", c)).f32x4Add()
    f.localGet(s).f32x4Mul().localGet(f.constant("f32x4", 2)).f32x4Mul()
    this.release(s, s2)
  }

  /** softplus x = max(x, 0) + log1p(e^−|x|), on the stack. */
  softplus(x: Local): void {
    const f = this.f
    const [a, e] = [this.take(), this.take()]
    f.localGet(x).f32x4Abs().f32x4Neg().localSet(a)
    this.exp(a)
    f.localSet(e)
    f.localGet(f.constant("f32x4", 0)).localGet(x).f32x4Pmax()
    this.log1p(e)
    f.f32x4Add()
    this.release(a, e)
  }

  /**
   * For mish: e = exp(min(x, 20)), t = tanh(softplus(x)) = n/(n + 2) with n = e(e + 2), exact in
   * f32 for x ≥ 20 where t rounds to 1. Leaves t in `t` and e in `e`.
   */
  mishParts(x: Local, t: Local, e: Local): void {
    const f = this.f
    const c = this.take()
    f.localGet(x).localGet(f.constant("f32x4", 20)).f32x4Pmin().localSet(c)
    this.exp(c)
    f.localSet(e)
    f.localGet(e).localGet(e).localGet(f.constant("f32x4", 2)).f32x4Add().f32x4Mul().localSet(c)
    f.localGet(c).localGet(c).localGet(f.constant("f32x4", 2)).f32x4Add().f32x4Div().localSet(t)
    this.release(c)
  }

  /** 2u for gelu's tanh form: 0.5(1 + tanh u) = σ(2u), u = √(2/π)(x + 0.044715x³). */
  geluArg(x: Local, out: Local): void {
    const f = this.f
    f.localGet(x).localGet(x).f32x4Mul().localGet(f.constant("f32x4", 0.044715)).f32x4Mul().localGet(f.constant("f32x4", 1)).f32x4Add()
      .localGet(x).f32x4Mul().localGet(f.constant("f32x4", 2 * Math.sqrt(2 / Math.PI))).f32x4Mul().localSet(out)
  }

  /** act(x), on the stack. */
  activation(act: ActivationName, x: Local): void {
    const f = this.f
    switch (act) {
      case "identity":
        f.localGet(x)
        return
      case "relu":
        f.localGet(f.constant("f32x4", 0)).localGet(x).f32x4Pmax()
        return
      case "sigmoid":
        this.sigmoid(x)
        return
      case "silu":
        f.localGet(x)
        this.sigmoid(x)
        f.f32x4Mul()
        return
      case "tanh":
        this.tanh(x)
        return
      case "softplus":
        this.softplus(x)
        return
      case "gelu": {
        const u = this.take()
        this.geluArg(x, u)
        f.localGet(x)
        this.sigmoid(u)
        f.f32x4Mul()
        this.release(u)
        return
      }
      case "mish": {
        const [t, e] = [this.take(), this.take()]
        this.mishParts(x, t, e)
        f.localGet(x).localGet(t).f32x4Mul()
        this.release(t, e)
        return
      }
    }
  }

  /** dy·act'(x), on the stack (the formulas of Activation.derivative). */
  activationGrad(act: ActivationName, x: Local, dy: Local): void {
    const f = this.f
    const s = this.take()
    switch (act) {
      case "identity":
        f.localGet(dy)
        break
      case "relu":
        f.localGet(dy).localGet(x).localGet(f.constant("f32x4", 0)).f32x4Gt().v128And()
        break
      case "sigmoid":
        this.sigmoid(x)
        f.localSet(s)
        f.localGet(dy).localGet(s).f32x4Mul().localGet(f.constant("f32x4", 1)).localGet(s).f32x4Sub().f32x4Mul()
        break
      case "silu":
        // s(1 + x(1 − s))
        this.sigmoid(x)
        f.localSet(s)
        f.localGet(dy).localGet(s).f32x4Mul()
        f.localGet(f.constant("f32x4", 1)).localGet(s).f32x4Sub().localGet(x).f32x4Mul().localGet(f.constant("f32x4", 1)).f32x4Add().f32x4Mul()
        break
      case "tanh":
        this.tanh(x)
        f.localSet(s)
        f.localGet(dy).localGet(f.constant("f32x4", 1)).localGet(s).localGet(s).f32x4Mul().f32x4Sub().f32x4Mul()
        break
      case "softplus":
        f.localGet(dy)
        this.sigmoid(x)
        f.f32x4Mul()
        break
      case "gelu": {
        // t = tanh u = 2σ(2u) − 1; 0.5(1 + t) + 0.5x(1 − t²)·√(2/π)(1 + 3·0.044715x²)
        const u = this.take()
        this.geluArg(x, u)
        f.localGet(f.constant("f32x4", 2))
        this.sigmoid(u)
        f.f32x4Mul().localGet(f.constant("f32x4", 1)).f32x4Sub().localSet(s)
        f.localGet(f.constant("f32x4", 0.5)).localGet(s).localGet(f.constant("f32x4", 0.5)).f32x4Mul().f32x4Add()
        f.localGet(f.constant("f32x4", 1)).localGet(s).localGet(s).f32x4Mul().f32x4Sub()
        f.localGet(x).localGet(f.constant("f32x4", 0.5 * Math.sqrt(2 / Math.PI))).f32x4Mul().f32x4Mul()
        f.localGet(x).localGet(x).f32x4Mul().localGet(f.constant("f32x4", 3 * 0.044715)).f32x4Mul().localGet(f.constant("f32x4", 1)).f32x4Add().f32x4Mul()
        f.f32x4Add().localGet(dy).f32x4Mul()
        this.release(u)
        break
      }
      case "mish": {
        // t + x(1 − t²)σ(x), σ(x) = e/(1 + e)
        const e = this.take()
        this.mishParts(x, s, e)
        f.localGet(s)
        f.localGet(f.constant("f32x4", 1)).localGet(s).localGet(s).f32x4Mul().f32x4Sub().localGet(x).f32x4Mul()
        f.localGet(e).localGet(e).localGet(f.constant("f32x4", 1)).f32x4Add().f32x4Div().f32x4Mul()
        f.f32x4Add().localGet(dy).f32x4Mul()
        this.release(e)
        break
      }
    }
    this.release(s)
  }
}

const i32s = (n: number): Array<"i32"> => Array.from({ length: n }, () => "i32" as const)

/** min(a, b) of two i32 locals, on the stack. */
const minI32 = (f: FunctionBuilder, a: () => void, b: () => void): void => {
  a()
  b()
  a()
  b()
  f.i32LtS().select()
}

/** Lanes of [a, b] picked as f32s (0–3 from a, 4–7 from b). */
const shuffle32 = (f: FunctionBuilder, a: Local, b: Local, lanes: readonly [number, number, number, number]): void => {
  f.localGet(a).localGet(b).i8x16Shuffle(lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]))
}

/**
 * 4×4 transpose of the f32 vectors in `rows` (row i = columns 0–3 of row i) into `out` (out[j] =
 * element j of every row), through the scratch locals `t`.
 */
const transpose4 = (f: FunctionBuilder, rows: ReadonlyArray<Local>, t: ReadonlyArray<Local>, out: ReadonlyArray<Local>): void => {
  shuffle32(f, rows[0], rows[1], [0, 4, 1, 5])
  f.localSet(t[0])
  shuffle32(f, rows[0], rows[1], [2, 6, 3, 7])
  f.localSet(t[1])
  shuffle32(f, rows[2], rows[3], [0, 4, 1, 5])
  f.localSet(t[2])
  shuffle32(f, rows[2], rows[3], [2, 6, 3, 7])
  f.localSet(t[3])
  shuffle32(f, t[0], t[2], [0, 1, 4, 5])
  f.localSet(out[0])
  shuffle32(f, t[0], t[2], [2, 3, 6, 7])
  f.localSet(out[1])
  shuffle32(f, t[1], t[3], [0, 1, 4, 5])
  f.localSet(out[2])
  shuffle32(f, t[1], t[3], [2, 3, 6, 7])
  f.localSet(out[3])
}

/**
 * packA's full 6-row panel of a row-major op(A), four columns at a time: six row vectors
 * (columns p…p+3 of rows 0–5) become the panel's 24 floats p·6 + r by shuffles. Advances `p`,
 * `src` and `d` while p + 4 ≤ kc.
 */
const packRowMajor6 = (f: FunctionBuilder, src: Local, off: ReadonlyArray<Local>, d: Local, p: Local, kc: Local): void => {
  const row = Array.from({ length: 6 }, () => f.local("v128"))
  const t = Array.from({ length: 4 }, () => f.local("v128"))
  const col = Array.from({ length: 4 }, () => f.local("v128"))
  const [u01, u23] = [f.local("v128"), f.local("v128")]
  f.block(() =>
    f.loop(() => {
      f.localGet(p).i32Const(4).i32Add().localGet(kc).i32GtS().brIf(1)
      for (let r = 0; r < 6; r++) f.localGet(src).localGet(off[r]).i32Add().v128Load().localSet(row[r])
      transpose4(f, row, t, col)
      // rows 4 and 5 as (r4, r5) pairs of columns 0–1 and 2–3
      shuffle32(f, row[4], row[5], [0, 4, 1, 5])
      f.localSet(u01)
      shuffle32(f, row[4], row[5], [2, 6, 3, 7])
      f.localSet(u23)
      const store = (at: number, emit: () => void) => {
        f.localGet(d)
        emit()
        f.v128Store(at)
      }
      store(0, () => f.localGet(col[0]))
      store(16, () => shuffle32(f, u01, col[1], [0, 1, 4, 5]))
      store(32, () => shuffle32(f, col[1], u01, [2, 3, 6, 7]))
      store(48, () => f.localGet(col[2]))
      store(64, () => shuffle32(f, u23, col[3], [0, 1, 4, 5]))
      store(80, () => shuffle32(f, col[3], u23, [2, 3, 6, 7]))
      f.localGet(d).i32Const(96).i32Add().localSet(d)
      f.localGet(src).i32Const(16).i32Add().localSet(src)
      f.localGet(p).i32Const(4).i32Add().localSet(p)
      f.br(0)
    })
  )
}

/** Packs op(A)[i0 + i, k0 + p] (i < mc, p < kc) as MR-row panels: dst[(i/MR)·kc·MR + p·MR + i%MR]. */
const packA = (MR: number): FunctionBuilder => {
  const f = new FunctionBuilder(`packA${MR}`, i32s(8))
  const [a, sAi, sAp, i0, mc, k0, kc, dst] = f.params
  const [ip, p, rows, src, d] = [f.local("i32"), f.local("i32"), f.local("i32"), f.local("i32"), f.local("i32")]
  // Row offsets clamped to the last valid row, and validity flags: padding rows read a valid
  // address and select 0.
  const off = Array.from({ length: MR }, () => f.local("i32"))
  const valid = Array.from({ length: MR }, () => f.local("i32"))
  f.localGet(sAi).i32Const(2).i32Shl().localSet(sAi)
  f.localGet(sAp).i32Const(2).i32Shl().localSet(sAp)
  f.localGet(dst).localSet(d)
  f.for(ip, () => f.i32Const(0), () => f.localGet(mc), MR, () => {
    minI32(f, () => f.i32Const(MR), () => f.localGet(mc).localGet(ip).i32Sub())
    f.localSet(rows)
    for (let r = 0; r < MR; r++) {
      minI32(f, () => f.i32Const(r), () => f.localGet(rows).i32Const(1).i32Sub())
      f.localGet(sAi).i32Mul().localSet(off[r])
      f.i32Const(r).localGet(rows).i32LtS().localSet(valid[r])
    }
    // src = a + (i0 + ip)·sAi + k0·sAp
    f.localGet(a).localGet(i0).localGet(ip).i32Add().localGet(sAi).i32Mul().i32Add()
      .localGet(k0).localGet(sAp).i32Mul().i32Add().localSet(src)
    f.i32Const(0).localSet(p)
    if (MR === 6) {
      // Full panels of a row-major op(A) (sAp = 1 element) or of a transposed one (sAi = 1): whole
      // vectors; the scalar loop below finishes the last kc mod 4 columns of the first case.
      f.localGet(rows).i32Const(MR).i32Eq().if(() => {
        f.localGet(sAp).i32Const(4).i32Eq().if(() => packRowMajor6(f, src, off, d, p, kc), () => {
          f.localGet(sAi).i32Const(4).i32Eq().if(() => {
            f.for(p, () => f.i32Const(0), () => f.localGet(kc), 1, () => {
              f.localGet(d).localGet(src).v128Load().v128Store()
              f.localGet(d).localGet(src).i64Load(16).i64Store(16)
              f.localGet(d).i32Const(4 * MR).i32Add().localSet(d)
              f.localGet(src).localGet(sAp).i32Add().localSet(src)
            })
          })
        })
      })
    }
    f.for(p, () => f.localGet(p), () => f.localGet(kc), 1, () => {
      for (let r = 0; r < MR; r++) {
        f.localGet(d)
        f.localGet(src).localGet(off[r]).i32Add().f32Load().f32Const(0).localGet(valid[r]).select()
        f.f32Store(4 * r)
      }
      f.localGet(d).i32Const(4 * MR).i32Add().localSet(d)
      f.localGet(src).localGet(sAp).i32Add().localSet(src)
    })
  })
  return f
}

/**
 * packB's full NR = 8 column panel of a transposed op(B) (column j contiguous along p): two 4×4
 * transposes per four p. Advances `p`, `src` and `d` while p + 4 ≤ kc.
 */
const packTransposedB = (f: FunctionBuilder, src: Local, off: ReadonlyArray<Local>, d: Local, p: Local, kc: Local): void => {
  const column = Array.from({ length: 8 }, () => f.local("v128"))
  const t = Array.from({ length: 4 }, () => f.local("v128"))
  const lo = Array.from({ length: 4 }, () => f.local("v128"))
  const hi = Array.from({ length: 4 }, () => f.local("v128"))
  f.block(() =>
    f.loop(() => {
      f.localGet(p).i32Const(4).i32Add().localGet(kc).i32GtS().brIf(1)
      for (let c = 0; c < 8; c++) f.localGet(src).localGet(off[c]).i32Add().v128Load().localSet(column[c])
      transpose4(f, column.slice(0, 4), t, lo)
      transpose4(f, column.slice(4, 8), t, hi)
      for (let q = 0; q < 4; q++) {
        f.localGet(d).localGet(lo[q]).v128Store(32 * q)
        f.localGet(d).localGet(hi[q]).v128Store(32 * q + 16)
      }
      f.localGet(d).i32Const(128).i32Add().localSet(d)
      f.localGet(src).i32Const(16).i32Add().localSet(src)
      f.localGet(p).i32Const(4).i32Add().localSet(p)
      f.br(0)
    })
  )
}

/** Packs op(B)[k0 + p, j0 + j] as NR-column panels: dst[(j/NR)·kc·NR + p·NR + j%NR]. */
const packB = (): FunctionBuilder => {
  const f = new FunctionBuilder("packB", i32s(8))
  const [b, sBp, sBj, k0, kc, j0, nc, dst] = f.params
  const [jp, p, cols, src, d] = [f.local("i32"), f.local("i32"), f.local("i32"), f.local("i32"), f.local("i32")]
  const off = Array.from({ length: NR }, () => f.local("i32"))
  const valid = Array.from({ length: NR }, () => f.local("i32"))
  const contiguous = f.local("i32")
  f.localGet(sBj).i32Const(1).i32Eq().localSet(contiguous)
  f.localGet(sBp).i32Const(2).i32Shl().localSet(sBp)
  f.localGet(sBj).i32Const(2).i32Shl().localSet(sBj)
  f.localGet(dst).localSet(d)
  f.for(jp, () => f.i32Const(0), () => f.localGet(nc), NR, () => {
    minI32(f, () => f.i32Const(NR), () => f.localGet(nc).localGet(jp).i32Sub())
    f.localSet(cols)
    for (let c = 0; c < NR; c++) {
      minI32(f, () => f.i32Const(c), () => f.localGet(cols).i32Const(1).i32Sub())
      f.localGet(sBj).i32Mul().localSet(off[c])
      f.i32Const(c).localGet(cols).i32LtS().localSet(valid[c])
    }
    f.localGet(b).localGet(k0).localGet(sBp).i32Mul().i32Add()
      .localGet(j0).localGet(jp).i32Add().localGet(sBj).i32Mul().i32Add().localSet(src)
    f.i32Const(0).localSet(p)
    f.localGet(contiguous).localGet(cols).i32Const(NR).i32Eq().i32And()
    f.if(() => {
      // Rows of B are contiguous and the panel is full: NR/4 vector copies per p.
      f.for(p, () => f.i32Const(0), () => f.localGet(kc), 1, () => {
        for (let v = 0; v < NR / 4; v++) f.localGet(d).localGet(src).v128Load(16 * v).v128Store(16 * v)
        f.localGet(d).i32Const(4 * NR).i32Add().localSet(d)
        f.localGet(src).localGet(sBp).i32Add().localSet(src)
      })
    }, () => {
      // A transposed op(B) (sBp = 1 element) and a full panel: four p at a time, each column's
      // vector of p…p+3 transposed into rows; the scalar loop below finishes kc mod 4.
      f.localGet(sBp).i32Const(4).i32Eq().localGet(cols).i32Const(NR).i32Eq().i32And()
      f.if(() => packTransposedB(f, src, off, d, p, kc))
      f.for(p, () => f.localGet(p), () => f.localGet(kc), 1, () => {
        for (let c = 0; c < NR; c++) {
          f.localGet(d)
          f.localGet(src).localGet(off[c]).i32Add().f32Load().f32Const(0).localGet(valid[c]).select()
          f.f32Store(4 * c)
        }
        f.localGet(d).i32Const(4 * NR).i32Add().localSet(d)
        f.localGet(src).localGet(sBp).i32Add().localSet(src)
      })
    })
  })
  return f
}

/**
 * C[mc × nc] (+)= Ã·B̃ for packed blocks: for each NR-column panel of B̃ and MR-row panel of Ã, an
 * MR×NR tile of accumulators over kc. Full tiles go straight to C; edge tiles through `tile`.
 */
const macro = (MR: number, fma: boolean): FunctionBuilder => {
  const f = new FunctionBuilder(`macro${MR}`, i32s(9))
  const [ap, bp, mc, nc, kc, c, ldc, accumulate, tile] = f.params
  const v = new Vec(f, fma)
  const [jr, ir, pa, pb, pend, bpanel, rows, cols, dstRow, r, j] = Array.from({ length: 11 }, () => f.local("i32"))
  const acc = Array.from({ length: MR }, () => Array.from({ length: NR / 4 }, () => f.local("v128")))
  const bv = Array.from({ length: NR / 4 }, () => f.local("v128"))
  const av = f.local("v128")
  f.for(jr, () => f.i32Const(0), () => f.localGet(nc), NR, () => {
    f.localGet(bp).localGet(jr).localGet(kc).i32Mul().i32Const(2).i32Shl().i32Add().localSet(bpanel)
    minI32(f, () => f.i32Const(NR), () => f.localGet(nc).localGet(jr).i32Sub())
    f.localSet(cols)
    f.for(ir, () => f.i32Const(0), () => f.localGet(mc), MR, () => {
      minI32(f, () => f.i32Const(MR), () => f.localGet(mc).localGet(ir).i32Sub())
      f.localSet(rows)
      for (const row of acc) for (const a of row) f.f32x4Const(0).localSet(a)
      f.localGet(ap).localGet(ir).localGet(kc).i32Mul().i32Const(2).i32Shl().i32Add().localSet(pa)
      f.localGet(bpanel).localSet(pb)
      f.localGet(bpanel).localGet(kc).i32Const(4 * NR).i32Mul().i32Add().localSet(pend)
      f.loop(() => {
        for (let q = 0; q < NR / 4; q++) f.localGet(pb).v128Load(16 * q).localSet(bv[q])
        for (let rr = 0; rr < MR; rr++) {
          f.localGet(pa).v128Load32Splat(4 * rr).localSet(av)
          for (let q = 0; q < NR / 4; q++) {
            f.localGet(av).localGet(bv[q]).localGet(acc[rr][q])
            v.madd()
            f.localSet(acc[rr][q])
          }
        }
        f.localGet(pa).i32Const(4 * MR).i32Add().localSet(pa)
        f.localGet(pb).i32Const(4 * NR).i32Add().localTee(pb).localGet(pend).i32LtU().brIf(0)
      })
      f.localGet(rows).i32Const(MR).i32Eq().localGet(cols).i32Const(NR).i32Eq().i32And()
      f.if(() => {
        // Added to C after the first k-slice, stored over it in the first (no read of C). The
        // accumulators start at +0, so they are never −0 and a plain store equals 0 + acc.
        const store = (add: boolean) => {
          for (let rr = 0; rr < MR; rr++) {
            // dstRow = c + (ir + rr)·ldc + jr·4
            f.localGet(c).localGet(ir).i32Const(rr).i32Add().localGet(ldc).i32Mul().i32Add()
              .localGet(jr).i32Const(2).i32Shl().i32Add().localSet(dstRow)
            for (let q = 0; q < NR / 4; q++) {
              f.localGet(dstRow).localGet(acc[rr][q])
              if (add) f.localGet(dstRow).v128Load(16 * q).f32x4Add()
              f.v128Store(16 * q)
            }
          }
        }
        f.localGet(accumulate).if(() => store(true), () => store(false))
      }, () => {
        for (let rr = 0; rr < MR; rr++) {
          for (let q = 0; q < NR / 4; q++) f.localGet(tile).localGet(acc[rr][q]).v128Store(4 * (rr * NR + 4 * q))
        }
        f.for(r, () => f.i32Const(0), () => f.localGet(rows), 1, () => {
          f.localGet(c).localGet(ir).localGet(r).i32Add().localGet(ldc).i32Mul().i32Add()
            .localGet(jr).i32Const(2).i32Shl().i32Add().localSet(dstRow)
          f.for(j, () => f.i32Const(0), () => f.localGet(cols), 1, () => {
            f.localGet(dstRow).localGet(j).i32Const(2).i32Shl().i32Add()
            f.localGet(tile).localGet(r).i32Const(NR).i32Mul().localGet(j).i32Add().i32Const(2).i32Shl().i32Add().f32Load()
            f.localGet(dstRow).localGet(j).i32Const(2).i32Shl().i32Add().f32Load().f32Const(0).localGet(accumulate).select()
            f.f32Add().f32Store()
          })
        })
      })
    })
  })
  return f
}

/** The sum of the four f32 lanes of `v` as (l0 + l1) + (l2 + l3), on the stack. */
const laneSumF32 = (f: FunctionBuilder, v: Local): void => {
  f.localGet(v).f32x4ExtractLane(0).localGet(v).f32x4ExtractLane(1).f32Add()
  f.localGet(v).f32x4ExtractLane(2).localGet(v).f32x4ExtractLane(3).f32Add().f32Add()
}

/**
 * gemv(a, sAi, sAp, b, c, m, k): c[i] = Σ_p op(A)[i, p]·b[p] for op(B) = b a contiguous column [k, 1] (either
 * transpose of a one-column operand is one), the products with one output column (a network's scalar head, forward
 * and its weight gradient), which the MR×NR tiles would spend 7/8 of their work padding. op(A)[i, p] =
 * a[i·sAi + p·sAp] (strides in elements), row-major (sAp = 1) or transposed (sAi = 1). Row-major: four rows at a
 * time, one f32x4 accumulator each, its lanes summed at the end, then the scalar tail of p; transposed: c accumulates
 * b[p]·(row p of A) along i, four p at a time.
 */
const gemv = (fma: boolean): FunctionBuilder => {
  const f = new FunctionBuilder("gemv", i32s(7))
  const [a, sAi, sAp, b, c, m, k] = f.params
  const v = new Vec(f, fma)
  const [i, p, full, fullM, row] = Array.from({ length: 5 }, () => f.local("i32"))
  const acc = Array.from({ length: 4 }, () => f.local("v128"))
  const bv = f.local("v128")
  const sum = f.local("f32")
  for (const s of [sAi, sAp]) f.localGet(s).i32Const(2).i32Shl().localSet(s)
  f.localGet(k).i32Const(-4).i32And().localSet(full)
  f.localGet(m).i32Const(-4).i32And().localSet(fullM)
  /** Stores at `dst` the dot product of op(A)'s row at `rowAt` with b: the lanes of `lane` (p < full), then the scalar tail. */
  const finishRow = (lane: Local, rowAt: () => void, dst: () => void) => {
    laneSumF32(f, lane)
    f.localSet(sum)
    f.for(p, () => f.localGet(full), () => f.localGet(k), 1, () => {
      f.localGet(sum)
      rowAt()
      f.localGet(p).i32Const(2).i32Shl().i32Add().f32Load()
      f.localGet(b).localGet(p).i32Const(2).i32Shl().i32Add().f32Load().f32Mul().f32Add().localSet(sum)
    })
    dst()
    f.localGet(sum).f32Store()
  }
  f.localGet(sAp).i32Const(4).i32Eq().if(() => {
    f.for(i, () => f.i32Const(0), () => f.localGet(fullM), 4, () => {
      for (const l of acc) f.f32x4Const(0).localSet(l)
      f.localGet(a).localGet(i).localGet(sAi).i32Mul().i32Add().localSet(row)
      f.for(p, () => f.i32Const(0), () => f.localGet(full), 4, () => {
        f.localGet(b).localGet(p).i32Const(2).i32Shl().i32Add().v128Load().localSet(bv)
        for (let r = 0; r < 4; r++) {
          f.localGet(row).localGet(sAi).i32Const(r).i32Mul().i32Add().localGet(p).i32Const(2).i32Shl().i32Add().v128Load()
          f.localGet(bv).localGet(acc[r])
          v.madd()
          f.localSet(acc[r])
        }
      })
      for (let r = 0; r < 4; r++) {
        finishRow(acc[r], () => void f.localGet(row).localGet(sAi).i32Const(r).i32Mul().i32Add(),
          () => void f.localGet(c).localGet(i).i32Const(r).i32Add().i32Const(2).i32Shl().i32Add())
      }
    })
    // the last m mod 4 rows, one at a time
    f.for(i, () => f.localGet(fullM), () => f.localGet(m), 1, () => {
      f.f32x4Const(0).localSet(acc[0])
      f.localGet(a).localGet(i).localGet(sAi).i32Mul().i32Add().localSet(row)
      f.for(p, () => f.i32Const(0), () => f.localGet(full), 4, () => {
        f.localGet(row).localGet(p).i32Const(2).i32Shl().i32Add().v128Load()
        f.localGet(b).localGet(p).i32Const(2).i32Shl().i32Add().v128Load().localGet(acc[0])
        v.madd()
        f.localSet(acc[0])
      })
      finishRow(acc[0], () => void f.localGet(row), () => void f.localGet(c).localGet(i).i32Const(2).i32Shl().i32Add())
    })
  }, () => {
    // op(A) = Aᵀ: c = Σ_p b[p]·(row p of A)
    f.for(i, () => f.i32Const(0), () => f.localGet(m), 1, () => void f.localGet(c).localGet(i).i32Const(2).i32Shl().i32Add().f32Const(0).f32Store())
    /** Adds b[p + q]·(row p + q of A) for q < `rows` into c, each c vector loaded and stored once. */
    const addRows = (rows: number) => {
      for (let q = 0; q < rows; q++) f.localGet(b).localGet(p).i32Const(q).i32Add().i32Const(2).i32Shl().i32Add().f32Load().f32x4Splat().localSet(acc[q])
      f.localGet(a).localGet(p).localGet(sAp).i32Mul().i32Add().localSet(row)
      f.for(i, () => f.i32Const(0), () => f.localGet(fullM), 4, () => {
        f.localGet(c).localGet(i).i32Const(2).i32Shl().i32Add()
        f.localGet(c).localGet(i).i32Const(2).i32Shl().i32Add().v128Load().localSet(bv)
        for (let q = 0; q < rows; q++) {
          f.localGet(row).localGet(sAp).i32Const(q).i32Mul().i32Add().localGet(i).i32Const(2).i32Shl().i32Add().v128Load().localGet(acc[q]).localGet(bv)
          v.madd()
          f.localSet(bv)
        }
        f.localGet(bv).v128Store()
      })
      f.for(i, () => f.localGet(fullM), () => f.localGet(m), 1, () => {
        f.localGet(c).localGet(i).i32Const(2).i32Shl().i32Add()
        f.localGet(c).localGet(i).i32Const(2).i32Shl().i32Add().f32Load()
        for (let q = 0; q < rows; q++) {
          f.localGet(row).localGet(sAp).i32Const(q).i32Mul().i32Add().localGet(i).i32Const(2).i32Shl().i32Add().f32Load()
          f.localGet(acc[q]).f32x4ExtractLane(0).f32Mul().f32Add()
        }
        f.f32Store()
      })
    }
    f.for(p, () => f.i32Const(0), () => f.localGet(full), 4, () => addRows(4))
    f.for(p, () => f.localGet(full), () => f.localGet(k), 1, () => addRows(1))
  })
  return f
}

/**
 * outer(a, b, c, m, n): c[i, j] = a[i]·b[j], the products with an inner dimension of 1 (the gradient reaching a scalar
 * head's input): op(A) [m, 1] and op(B) [1, n] are contiguous either way round; four j at a time.
 */
const outer = (): FunctionBuilder => {
  const f = new FunctionBuilder("outer", i32s(5))
  const [a, b, c, m, n] = f.params
  const [i, j, fullN, dst] = Array.from({ length: 4 }, () => f.local("i32"))
  const ai = f.local("v128")
  f.localGet(n).i32Const(-4).i32And().localSet(fullN)
  f.for(i, () => f.i32Const(0), () => f.localGet(m), 1, () => {
    f.localGet(a).localGet(i).i32Const(2).i32Shl().i32Add().f32Load().f32x4Splat().localSet(ai)
    f.localGet(c).localGet(i).localGet(n).i32Mul().i32Const(2).i32Shl().i32Add().localSet(dst)
    f.for(j, () => f.i32Const(0), () => f.localGet(fullN), 4, () => {
      f.localGet(dst).localGet(j).i32Const(2).i32Shl().i32Add()
      f.localGet(ai).localGet(b).localGet(j).i32Const(2).i32Shl().i32Add().v128Load().f32x4Mul().v128Store()
    })
    f.for(j, () => f.localGet(fullN), () => f.localGet(n), 1, () => {
      f.localGet(dst).localGet(j).i32Const(2).i32Shl().i32Add()
      f.localGet(ai).f32x4ExtractLane(0).localGet(b).localGet(j).i32Const(2).i32Shl().i32Add().f32Load().f32Mul().f32Store()
    })
  })
  return f
}

/**
 * Applies `body` over `n` floats of each stream (element addresses in locals; the body stores its
 * result): whole vectors in place, then the last n mod 4 through 16-byte slots at `tmp` (stream k
 * at tmp + 16k). A stream with `enabled` (an i32 local) is skipped in the tail when it is 0.
 */
interface Stream {
  readonly base: Local
  /** Read by the body (copied into the tail slot). */
  readonly input: boolean
  /** Written by the body (copied back from the tail slot). */
  readonly output: boolean
  readonly enabled?: Local
}

const overVectors = (f: FunctionBuilder, n: Local, tmp: Local, streams: ReadonlyArray<Stream>, body: (addr: ReadonlyArray<Local>) => void): void => {
  const [i, full, t, q] = [f.local("i32"), f.local("i32"), f.local("i32"), f.local("i32")]
  const addr = streams.map(() => f.local("i32"))
  const guarded = (s: Stream, code: () => void) => (s.enabled === undefined ? code() : void f.localGet(s.enabled).if(code))
  f.localGet(n).i32Const(-4).i32And().localSet(full)
  f.for(i, () => f.i32Const(0), () => f.localGet(full), 4, () => {
    streams.forEach((s, k) => f.localGet(s.base).localGet(i).i32Const(2).i32Shl().i32Add().localSet(addr[k]))
    body(addr)
  })
  f.localGet(n).localGet(full).i32Sub().localSet(t)
  f.localGet(t).if(() => {
    streams.forEach((s, k) => {
      f.localGet(tmp).i32Const(16 * k).i32Add().localSet(addr[k])
      f.localGet(addr[k]).f32Const(0).f32x4Splat().v128Store()
      if (!s.input) return
      guarded(s, () =>
        f.for(q, () => f.i32Const(0), () => f.localGet(t), 1, () => {
          f.localGet(addr[k]).localGet(q).i32Const(2).i32Shl().i32Add()
          f.localGet(s.base).localGet(full).localGet(q).i32Add().i32Const(2).i32Shl().i32Add().f32Load()
          f.f32Store()
        }))
    })
    body(addr)
    streams.forEach((s, k) => {
      if (!s.output) return
      guarded(s, () =>
        f.for(q, () => f.i32Const(0), () => f.localGet(t), 1, () => {
          f.localGet(s.base).localGet(full).localGet(q).i32Add().i32Const(2).i32Shl().i32Add()
          f.localGet(addr[k]).localGet(q).i32Const(2).i32Shl().i32Add().f32Load()
          f.f32Store()
        }))
    })
  })
}

/** Per row: z = C + bias; pre ← z when kept; C ← act(z). A bias or pre pointer of 0 is absent. */
const epilogue = (act: ActivationName, fma: boolean): FunctionBuilder => {
  const f = new FunctionBuilder(`epilogue_${act}`, i32s(8))
  const [c, ldc, rows, cols, bias, pre, ldpre, tmp] = f.params
  const v = new Vec(f, fma)
  const [r, rowC, rowPre] = [f.local("i32"), f.local("i32"), f.local("i32")]
  const z = f.local("v128")
  const streams: ReadonlyArray<Stream> = [
    { base: rowC, input: true, output: true },
    { base: rowPre, input: false, output: true, enabled: pre },
    { base: bias, input: true, output: false, enabled: bias }
  ]
  f.for(r, () => f.i32Const(0), () => f.localGet(rows), 1, () => {
    f.localGet(c).localGet(r).localGet(ldc).i32Mul().i32Add().localSet(rowC)
    f.localGet(pre).localGet(r).localGet(ldpre).i32Mul().i32Add().localSet(rowPre)
    overVectors(f, cols, tmp, streams, ([ac, apre, ab]) => {
      f.localGet(ac).v128Load().localSet(z)
      f.localGet(bias).if(() => void f.localGet(z).localGet(ab).v128Load().f32x4Add().localSet(z))
      f.localGet(pre).if(() => void f.localGet(apre).localGet(z).v128Store())
      f.localGet(ac)
      v.activation(act, z)
      f.v128Store()
    })
  })
  return f
}

const unary = (act: ActivationName, fma: boolean): FunctionBuilder => {
  const f = new FunctionBuilder(`unary_${act}`, i32s(4))
  const [x, out, n, tmp] = f.params
  const v = new Vec(f, fma)
  const z = f.local("v128")
  overVectors(f, n, tmp, [{ base: x, input: true, output: false }, { base: out, input: false, output: true }], ([ax, aout]) => {
    f.localGet(ax).v128Load().localSet(z)
    f.localGet(aout)
    v.activation(act, z)
    f.v128Store()
  })
  return f
}

const unaryGrad = (act: ActivationName, fma: boolean): FunctionBuilder => {
  const f = new FunctionBuilder(`unaryGrad_${act}`, i32s(5))
  const [x, dy, out, n, tmp] = f.params
  const v = new Vec(f, fma)
  const [z, g] = [f.local("v128"), f.local("v128")]
  const streams = [
    { base: x, input: true, output: false },
    { base: dy, input: true, output: false },
    { base: out, input: false, output: true }
  ]
  overVectors(f, n, tmp, streams, ([ax, ady, aout]) => {
    f.localGet(ax).v128Load().localSet(z)
    f.localGet(ady).v128Load().localSet(g)
    f.localGet(aout)
    v.activationGrad(act, z, g)
    f.v128Store()
  })
  return f
}

/** Lanes 2–3 of the f32 vector in `v` widened to two f64, on the stack. */
const promoteHigh = (f: FunctionBuilder, v: Local): void => {
  f.localGet(v).localGet(v).i8x16Shuffle([8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]).f64x2PromoteLowF32x4()
}

/** Two f64x2 (lanes 0–1, lanes 2–3) rounded to f32 and stored as one vector at `addr`. */
const storeDemoted = (f: FunctionBuilder, addr: Local, lo: Local, hi: Local): void => {
  f.localGet(addr)
  f.localGet(lo).f32x4DemoteF64x2Zero()
  f.localGet(hi).f32x4DemoteF64x2Zero()
  f.i8x16Shuffle([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]).v128Store()
}

/** The sum of the four f64 lanes of `a` and `b`, on the stack. */
const laneSum = (f: FunctionBuilder, a: Local, b: Local): void => {
  f.localGet(a).f64x2ExtractLane(0).localGet(a).f64x2ExtractLane(1).f64Add()
  f.localGet(b).f64x2ExtractLane(0).localGet(b).f64x2ExtractLane(1).f64Add().f64Add()
}

/**
 * layerNorm(x, out, mean, rstd, gamma, beta, rows, n, eps) for rows of n floats, n a multiple of 4,
 * in f64 like the reference (src/domain/cpu): μ = Σx/n, σ² = Σ(x − μ)²/n (sums in four f64 lanes),
 * rstd = 1/√(σ² + eps), out = f32((x − μ)·rstd·γ + β); mean and rstd stored as f32. γ and β are
 * always read (the caller passes ones and zeros when absent).
 */
const layerNormKernel = (): FunctionBuilder => {
  const f = new FunctionBuilder("layerNorm", [...i32s(8), "f64"])
  const [x, out, mean, rstd, gamma, beta, rows, n, eps] = f.params
  const [r, p, end, o, q] = Array.from({ length: 5 }, () => f.local("i32"))
  const [acc0, acc1, v, d0, d1, muV, rsV, g, b] = Array.from({ length: 9 }, () => f.local("v128"))
  const [mu, rs, nf] = [f.local("f64"), f.local("f64"), f.local("f64")]
  f.localGet(n).f64ConvertI32S().localSet(nf)
  f.for(r, () => f.i32Const(0), () => f.localGet(rows), 1, () => {
    // p: this row of x; end: its end (bytes)
    f.localGet(x).localGet(r).localGet(n).i32Mul().i32Const(2).i32Shl().i32Add().localSet(p)
    f.localGet(p).localGet(n).i32Const(2).i32Shl().i32Add().localSet(end)
    const overRow = (body: () => void) => {
      f.localGet(p).localSet(q)
      f.block(() =>
        f.loop(() => {
          f.localGet(q).localGet(end).i32GeU().brIf(1)
          f.localGet(q).v128Load().localSet(v)
          body()
          f.localGet(q).i32Const(16).i32Add().localSet(q)
          f.br(0)
        })
      )
    }
    f.f64x2Const(0).localSet(acc0)
    f.f64x2Const(0).localSet(acc1)
    overRow(() => {
      f.localGet(acc0).localGet(v).f64x2PromoteLowF32x4().f64x2Add().localSet(acc0)
      f.localGet(acc1)
      promoteHigh(f, v)
      f.f64x2Add().localSet(acc1)
    })
    laneSum(f, acc0, acc1)
    f.localGet(nf).f64Div().localSet(mu)
    f.localGet(mu).f64x2Splat().localSet(muV)
    f.f64x2Const(0).localSet(acc0)
    f.f64x2Const(0).localSet(acc1)
    overRow(() => {
      f.localGet(v).f64x2PromoteLowF32x4().localGet(muV).f64x2Sub().localSet(d0)
      promoteHigh(f, v)
      f.localGet(muV).f64x2Sub().localSet(d1)
      f.localGet(acc0).localGet(d0).localGet(d0).f64x2Mul().f64x2Add().localSet(acc0)
      f.localGet(acc1).localGet(d1).localGet(d1).f64x2Mul().f64x2Add().localSet(acc1)
    })
    f.f64Const(1)
    laneSum(f, acc0, acc1)
    f.localGet(nf).f64Div().localGet(eps).f64Add().f64Sqrt().f64Div().localSet(rs)
    f.localGet(mean).localGet(r).i32Const(2).i32Shl().i32Add().localGet(mu).f32DemoteF64().f32Store()
    f.localGet(rstd).localGet(r).i32Const(2).i32Shl().i32Add().localGet(rs).f32DemoteF64().f32Store()
    f.localGet(rs).f64x2Splat().localSet(rsV)
    // o walks out's row, g and b the same columns of γ and β (offset from the row start).
    f.localGet(out).localGet(p).localGet(x).i32Sub().i32Add().localSet(o)
    overRow(() => {
      f.localGet(gamma).localGet(q).localGet(p).i32Sub().i32Add().v128Load().localSet(g)
      f.localGet(beta).localGet(q).localGet(p).i32Sub().i32Add().v128Load().localSet(b)
      // ((x − μ)·rstd)·γ + β in f64, per half
      f.localGet(v).f64x2PromoteLowF32x4().localGet(muV).f64x2Sub().localGet(rsV).f64x2Mul()
      f.localGet(g).f64x2PromoteLowF32x4().f64x2Mul().localGet(b).f64x2PromoteLowF32x4().f64x2Add().localSet(d0)
      promoteHigh(f, v)
      f.localGet(muV).f64x2Sub().localGet(rsV).f64x2Mul()
      promoteHigh(f, g)
      f.f64x2Mul()
      promoteHigh(f, b)
      f.f64x2Add().localSet(d1)
      storeDemoted(f, o, d0, d1)
      f.localGet(o).i32Const(16).i32Add().localSet(o)
    })
  })
  return f
}

/**
 * layerNormBackward(dy, x, gamma, mean, rstd, dx, sums, rows, n), n a multiple of 4, in f64 like
 * the reference: with x̂ = (x − μ)·rstd and g = dy·γ, dx = rstd·(g − Σg/n − x̂·Σ(g·x̂)/n) per row
 * (row sums in four f64 lanes); sums (2n f64, zeroed by the caller) accumulates Σ_rows dy·x̂ in
 * its first n and Σ_rows dy in its last n, row after row as the reference does.
 */
const layerNormBackwardKernel = (): FunctionBuilder => {
  const f = new FunctionBuilder("layerNormBackward", i32s(9))
  const [dy, x, gamma, mean, rstd, dx, sums, rows, n] = f.params
  const [r, p, end, c, o, s] = Array.from({ length: 6 }, () => f.local("i32"))
  const [sg0, sg1, sgx0, sgx1, xv, yv, gv, xh0, xh1, y0, y1, g0, g1, muV, rsV, mgV, mgxV] = Array.from({ length: 17 }, () => f.local("v128"))
  const [nf, mu, rs] = [f.local("f64"), f.local("f64"), f.local("f64")]
  f.localGet(n).f64ConvertI32S().localSet(nf)
  f.for(r, () => f.i32Const(0), () => f.localGet(rows), 1, () => {
    // p: byte offset of the row; end: its end; c walks it (bytes from the row start)
    f.localGet(r).localGet(n).i32Mul().i32Const(2).i32Shl().localSet(p)
    f.localGet(n).i32Const(2).i32Shl().localSet(end)
    f.localGet(mean).localGet(r).i32Const(2).i32Shl().i32Add().f32Load().f64PromoteF32().localSet(mu)
    f.localGet(rstd).localGet(r).i32Const(2).i32Shl().i32Add().f32Load().f64PromoteF32().localSet(rs)
    f.localGet(mu).f64x2Splat().localSet(muV)
    f.localGet(rs).f64x2Splat().localSet(rsV)
    /** x̂, dy and g of the four columns at c, as f64 halves. */
    const load = () => {
      f.localGet(x).localGet(p).i32Add().localGet(c).i32Add().v128Load().localSet(xv)
      f.localGet(dy).localGet(p).i32Add().localGet(c).i32Add().v128Load().localSet(yv)
      f.localGet(gamma).localGet(c).i32Add().v128Load().localSet(gv)
      f.localGet(xv).f64x2PromoteLowF32x4().localGet(muV).f64x2Sub().localGet(rsV).f64x2Mul().localSet(xh0)
      promoteHigh(f, xv)
      f.localGet(muV).f64x2Sub().localGet(rsV).f64x2Mul().localSet(xh1)
      f.localGet(yv).f64x2PromoteLowF32x4().localSet(y0)
      promoteHigh(f, yv)
      f.localSet(y1)
      f.localGet(y0).localGet(gv).f64x2PromoteLowF32x4().f64x2Mul().localSet(g0)
      f.localGet(y1)
      promoteHigh(f, gv)
      f.f64x2Mul().localSet(g1)
    }
    const overRow = (body: () => void) => f.for(c, () => f.i32Const(0), () => f.localGet(end), 16, body)
    for (const a of [sg0, sg1, sgx0, sgx1]) f.f64x2Const(0).localSet(a)
    overRow(() => {
      load()
      f.localGet(sg0).localGet(g0).f64x2Add().localSet(sg0)
      f.localGet(sg1).localGet(g1).f64x2Add().localSet(sg1)
      f.localGet(sgx0).localGet(g0).localGet(xh0).f64x2Mul().f64x2Add().localSet(sgx0)
      f.localGet(sgx1).localGet(g1).localGet(xh1).f64x2Mul().f64x2Add().localSet(sgx1)
      // s: the f64 column sums of these four columns (8 bytes per column)
      f.localGet(sums).localGet(c).i32Const(1).i32Shl().i32Add().localSet(s)
      f.localGet(s).localGet(s).v128Load().localGet(y0).localGet(xh0).f64x2Mul().f64x2Add().v128Store()
      f.localGet(s).localGet(s).v128Load(16).localGet(y1).localGet(xh1).f64x2Mul().f64x2Add().v128Store(16)
      f.localGet(s).localGet(end).i32Const(1).i32Shl().i32Add().localSet(s)
      f.localGet(s).localGet(s).v128Load().localGet(y0).f64x2Add().v128Store()
      f.localGet(s).localGet(s).v128Load(16).localGet(y1).f64x2Add().v128Store(16)
    })
    laneSum(f, sg0, sg1)
    f.localGet(nf).f64Div().f64x2Splat().localSet(mgV)
    laneSum(f, sgx0, sgx1)
    f.localGet(nf).f64Div().f64x2Splat().localSet(mgxV)
    overRow(() => {
      load()
      f.localGet(dx).localGet(p).i32Add().localGet(c).i32Add().localSet(o)
      // rstd·((g − Σg/n) − x̂·(Σg·x̂/n))
      f.localGet(g0).localGet(mgV).f64x2Sub().localGet(xh0).localGet(mgxV).f64x2Mul().f64x2Sub().localGet(rsV).f64x2Mul().localSet(g0)
      f.localGet(g1).localGet(mgV).f64x2Sub().localGet(xh1).localGet(mgxV).f64x2Mul().f64x2Sub().localGet(rsV).f64x2Mul().localSet(g1)
      storeDemoted(f, o, g0, g1)
    })
  })
  return f
}

/** copyRows(src, srcStride, dst, dstStride, rows, bytes): row r's `bytes` bytes from src + r·srcStride to dst + r·dstStride. */
const copyRowsKernel = (): FunctionBuilder => {
  const f = new FunctionBuilder("copyRows", i32s(6))
  const [src, srcStride, dst, dstStride, rows, bytes] = f.params
  const r = f.local("i32")
  f.for(r, () => f.i32Const(0), () => f.localGet(rows), 1, () => {
    f.localGet(dst).localGet(r).localGet(dstStride).i32Mul().i32Add()
    f.localGet(src).localGet(r).localGet(srcStride).i32Mul().i32Add()
    f.localGet(bytes).memoryCopy()
  })
  return f
}

/** gatherRows(src, index, dst, rows, bytes): row j of dst is row index[j] of src (index: f32 integers, checked by the caller). */
const gatherRowsKernel = (): FunctionBuilder => {
  const f = new FunctionBuilder("gatherRows", i32s(5))
  const [src, index, dst, rows, bytes] = f.params
  const j = f.local("i32")
  f.for(j, () => f.i32Const(0), () => f.localGet(rows), 1, () => {
    f.localGet(dst).localGet(j).localGet(bytes).i32Mul().i32Add()
    f.localGet(src).localGet(index).localGet(j).i32Const(2).i32Shl().i32Add().f32Load().i32TruncF32S().localGet(bytes).i32Mul().i32Add()
    f.localGet(bytes).memoryCopy()
  })
  return f
}

/** binary_<op>(a, b, out, n, tmp): out = a ∘ b elementwise in f32 (correctly rounded: the same as in f64 rounded once). */
const binaryKernel = (op: "add" | "sub" | "mul"): FunctionBuilder => {
  const f = new FunctionBuilder(`binary_${op}`, i32s(5))
  const [a, b, out, n, tmp] = f.params
  const streams: ReadonlyArray<Stream> = [
    { base: a, input: true, output: false },
    { base: b, input: true, output: false },
    { base: out, input: false, output: true }
  ]
  overVectors(f, n, tmp, streams, ([aa, ab, aout]) => {
    f.localGet(aout).localGet(aa).v128Load().localGet(ab).v128Load()
    if (op === "add") f.f32x4Add()
    else if (op === "sub") f.f32x4Sub()
    else f.f32x4Mul()
    f.v128Store()
  })
  return f
}

/**
 * addRows(x, index, rows, cols, acc): for each row r of x in order, acc[t, c] += x[r, c] in f64,
 * with target row t = index[r] (f32 integers, checked by the caller) or 0 when index is 0 (column
 * sums). acc (f64) is zeroed by the caller. The reference's order and precision, so the f32
 * rounding of acc is the same.
 */
const addRowsKernel = (): FunctionBuilder => {
  const f = new FunctionBuilder("addRows", i32s(5))
  const [x, index, rows, cols, acc] = f.params
  const [r, c, full, row, target, a] = Array.from({ length: 6 }, () => f.local("i32"))
  const v = f.local("v128")
  f.localGet(cols).i32Const(-4).i32And().localSet(full)
  f.for(r, () => f.i32Const(0), () => f.localGet(rows), 1, () => {
    f.localGet(x).localGet(r).localGet(cols).i32Mul().i32Const(2).i32Shl().i32Add().localSet(row)
    // target: byte address of acc's row index[r] (row 0 without an index)
    f.localGet(index).if(() => {
      f.localGet(index).localGet(r).i32Const(2).i32Shl().i32Add().f32Load().i32TruncF32S().localSet(target)
    }, () => void f.i32Const(0).localSet(target))
    f.localGet(acc).localGet(target).localGet(cols).i32Mul().i32Const(3).i32Shl().i32Add().localSet(target)
    f.for(c, () => f.i32Const(0), () => f.localGet(full), 4, () => {
      f.localGet(row).localGet(c).i32Const(2).i32Shl().i32Add().v128Load().localSet(v)
      f.localGet(target).localGet(c).i32Const(3).i32Shl().i32Add().localSet(a)
      f.localGet(a).localGet(a).v128Load().localGet(v).f64x2PromoteLowF32x4().f64x2Add().v128Store()
      f.localGet(a).localGet(a).v128Load(16)
      promoteHigh(f, v)
      f.f64x2Add().v128Store(16)
    })
    f.for(c, () => f.localGet(full), () => f.localGet(cols), 1, () => {
      f.localGet(target).localGet(c).i32Const(3).i32Shl().i32Add().localSet(a)
      f.localGet(a).localGet(a).f64Load().localGet(row).localGet(c).i32Const(2).i32Shl().i32Add().f32Load().f64PromoteF32().f64Add().f64Store()
    })
  })
  return f
}

/** affine(x, out, n, scale, shift, tmp): out = f32(scale·x + shift) computed in f64 (as the reference). */
const affineKernel = (): FunctionBuilder => {
  const f = new FunctionBuilder("affine", ["i32", "i32", "i32", "f64", "f64", "i32"])
  const [x, out, n, scale, shift, tmp] = f.params
  const [scaleV, shiftV, v, lo, hi] = Array.from({ length: 5 }, () => f.local("v128"))
  f.localGet(scale).f64x2Splat().localSet(scaleV)
  f.localGet(shift).f64x2Splat().localSet(shiftV)
  overVectors(f, n, tmp, [{ base: x, input: true, output: false }, { base: out, input: false, output: true }], ([ax, aout]) => {
    f.localGet(ax).v128Load().localSet(v)
    f.localGet(v).f64x2PromoteLowF32x4().localGet(scaleV).f64x2Mul().localGet(shiftV).f64x2Add().localSet(lo)
    promoteHigh(f, v)
    f.localGet(scaleV).f64x2Mul().localGet(shiftV).f64x2Add().localSet(hi)
    storeDemoted(f, aout, lo, hi)
  })
  return f
}

/**
 * fdlibm's π/2 (e_rem_pio2.c) in two 33-bit parts and the second part's tail: for |n| < 2²⁰ the products n·PIO2_1 and
 * n·PIO2_2 are exact, so r = x − n·π/2 is accurate to an ulp of r.
 */
const PIO2_1 = 1.57079632673412561417e+00
const PIO2_2 = 6.07710050630396597660e-11
const PIO2_2T = 2.02226624879595063154e-21
/** fdlibm's __kernel_sin (k_sin.c, S1…S6) and __kernel_cos (k_cos.c, C1…C6) polynomials on [−π/4, π/4]. */
const SIN = [-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04, 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10]
const COS = [4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05, -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11]

/** Largest |x| the trig kernels reduce (|n| ≤ 63 662, far below 2²⁰); they count larger arguments (±∞ too) for the caller. */
export const TRIG_MAX = 1e5

/**
 * sin (or cos) of the two f64 lanes of `x`, left on the stack: n = nearest(2x/π), r = x − n·π/2 (Cody–Waite, PIO2_*),
 * fdlibm's sin and cos polynomials at r, and the quadrant n mod 4 (cos x = sin(x + π/2): quadrant n + 1) picks ±sin r
 * or ±cos r. Accurate to about an f64 ulp, as V8's Math.sin/Math.cos (fdlibm's) are.
 */
const trigF64 = (f: FunctionBuilder, x: Local, cos: boolean): void => {
  const [n, r, z, sr, cr, q] = Array.from({ length: 6 }, () => f.local("v128"))
  const k = (v: number) => f.constant("f64x2", v)
  f.localGet(x).localGet(k(2 / Math.PI)).f64x2Mul().f64x2Nearest().localSet(n)
  f.localGet(x).localGet(n).localGet(k(PIO2_1)).f64x2Mul().f64x2Sub()
    .localGet(n).localGet(k(PIO2_2)).f64x2Mul().f64x2Sub()
    .localGet(n).localGet(k(PIO2_2T)).f64x2Mul().f64x2Sub().localSet(r)
  f.localGet(r).localGet(r).f64x2Mul().localSet(z)
  // sin r = r + (z·r)·(S1 + z·(S2 + z·(S3 + z·(S4 + z·(S5 + z·S6)))))
  f.localGet(k(SIN[5]))
  for (const c of [SIN[4], SIN[3], SIN[2], SIN[1], SIN[0]]) f.localGet(z).f64x2Mul().localGet(k(c)).f64x2Add()
  f.localGet(z).localGet(r).f64x2Mul().f64x2Mul().localGet(r).f64x2Add().localSet(sr)
  // cos r = w + (((1 − w) − z/2) + z·z·(C1 + z·(C2 + … + z·C6))), w = 1 − z/2
  f.localGet(k(COS[5]))
  for (const c of [COS[4], COS[3], COS[2], COS[1], COS[0]]) f.localGet(z).f64x2Mul().localGet(k(c)).f64x2Add()
  f.localGet(z).f64x2Mul().localGet(z).f64x2Mul().localSet(cr)
  f.localGet(k(1)).localGet(z).localGet(k(0.5)).f64x2Mul().f64x2Sub().localSet(q)
  f.localGet(q)
  f.localGet(k(1)).localGet(q).f64x2Sub().localGet(z).localGet(k(0.5)).f64x2Mul().f64x2Sub().localGet(cr).f64x2Add()
  f.f64x2Add().localSet(cr)
  // quadrant q = m mod 4 of m = n (sin) or n + 1 (cos): odd q takes cos r, q ≥ 2 flips the sign
  if (cos) f.localGet(n).localGet(k(1)).f64x2Add().localSet(n)
  f.localGet(n).localGet(n).localGet(k(0.25)).f64x2Mul().f64x2Floor().localGet(k(4)).f64x2Mul().f64x2Sub().localSet(q)
  f.localGet(cr).localGet(sr)
  f.localGet(q).localGet(q).localGet(k(0.5)).f64x2Mul().f64x2Floor().localGet(k(2)).f64x2Mul().f64x2Sub().localGet(k(1)).f64x2Eq()
  f.v128Bitselect()
  f.localGet(q).localGet(k(2)).f64x2Ge().localGet(k(-0)).v128And().v128Xor()
  if (!cos) {
    // sin ±0 = ±0 (fdlibm returns x itself below 2⁻²⁷; x − n·π/2 above made −0 into +0)
    f.localSet(sr)
    f.localGet(x).localGet(sr).localGet(x).localGet(k(0)).f64x2Eq().v128Bitselect()
  }
}

/** acc += 1 in each f64 lane of `v` whose |v| exceeds TRIG_MAX (or is ±∞). */
const countOutOfRange = (f: FunctionBuilder, v: Local, acc: Local): void => {
  f.localGet(acc).localGet(v).f64x2Abs().localGet(f.constant("f64x2", TRIG_MAX)).f64x2Gt().localGet(f.constant("f64x2", 1)).v128And().f64x2Add().localSet(acc)
}

/**
 * trig_<op>(x, out, n, range, tmp): out = f32(sin x) or f32(cos x) computed in f64 (trigF64); trigGrad_<op>(x, dy, out,
 * n, range, tmp): out = f32(dy·sin′(x)) (dy·cos x, or dy·(−sin x) for cos), as the reference's dy·derivative in f64.
 * Writes at `range` (two f64) how many elements had |x| > TRIG_MAX: their results are not to be used.
 */
const trigKernel = (op: "sin" | "cos", grad: boolean): FunctionBuilder => {
  const f = new FunctionBuilder(`${grad ? "trigGrad" : "trig"}_${op}`, i32s(grad ? 6 : 5))
  const x = f.params[0]
  const dy = grad ? f.params[1] : undefined
  const [out, n, range, tmp] = f.params.slice(grad ? 2 : 1)
  const [xv, lo, hi, acc, gv] = Array.from({ length: 5 }, () => f.local("v128"))
  f.f64x2Const(0).localSet(acc)
  const streams: Array<Stream> = [{ base: x, input: true, output: false }]
  if (dy !== undefined) streams.push({ base: dy, input: true, output: false })
  streams.push({ base: out, input: false, output: true })
  overVectors(f, n, tmp, streams, (addr) => {
    const [ax, aout] = [addr[0], addr[addr.length - 1]]
    f.localGet(ax).v128Load().localSet(xv)
    f.localGet(xv).f64x2PromoteLowF32x4().localSet(lo)
    promoteHigh(f, xv)
    f.localSet(hi)
    countOutOfRange(f, lo, acc)
    countOutOfRange(f, hi, acc)
    // the derivative's function: sin′ = cos, cos′ = −sin
    const asCos = grad ? op === "sin" : op === "cos"
    for (const half of [lo, hi]) {
      trigF64(f, half, asCos)
      f.localSet(half)
    }
    if (grad) {
      f.localGet(addr[1]).v128Load().localSet(gv)
      const sign = op === "cos" ? -1 : 1
      f.localGet(lo).localGet(gv).f64x2PromoteLowF32x4().f64x2Mul().localGet(f.constant("f64x2", sign)).f64x2Mul().localSet(lo)
      f.localGet(hi)
      promoteHigh(f, gv)
      f.f64x2Mul().localGet(f.constant("f64x2", sign)).f64x2Mul().localSet(hi)
    }
    storeDemoted(f, aout, lo, hi)
  })
  f.localGet(range).localGet(acc).v128Store()
  return f
}

/** Philox4x32-10 constants (Salmon et al., SC'11), as in src/domain/Rng.ts. */
const PHILOX_M0 = 0xd2511f53
const PHILOX_M1 = 0xcd9e8d57
const PHILOX_W0 = 0x9e3779b9
const PHILOX_W1 = 0xbb67ae85
/** Bytes of the high u32 of each u64 lane of [a, b]. */
const HIGH_WORDS = [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31]

/** Four Philox4x32-10 streams at once (element i in lane i); leaves words 0–3 in x[0…3]. */
const philoxWord0 = (f: FunctionBuilder, x: ReadonlyArray<Local>, k0: Local, k1: Local, hi: Local, lo: Local): void => {
  const mulHiLo = (v: Local, m: number, hiOut: Local, loOut: Local) => {
    f.localGet(v).localGet(f.constant("i32x4", m)).i64x2ExtmulLowI32x4U()
    f.localGet(v).localGet(f.constant("i32x4", m)).i64x2ExtmulHighI32x4U()
    f.i8x16Shuffle(HIGH_WORDS).localSet(hiOut)
    f.localGet(v).localGet(f.constant("i32x4", m)).i32x4Mul().localSet(loOut)
  }
  const [hi1, lo1] = [f.local("v128"), f.local("v128")]
  for (let round = 0; round < 10; round++) {
    mulHiLo(x[0], PHILOX_M0, hi, lo)
    mulHiLo(x[2], PHILOX_M1, hi1, lo1)
    // (x0, x1, x2, x3) ← (hi1 ⊕ x1 ⊕ k0, lo1, hi0 ⊕ x3 ⊕ k1, lo0)
    f.localGet(hi1).localGet(x[1]).v128Xor().localGet(k0).v128Xor().localSet(x[0])
    f.localGet(lo1).localSet(x[1])
    f.localGet(hi).localGet(x[3]).v128Xor().localGet(k1).v128Xor().localSet(x[2])
    f.localGet(lo).localSet(x[3])
    f.localGet(k0).localGet(f.constant("i32x4", PHILOX_W0)).i32x4Add().localSet(k0)
    f.localGet(k1).localGet(f.constant("i32x4", PHILOX_W1)).i32x4Add().localSet(k1)
  }
}

/** Stores at `aout` the f32 rounding of x/keep (in f64, as the reference) where `mask` is all ones, else 0. */
const storeKept = (f: FunctionBuilder, aout: Local, xv: Local, keepV: Local, mask: Local): void => {
  f.localGet(aout)
  f.localGet(xv).f64x2PromoteLowF32x4().localGet(keepV).f64x2Div().f32x4DemoteF64x2Zero()
  f.localGet(xv).localGet(xv).i8x16Shuffle([8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15])
    .f64x2PromoteLowF32x4().localGet(keepV).f64x2Div().f32x4DemoteF64x2Zero()
  f.i8x16Shuffle([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23])
  f.localGet(mask).v128And().v128Store()
}

const dropout = (): FunctionBuilder => {
  const f = new FunctionBuilder("dropout", ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "f64", "i32", "i32"])
  const [x, out, n, seed, stream, offset, threshold, keep, maskOut, tmp] = f.params
  const [counter, keepV, xv, mask, hi, lo, k0, k1] = Array.from({ length: 8 }, () => f.local("v128"))
  const words = Array.from({ length: 4 }, () => f.local("v128"))
  // Lane i counts elements i, i + 4, i + 8, …
  f.i32Const(0).i32x4Splat().localSet(counter)
  for (let lane = 1; lane < 4; lane++) f.localGet(counter).i32Const(lane).simdReplaceI32Lane(lane).localSet(counter)
  f.localGet(keep).f64x2Splat().localSet(keepV)
  const streams: ReadonlyArray<Stream> = [
    { base: x, input: true, output: false },
    { base: out, input: false, output: true },
    { base: maskOut, input: false, output: true, enabled: maskOut }
  ]
  overVectors(f, n, tmp, streams, ([ax, aout, amask]) => {
    f.localGet(counter).localSet(words[0])
    f.localGet(offset).i32x4Splat().localSet(words[1])
    f.localGet(f.constant("i32x4", 0)).localSet(words[2])
    f.localGet(f.constant("i32x4", 0)).localSet(words[3])
    f.localGet(seed).i32x4Splat().localSet(k0)
    f.localGet(stream).i32x4Splat().localSet(k1)
    philoxWord0(f, words, k0, k1, hi, lo)
    // Kept iff (word >>> 8) + 0.5 ≥ p·2²⁴, i.e. word >>> 8 ≥ threshold (an exact integer test).
    f.localGet(words[0]).i32Const(8).i32x4ShrU().localGet(threshold).i32x4Splat().i32x4GeS().localSet(mask)
    f.localGet(maskOut).if(() => void f.localGet(amask).localGet(mask).v128Store())
    f.localGet(ax).v128Load().localSet(xv)
    storeKept(f, aout, xv, keepV, mask)
    f.localGet(counter).localGet(f.constant("i32x4", 4)).i32x4Add().localSet(counter)
  })
  return f
}

/** dropoutMasked(x, out, n, mask, keep, tmp): dropout with the keep mask (i32 lanes, all ones = kept) a `dropout` call stored. */
const dropoutMasked = (): FunctionBuilder => {
  const f = new FunctionBuilder("dropoutMasked", ["i32", "i32", "i32", "i32", "f64", "i32"])
  const [x, out, n, maskIn, keep, tmp] = f.params
  const [keepV, xv, mask] = [f.local("v128"), f.local("v128"), f.local("v128")]
  f.localGet(keep).f64x2Splat().localSet(keepV)
  const streams: ReadonlyArray<Stream> = [
    { base: x, input: true, output: false },
    { base: out, input: false, output: true },
    { base: maskIn, input: true, output: false }
  ]
  overVectors(f, n, tmp, streams, ([ax, aout, amask]) => {
    f.localGet(amask).v128Load().localSet(mask)
    f.localGet(ax).v128Load().localSet(xv)
    storeKept(f, aout, xv, keepV, mask)
  })
  return f
}

/**
 * philoxWords(w0, w1, n, seed, stream, offset, tmp): words 0 and 1 of Philox4x32-10 of counter
 * (i, offset, 0, 0) under key (seed, stream) for i < n, as u32 arrays (src/domain/Rng.ts's draws
 * are functions of these two words).
 */
const philoxWords = (): FunctionBuilder => {
  const f = new FunctionBuilder("philoxWords", i32s(7))
  const [w0, w1, n, seed, stream, offset, tmp] = f.params
  const [counter, hi, lo, k0, k1] = Array.from({ length: 5 }, () => f.local("v128"))
  const words = Array.from({ length: 4 }, () => f.local("v128"))
  f.i32Const(0).i32x4Splat().localSet(counter)
  for (let lane = 1; lane < 4; lane++) f.localGet(counter).i32Const(lane).simdReplaceI32Lane(lane).localSet(counter)
  const streams: ReadonlyArray<Stream> = [{ base: w0, input: false, output: true }, { base: w1, input: false, output: true }]
  overVectors(f, n, tmp, streams, ([a0, a1]) => {
    f.localGet(counter).localSet(words[0])
    f.localGet(offset).i32x4Splat().localSet(words[1])
    f.localGet(f.constant("i32x4", 0)).localSet(words[2])
    f.localGet(f.constant("i32x4", 0)).localSet(words[3])
    f.localGet(seed).i32x4Splat().localSet(k0)
    f.localGet(stream).i32x4Splat().localSet(k1)
    philoxWord0(f, words, k0, k1, hi, lo)
    f.localGet(a0).localGet(words[0]).v128Store()
    f.localGet(a1).localGet(words[1]).v128Store()
    f.localGet(counter).localGet(f.constant("i32x4", 4)).i32x4Add().localSet(counter)
  })
  return f
}

const adamw = (): FunctionBuilder => {
  const f = new FunctionBuilder("adamw", ["i32", "i32", "i32", "i32", "i32", "f32", "f32", "f32", "f32", "f32", "f32", "f32", "f32", "f32", "i32"])
  const [p, g, m, v, n, ...rest] = f.params
  const tmp = rest[9]
  const [b1, omb1, b2, omb2, c1inv, c2inv, eps, lr, wd] = rest.slice(0, 9).map((s) => {
    const l = f.local("v128")
    f.localGet(s).f32x4Splat().localSet(l)
    return l
  })
  const [gv, mv, vv, pv] = [f.local("v128"), f.local("v128"), f.local("v128"), f.local("v128")]
  const streams: ReadonlyArray<Stream> = [
    { base: p, input: true, output: true },
    { base: g, input: true, output: false },
    { base: m, input: true, output: true },
    { base: v, input: true, output: true }
  ]
  overVectors(f, n, tmp, streams, ([ap, ag, am, av]) => {
    f.localGet(ag).v128Load().localSet(gv)
    // m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²
    f.localGet(b1).localGet(am).v128Load().f32x4Mul().localGet(omb1).localGet(gv).f32x4Mul().f32x4Add().localSet(mv)
    f.localGet(b2).localGet(av).v128Load().f32x4Mul().localGet(omb2).localGet(gv).localGet(gv).f32x4Mul().f32x4Mul().f32x4Add().localSet(vv)
    f.localGet(am).localGet(mv).v128Store()
    f.localGet(av).localGet(vv).v128Store()
    // θ ← θ − lr·(m̂/(√v̂ + ε) + wd·θ), m̂ = m/c1, v̂ = v/c2
    f.localGet(ap).v128Load().localSet(pv)
    f.localGet(ap).localGet(pv)
    f.localGet(mv).localGet(c1inv).f32x4Mul()
    f.localGet(vv).localGet(c2inv).f32x4Mul().f32x4Sqrt().localGet(eps).f32x4Add().f32x4Div()
    f.localGet(wd).localGet(pv).f32x4Mul().f32x4Add().localGet(lr).f32x4Mul().f32x4Sub().v128Store()
  })
  return f
}

const ema = (): FunctionBuilder => {
  const f = new FunctionBuilder("ema", ["i32", "i32", "i32", "f32", "i32"])
  const [target, source, n, rate, tmp] = f.params
  const [r, t] = [f.local("v128"), f.local("v128")]
  f.localGet(rate).f32x4Splat().localSet(r)
  const streams: ReadonlyArray<Stream> = [{ base: target, input: true, output: true }, { base: source, input: true, output: false }]
  overVectors(f, n, tmp, streams, ([at, as]) => {
    f.localGet(at).v128Load().localSet(t)
    f.localGet(at).localGet(t).localGet(as).v128Load().localGet(t).f32x4Sub().localGet(r).f32x4Mul().f32x4Add().v128Store()
  })
  return f
}

/** The module's bytes, with or without relaxed-SIMD FMA. */
export const moduleBytes = (fma: boolean): Uint8Array =>
  encodeModule([
    ...TILE_ROWS.map((mr) => packA(mr)),
    packB(),
    ...TILE_ROWS.map((mr) => macro(mr, fma)),
    gemv(fma),
    outer(),
    ...Activations.map((a) => epilogue(a, fma)),
    ...Activations.map((a) => unary(a, fma)),
    ...Activations.map((a) => unaryGrad(a, fma)),
    addRowsKernel(),
    affineKernel(),
    trigKernel("sin", false),
    trigKernel("cos", false),
    trigKernel("sin", true),
    trigKernel("cos", true),
    copyRowsKernel(),
    gatherRowsKernel(),
    binaryKernel("add"),
    binaryKernel("sub"),
    binaryKernel("mul"),
    layerNormKernel(),
    layerNormBackwardKernel(),
    dropout(),
    dropoutMasked(),
    philoxWords(),
    adamw(),
    ema()
  ], MAX_PAGES)

/** The compiled module: with FMA when the engine validates relaxed SIMD. */
export const compile = (): { readonly module: WebAssembly.Module; readonly fma: boolean } => {
  const withFma = moduleBytes(true)
  const fma = WebAssembly.validate(withFma)
  return { module: new WebAssembly.Module(fma ? withFma : moduleBytes(false)), fma }
}

/** Instantiates `module` over `memory` (synchronous: the module is small). */
export const instantiate = (module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports => {
  const e = new WebAssembly.Instance(module, { env: { memory } }).exports as Record<string, (...args: Array<number>) => void>
  const per = <F>(prefix: string) => Object.fromEntries(Activations.map((a) => [a, e[`${prefix}_${a}`]])) as Record<ActivationName, F>
  const tiles = (prefix: string) => Object.fromEntries(TILE_ROWS.map((mr) => [mr, e[`${prefix}${mr}`]])) as Record<TileRows, (...args: Array<number>) => void>
  return {
    packA: tiles("packA"),
    packB: e.packB,
    macro: tiles("macro"),
    gemv: e.gemv,
    outer: e.outer,
    epilogue: per("epilogue"),
    unary: per("unary"),
    unaryGrad: per("unaryGrad"),
    addRows: e.addRows,
    affine: e.affine,
    trig: { sin: e.trig_sin, cos: e.trig_cos },
    trigGrad: { sin: e.trigGrad_sin, cos: e.trigGrad_cos },
    copyRows: e.copyRows,
    gatherRows: e.gatherRows,
    binary: { add: e.binary_add, sub: e.binary_sub, mul: e.binary_mul },
    layerNorm: e.layerNorm,
    layerNormBackward: e.layerNormBackward,
    dropout: e.dropout,
    dropoutMasked: e.dropoutMasked,
    philoxWords: e.philoxWords,
    adamw: e.adamw,
    ema: e.ema
  }
}
