/**
 * A small WebAssembly binary encoder: enough of the format (types, one imported shared memory,
 * functions, exports) and of the instruction set (i32, f32, 128-bit SIMD, relaxed-SIMD FMA) to
 * emit the WASM backend's kernels at run time, so the backend needs no compiler. Instruction
 * methods are named after the text format (`i32Add` is `i32.add`); see the WebAssembly core
 * specification §5 (binary format) for every opcode used here.
 */

export type ValType = "i32" | "f32" | "f64" | "v128"

const valType: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b }

/** Unsigned LEB128. */
const uleb = (n: number): Array<number> => {
  const out: Array<number> = []
  let v = n >>> 0
  do {
    const byte = v & 0x7f
    v >>>= 7
    out.push(v === 0 ? byte : byte | 0x80)
  } while (v !== 0)
  return out
}

/** Signed LEB128 of a 32-bit integer. */
const sleb = (n: number): Array<number> => {
  const out: Array<number> = []
  let v = n | 0
  for (;;) {
    const byte = v & 0x7f
    v >>= 7
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)
    out.push(done ? byte : byte | 0x80)
    if (done) return out
  }
}

const utf8 = (s: string): Array<number> => {
  const bytes = [...new TextEncoder().encode(s)]
  return [...uleb(bytes.length), ...bytes]
}

const vec = (items: ReadonlyArray<ReadonlyArray<number>>): Array<number> => [...uleb(items.length), ...items.flat()]

const section = (id: number, body: ReadonlyArray<number>): Array<number> => [id, ...uleb(body.length), ...body]

/** A local variable (parameters first, then declared locals). */
export interface Local {
  readonly index: number
  readonly type: ValType
}

/** The body of one function, built instruction by instruction. */
export class FunctionBuilder {
  readonly name: string
  readonly params: ReadonlyArray<Local>
  private readonly locals: Array<Local> = []
  private readonly code: Array<number> = []
  /** Runs before `code`: hoisted constants. */
  private readonly prologue: Array<number> = []
  private readonly constants = new Map<string, Local>()

  constructor(name: string, params: ReadonlyArray<ValType>) {
    this.name = name
    this.params = params.map((type, index) => ({ index, type }))
  }

  /** A new local of `type`. */
  local(type: ValType): Local {
    const l = { index: this.params.length + this.locals.length, type }
    this.locals.push(l)
    return l
  }

  /**
   * A v128 local holding `v` in every lane, set once at the function's start. V8 materialises a
   * v128.const with several instructions at each use; inside a loop a local is cheaper.
   */
  constant(lanes: "f32x4" | "i32x4" | "f64x2", v: number): Local {
    const key = `${lanes} ${v}`
    const known = this.constants.get(key)
    if (known !== undefined) return known
    const l = this.local("v128")
    const bytes = [...new Uint8Array((lanes === "f32x4" ? new Float32Array([v]) : lanes === "i32x4" ? new Int32Array([v]) : new Float64Array([v, v])).buffer)]
    const all = lanes === "f64x2" ? bytes : [...bytes, ...bytes, ...bytes, ...bytes]
    this.prologue.push(0xfd, ...uleb(0x0c), ...all, 0x21, ...uleb(l.index))
    this.constants.set(key, l)
    return l
  }

  /** Parameter `i`. */
  param(i: number): Local {
    return this.params[i]
  }

  private op(...bytes: ReadonlyArray<number>): this {
    this.code.push(...bytes)
    return this
  }

  private simd(opcode: number, ...immediates: ReadonlyArray<number>): this {
    return this.op(0xfd, ...uleb(opcode), ...immediates)
  }

