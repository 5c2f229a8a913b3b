/**
 * The contract every compute backend implements (CPU reference, WebGPU, WASM). Ops are synchronous:
 * the CPU backend computes at once, the GPU backend records a dispatch into its pending command
 * encoder. Only `read` waits. Shape errors throw `ShapeError` (see Ops.ts); `Backend.run`
 * turns them into a typed failure at the Effect boundary.
 */
import type { Activation, AdamWParams, BinaryOp, ReduceAxis, ReduceOp, Shape, UnaryOp } from "./Ops.ts"
import type { RngKey } from "./Rng.ts"

/** A row-major f32 matrix living on a backend. Its storage is the backend's business. */
export interface Tensor extends Shape {
  readonly size: number
}

export interface MatmulOptions {
  /** Use Aᵀ instead of A. */
  readonly transA?: boolean
  /** Use Bᵀ instead of B. */
  readonly transB?: boolean
  /** Row vector [1, n] added to every row before the activation. */
  readonly bias?: Tensor
  /** Epilogue applied to A·B + bias. */
  readonly activation?: Activation
  /** Also return the pre-activation A·B + bias (the backward pass of the activation needs it). */
  readonly keepPreActivation?: boolean
}

export interface MatmulResult {
  readonly out: Tensor
  /** A·B + bias, present when `keepPreActivation` was set and the activation is not identity. */
  readonly pre: Tensor | undefined
}

export interface LayerNormResult {
  readonly out: Tensor
  /** Row means [rows, 1]. */
  readonly mean: Tensor
  /** Row reciprocal standard deviations 1/√(var + eps), [rows, 1]. */
  readonly rstd: Tensor
}

export interface LayerNormGrads {
  readonly dx: Tensor
  readonly dgamma: Tensor | undefined
  readonly dbeta: Tensor | undefined
}

/** Which gradients of a conv1d to compute (guidance needs only the input's). */
export interface Conv1dNeeds {
  readonly dx: boolean
  readonly dw: boolean
  readonly db: boolean
}

export interface Conv1dGrads {
  readonly dx: Tensor | undefined
  readonly dw: Tensor | undefined
  readonly db: Tensor | undefined
}

export interface GroupNormResult {
  readonly out: Tensor
  /** Means of each (sequence, group), [batch, groups]. */
  readonly mean: Tensor
  /** 1/√(var + eps) of each (sequence, group), [batch, groups]. */
  readonly rstd: Tensor
}

/** Counters for benchmarks and allocation tests. */
export interface BackendStats {
  /** Device buffers (GPU) or arrays (CPU) created since the backend was made. */
  readonly allocations: number
  /** Kernel dispatches recorded (GPU) or ops executed (CPU) since the backend was made. */
  readonly dispatches: number
  /** Command-buffer submissions (GPU; 0 on the CPU). */
  readonly submits: number
  /** Pooled buffers in use (GPU); absent where the backend does not pool (the CPU). */
  readonly liveBuffers?: number
}

export interface TensorBackend {
  readonly kind: "cpu" | "gpu" | "wasm"
  /** What the computation runs on, e.g. "cpu (f64 accumulation)" or the adapter's description. */
  readonly description: string
  stats(): BackendStats

  // ---- memory -------------------------------------------------------------------------------
  zeros(rows: number, cols: number): Tensor
  fill(rows: number, cols: number, value: number): Tensor
  /** A tensor holding `data` (row-major, length rows·cols). */
  upload(data: Float32Array, rows: number, cols: number): Tensor
  /** Copies `data` into an existing tensor of the same size. */
  write(dst: Tensor, data: Float32Array): void
  /** Reads a tensor back to the host; waits for pending work. */
  read(t: Tensor): Promise<Float32Array>
  /** A window of `t`'s storage starting at element `offset` (a multiple of 64), shaped [rows, cols]. */
  view(t: Tensor, offset: number, rows: number, cols: number): Tensor
  /**
   * Runs `f`; every tensor allocated inside and not reachable from its result goes back to the
   * pool when it returns. Training loops wrap each step in one so they allocate nothing new.
   */
  scope<A>(f: () => A): A
  /** Returns a tensor to the pool now (it must not be used afterwards). */
  dispose(t: Tensor): void
  /** Submits pending work without waiting (GPU); no-op on the CPU. */
  flush(): void

  // ---- linear algebra -----------------------------------------------------------------------
  /** op(A)·op(B) + bias, then the activation, in one kernel. */
  matmul(a: Tensor, b: Tensor, options?: MatmulOptions): MatmulResult

  // ---- elementwise --------------------------------------------------------------------------
  unary(op: UnaryOp, x: Tensor): Tensor
  /** dx = dy · op'(x). */
  unaryBackward(op: UnaryOp, x: Tensor, dy: Tensor): Tensor
  /** scale·x + shift. */
  affine(x: Tensor, scale: number, shift: number): Tensor
  /** min(max(x, lo), hi). */
  clamp(x: Tensor, lo: number, hi: number): Tensor
  /** dy where lo ≤ x ≤ hi, else 0. */
  clampBackward(x: Tensor, lo: number, hi: number, dy: Tensor): Tensor
  /** a ∘ b with broadcasting: each operand is [r, c], [1, c], [r, 1] or [1, 1]. */
  binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor
  /** Partial derivatives of a ∘ b times dy, both at the broadcast (output) shape. */
  binaryBackward(op: BinaryOp, a: Tensor, b: Tensor, dy: Tensor): { readonly da: Tensor; readonly db: Tensor }

  // ---- reductions and shape -------------------------------------------------------------------
  reduce(op: ReduceOp, axis: ReduceAxis, x: Tensor): Tensor
  /** Repeats a [1, c], [r, 1] or [1, 1] tensor to [rows, cols]. */
  broadcastTo(x: Tensor, rows: number, cols: number): Tensor
  concatCols(parts: ReadonlyArray<Tensor>): Tensor
  sliceCols(x: Tensor, start: number, width: number): Tensor
  /** Places x's columns at [start, start + x.cols) of a zero matrix with `cols` columns. */
  padCols(x: Tensor, start: number, cols: number): Tensor
  /** Rows of x picked by `indices` ([n, 1], integer-valued floats). */
  gatherRows(x: Tensor, indices: Tensor): Tensor
  /** The adjoint of gatherRows: out[indices[j]] += dy[j], out has `rows` rows. */
  scatterAddRows(dy: Tensor, indices: Tensor, rows: number): Tensor
  /** Copies src into dst (same shape), e.g. a gradient into a model's flat gradient buffer. */
  copyInto(dst: Tensor, src: Tensor): void
  /**
   * copyInto for every [dst, src] pair, in as few dispatches as the backend can (the GPU: one per
   * 7 pairs whose destinations share a buffer), e.g. all of a model's gradients into its flat
   * gradient buffer. Destinations must not share elements with one another (ShapeError).
   */
  copyIntoMany(pairs: ReadonlyArray<readonly [dst: Tensor, src: Tensor]>): void

  // ---- normalisation and regularisation ---------------------------------------------------------
  /** Per-row layer normalisation with optional affine [1, cols] gamma and beta. */
  layerNorm(x: Tensor, gamma: Tensor | undefined, beta: Tensor | undefined, eps: number): LayerNormResult
  layerNormBackward(
    dy: Tensor,
    x: Tensor,
    gamma: Tensor | undefined,
    mean: Tensor,
    rstd: Tensor,
    withAffine: boolean
  ): LayerNormGrads
  /** x·mask/(1−p) with mask ~ Bernoulli(1−p) drawn from `key`; the same call on dy is its backward. */
  dropout(x: Tensor, p: number, key: RngKey): Tensor

  // ---- sequence ops: x is [batch·length, channels], row b·length + t is time t of sequence b ---------
  /**
   * 1-D convolution along time with "same" zero padding (Ops.samePaddingLeft) and stride 1:
   * out[b, t, o] = bias[o] + Σ_k Σ_c w[k·cin + c, o]·x[b, t + k − left, c], w [kernel·cin, cout].
   */
  conv1d(x: Tensor, w: Tensor, bias: Tensor | undefined, length: number): Tensor
  conv1dBackward(dy: Tensor, x: Tensor, w: Tensor, length: number, needs: Conv1dNeeds): Conv1dGrads
  /**
   * Group norm (Wu & He 2018): per sequence and group of channels/groups adjacent channels, the
   * mean and biased variance over the group's length·channels/groups values; then per channel
   * (x − μ)·rstd·γ + β (γ, β [1, channels], optional).
   */
  groupNorm(x: Tensor, gamma: Tensor | undefined, beta: Tensor | undefined, length: number, groups: number, eps: number): GroupNormResult
  groupNormBackward(
    dy: Tensor,
    x: Tensor,
    gamma: Tensor | undefined,
    mean: Tensor,
    rstd: Tensor,
    length: number,
    groups: number,
    withAffine: boolean
  ): LayerNormGrads
  /** max(x[b, 2t], x[b, 2t + 1]) per channel: [batch·length/2, channels]; the length must be even. */
  maxPool2(x: Tensor, length: number): Tensor
  /** dy [batch·length/2, channels] routed to each pair's maximum (the first of a tie). */
  maxPool2Backward(x: Tensor, dy: Tensor, length: number): Tensor
  /** Nearest-neighbour upsample by 2 along time: out[b, 2t] = out[b, 2t + 1] = x[b, t]. */
  upsample2(x: Tensor): Tensor
  /** Its adjoint: dx[b, t] = dy[b, 2t] + dy[b, 2t + 1]. */
  upsample2Backward(dy: Tensor): Tensor

  // ---- losses (all: mean over rows of the sum over columns) -------------------------------------
  /** mean_r w_r Σ_c (pred − target)², weight [rows, 1] or absent (1). Returns [1, 1]. */
  mseLoss(pred: Tensor, target: Tensor, weight: Tensor | undefined): Tensor
  /** d loss / d pred times dLoss ([1, 1]). */
  mseLossBackward(pred: Tensor, target: Tensor, weight: Tensor | undefined, dLoss: Tensor): Tensor
  /** mean_r Σ_c |τ − 1(u < 0)|·u², the expectile loss of IQL. Returns [1, 1]. */
  expectileLoss(u: Tensor, tau: number): Tensor
  expectileLossBackward(u: Tensor, tau: number, dLoss: Tensor): Tensor

  // ---- randomness (counter-based: identical streams on every backend) ----------------------------
  uniform(rows: number, cols: number, key: RngKey): Tensor
  normal(rows: number, cols: number, key: RngKey): Tensor
  /** Integers in [0, n) as floats. */
  randint(rows: number, cols: number, key: RngKey, n: number): Tensor

  // ---- optimisation (in place, over a model's whole flat buffer) ----------------------------------
  /** One AdamW step: updates param, m and v in place from grad. */
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hp: AdamWParams): void
  /** target ← target + rate·(source − target): EMA of weights and Polyak target updates. */
  ema(target: Tensor, source: Tensor, rate: number): void
}