  // ---- control ----------------------------------------------------------------------------
  /** `block … end`; a `br` to it jumps past its end. */
  block(body: () => void): this {
    this.op(0x02, 0x40)
    body()
    return this.op(0x0b)
  }
  /** `loop … end`; a `br` to it jumps back to its start. */
  loop(body: () => void): this {
    this.op(0x03, 0x40)
    body()
    return this.op(0x0b)
  }
  /** `if … (else …) end` on the i32 on the stack. */
  if(then: () => void, otherwise?: () => void): this {
    this.op(0x04, 0x40)
    then()
    if (otherwise !== undefined) {
      this.op(0x05)
      otherwise()
    }
    return this.op(0x0b)
  }
  br(depth: number): this {
    return this.op(0x0c, ...uleb(depth))
  }
  brIf(depth: number): this {
    return this.op(0x0d, ...uleb(depth))
  }
  return(): this {
    return this.op(0x0f)
  }
  select(): this {
    return this.op(0x1b)
  }
  drop(): this {
    return this.op(0x1a)
  }

  /**
   * `for (i = from; i < to; i += step) body()` over i32 locals/constants; the loop is skipped when
   * from ≥ to. Inside `body`, `br(1)` breaks and `br(0)` would skip the increment (do not use it).
   */
  for(i: Local, from: () => void, to: () => void, step: number, body: () => void): this {
    from()
    this.localSet(i)
    return this.block(() => {
      this.loop(() => {
        this.localGet(i)
        to()
        this.i32GeS().brIf(1)
        body()
        this.localGet(i).i32Const(step).i32Add().localSet(i).br(0)
      })
    })
  }

  // ---- variables and constants ------------------------------------------------------------
  localGet(l: Local): this {
    return this.op(0x20, ...uleb(l.index))
  }
  localSet(l: Local): this {
    return this.op(0x21, ...uleb(l.index))
  }
  localTee(l: Local): this {
    return this.op(0x22, ...uleb(l.index))
  }
  i32Const(v: number): this {
    return this.op(0x41, ...sleb(v))
  }
  f32Const(v: number): this {
    const bytes = new Uint8Array(new Float32Array([v]).buffer)
    return this.op(0x43, ...bytes)
  }

  f64Const(v: number): this {
    const bytes = new Uint8Array(new Float64Array([v]).buffer)
    return this.op(0x44, ...bytes)
  }
  f64Add(): this {
    return this.op(0xa0)
  }
  f64Sub(): this {
    return this.op(0xa1)
  }
  f64Mul(): this {
    return this.op(0xa2)
  }
  f64Div(): this {
    return this.op(0xa3)
  }
  f64Sqrt(): this {
    return this.op(0x9f)
  }
  f64ConvertI32S(): this {
    return this.op(0xb7)
  }
  f32DemoteF64(): this {
    return this.op(0xb6)
  }
  f64PromoteF32(): this {
    return this.op(0xbb)
  }
  f64x2Add(): this {
    return this.simd(0xf0)
  }
  f64x2Sub(): this {
    return this.simd(0xf1)
  }
  f64x2Mul(): this {
    return this.simd(0xf2)
  }
  f64x2Abs(): this {
    return this.simd(0xec)
  }
  f64x2Floor(): this {
    return this.simd(0x75)
  }
  /** Round to nearest, ties to even. */
  f64x2Nearest(): this {
    return this.simd(0x94)
  }
  /** All ones in each f64 lane where a = b (stack [a, b]), else zeros. */
  f64x2Eq(): this {
    return this.simd(0x47)
  }
  f64x2Gt(): this {
    return this.simd(0x4a)
  }
  f64x2Ge(): this {
    return this.simd(0x4c)
  }
  /** f32 lane `lane` of the vector on the stack. */
  f32x4ExtractLane(lane: number): this {
    return this.simd(0x1f, lane)
  }
  /** f64 lane `lane` of the vector on the stack. */
  f64x2ExtractLane(lane: number): this {
    return this.simd(0x21, lane)
  }

  /** v128.const with `v` in all four f32 lanes. */
  f32x4Const(v: number): this {
    const lane = [...new Uint8Array(new Float32Array([v]).buffer)]
    return this.simd(0x0c, ...lane, ...lane, ...lane, ...lane)
  }

  /** v128.const with `v` in both f64 lanes. */
  f64x2Const(v: number): this {
    const lane = [...new Uint8Array(new Float64Array([v]).buffer)]
    return this.simd(0x0c, ...lane, ...lane)
  }

  /** v128.const with `v` in all four i32 lanes. */
  i32x4Const(v: number): this {
    const lane = [...new Uint8Array(new Int32Array([v]).buffer)]
    return this.simd(0x0c, ...lane, ...lane, ...lane, ...lane)
  }

  // ---- memory (align is log2 of the alignment in bytes; offsets in bytes) ---------------------
  f32Load(offset = 0): this {
    return this.op(0x2a, 2, ...uleb(offset))
  }
  f64Load(offset = 0): this {
    return this.op(0x2b, 3, ...uleb(offset))
  }
  f64Store(offset = 0): this {
    return this.op(0x39, 3, ...uleb(offset))
  }
  f32Store(offset = 0): this {
    return this.op(0x38, 2, ...uleb(offset))
  }
  i64Load(offset = 0): this {
    return this.op(0x29, 3, ...uleb(offset))
  }
  i64Store(offset = 0): this {
    return this.op(0x37, 3, ...uleb(offset))
  }
  v128Load(offset = 0): this {
    return this.simd(0x00, 4, ...uleb(offset))
  }
  v128Store(offset = 0): this {
    return this.simd(0x0b, 4, ...uleb(offset))
  }
  /** Loads one f32 and repeats it in all four lanes. */
  v128Load32Splat(offset = 0): this {
    return this.simd(0x09, 2, ...uleb(offset))
  }

  // ---- i32 ----------------------------------------------------------------------------------
  i32Eqz(): this {
    return this.op(0x45)
  }
  i32Eq(): this {
    return this.op(0x46)
  }
  i32Ne(): this {
    return this.op(0x47)
  }
  i32LtS(): this {
    return this.op(0x48)
  }
  i32LtU(): this {
    return this.op(0x49)
  }
  /** memory.copy (bulk memory) with stack [dst, src, bytes]: a memmove within the memory. */
  memoryCopy(): this {
    return this.op(0xfc, ...uleb(10), 0, 0)
  }
  i32TruncF32S(): this {
    return this.op(0xa8)
  }
  i32GeU(): this {
    return this.op(0x4f)
  }
  i32GtS(): this {
    return this.op(0x4a)
  }
  i32LeS(): this {
    return this.op(0x4c)
  }
  i32GeS(): this {
    return this.op(0x4e)
  }
  i32Add(): this {
    return this.op(0x6a)
  }
  i32Sub(): this {
    return this.op(0x6b)
  }
  i32Mul(): this {
    return this.op(0x6c)
  }
  i32And(): this {
    return this.op(0x71)
  }
  i32Shl(): this {
    return this.op(0x74)
  }

  // ---- f32 ----------------------------------------------------------------------------------
  f32Add(): this {
    return this.op(0x92)
  }
  f32Mul(): this {
    return this.op(0x94)
  }

  // ---- v128 / f32x4 / i32x4 -------------------------------------------------------------------
  f32x4Splat(): this {
    return this.simd(0x13)
  }
  i32x4Splat(): this {
    return this.simd(0x11)
  }
  /** Replaces i32 lane `lane` of [v, x] with x. */
  simdReplaceI32Lane(lane: number): this {
    return this.simd(0x1c, lane)
  }
  f64x2Splat(): this {
    return this.simd(0x14)
  }
  /** Picks 16 bytes from the 32 of [a, b] (indices 0–15 from a, 16–31 from b). */
  i8x16Shuffle(lanes: ReadonlyArray<number>): this {
    return this.simd(0x0d, ...lanes)
  }
  i32x4GeS(): this {
    return this.simd(0x3f)
  }
  v128Xor(): this {
    return this.simd(0x51)
  }
  /** Rounds two f64 lanes to f32 in lanes 0–1, zeroing lanes 2–3. */
  f32x4DemoteF64x2Zero(): this {
    return this.simd(0x5e)
  }
  /** Widens f32 lanes 0–1 to two f64. */
  f64x2PromoteLowF32x4(): this {
    return this.simd(0x5f)
  }
  i32x4ShrU(): this {
    return this.simd(0xad)
  }
  i32x4Mul(): this {
    return this.simd(0xb5)
  }
  /** Full 64-bit products of unsigned i32 lanes 0–1 (low) or 2–3 (high). */
  i64x2ExtmulLowI32x4U(): this {
    return this.simd(0xde)
  }
  i64x2ExtmulHighI32x4U(): this {
    return this.simd(0xdf)
  }
  f64x2Div(): this {
    return this.simd(0xf3)
  }
  f32x4Sqrt(): this {
    return this.simd(0xe3)
  }
  f32x4Eq(): this {
    return this.simd(0x41)
  }
  f32x4Lt(): this {
    return this.simd(0x43)
  }
  f32x4Gt(): this {
    return this.simd(0x44)
  }
  f32x4Ge(): this {
    return this.simd(0x46)
  }
  v128And(): this {
    return this.simd(0x4e)
  }
  /** (v1 & mask) | (v2 & ~mask) with stack [v1, v2, mask]. */
  v128Bitselect(): this {
    return this.simd(0x52)
  }
  f32x4Nearest(): this {
    return this.simd(0x6a)
  }
  i32x4Shl(): this {
    return this.simd(0xab)
  }
  i32x4Add(): this {
    return this.simd(0xae)
  }
  f32x4Abs(): this {
    return this.simd(0xe0)
  }
  f32x4Neg(): this {
    return this.simd(0xe1)
  }
  f32x4Add(): this {
    return this.simd(0xe4)
  }
  f32x4Sub(): this {
    return this.simd(0xe5)
  }
  f32x4Mul(): this {
    return this.simd(0xe6)
  }
  f32x4Div(): this {
    return this.simd(0xe7)
  }
  f32x4Min(): this {
    return this.simd(0xe8)
  }
  f32x4Max(): this {
    return this.simd(0xe9)
  }
  /** b < a ? b : a with stack [a, b] (NaN in b gives a). */
  f32x4Pmin(): this {
    return this.simd(0xea)
  }
  /** a < b ? b : a with stack [a, b] (NaN in b gives a). */
  f32x4Pmax(): this {
    return this.simd(0xeb)
  }
  i32x4TruncSatF32x4S(): this {
    return this.simd(0xf8)
  }
  /** a·b + c with stack [a, b, c], rounded once or twice (relaxed SIMD). */
  f32x4RelaxedMadd(): this {
    return this.simd(0x105)
  }

  /** Encoded body: local declarations then the code. */
  encode(): Array<number> {
    const decls = this.locals.map((l) => [1, valType[l.type]])
    const body = [...vec(decls), ...this.prologue, ...this.code, 0x0b]
    return [...uleb(body.length), ...body]
  }

  signature(): Array<number> {
    return [0x60, ...vec(this.params.map((p) => [valType[p.type]])), 0]
  }
}

/**
 * A module of exported functions (no results) over one imported shared memory `env.memory`
 * with at most `maxPages` 64 KiB pages.
 */
export const encodeModule = (functions: ReadonlyArray<FunctionBuilder>, maxPages: number): Uint8Array => {
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]
  const types = section(1, vec(functions.map((f) => f.signature())))
  // Import kind 2 = memory; limits flag 3 = has maximum, shared.
  const imports = section(2, vec([[...utf8("env"), ...utf8("memory"), 0x02, 0x03, ...uleb(1), ...uleb(maxPages)]]))
  const funcs = section(3, vec(functions.map((_, i) => uleb(i))))
  const exports = section(7, vec(functions.map((f, i) => [...utf8(f.name), 0x00, ...uleb(i)])))
  const code = section(10, vec(functions.map((f) => f.encode())))
  return new Uint8Array([...header, ...types, ...imports, ...funcs, ...exports, ...code])
}
