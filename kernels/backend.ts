/**
 * The compute interface shared by training (`learn/`) and analysis (`analysis/`).
 *
 * Conventions:
 * - Matrices are row-major float32 with explicit shapes. A {@link Tensor} is an opaque handle
 *   owned by its backend: host memory on CPU, a GPUBuffer on WebGPU. State that lives across
 *   training steps (weights, Adam moments) stays on the backend; only `read` brings data back.
 * - Ops are enqueued in call order. CPU backends execute them at once; WebGPU records them and
 *   submits lazily. `read` (and `readScalar`) is the only synchronisation point.
 * - Sparse codes use a CSR layout with a fixed capacity (see {@link SparseCodes}).
 */

/** Element type of a tensor. */
export type DType = "f32" | "i32";

/** Opaque handle to a backend-owned array. `shape` is row-major; `size` = product of shape. */
export interface Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
}

/**
 * Sparse codes Z (rows × cols) in CSR form with a fixed capacity.
 * - `rowPtr` i32 [rows + 1]: entries of row i are positions rowPtr[i] .. rowPtr[i+1]-1.
 * - `index` i32 [capacity]: concept (column) of each entry, ascending within a row is NOT required.
 * - `value` f32 [capacity]: activation of each entry (≥ 0 for SAE codes).
 * Per-row top-k writes exactly k entries per row (rowPtr[i] = i·k); batch top-k and threshold
 * ops write a variable number per row (total ≤ capacity; an op that would overflow throws).
 */
export interface SparseCodes {
  readonly rows: number;
  readonly cols: number;
  readonly capacity: number;
  readonly rowPtr: Tensor;
  readonly index: Tensor;
  readonly value: Tensor;
}

/** Options of {@link Backend.gemm}: C = alpha·op(A)·op(B) + beta·C. */
export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  /** Default 1. */
  alpha?: number;
  /** Default 0 (C is overwritten). */
  beta?: number;
}

/** Hyper-parameters of one Adam(W) update (decoupled weight decay). */
export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step number, for bias correction. */
  step: number;
  /**
   * f32 [1] multiplying the gradient before the update (the gradient-clipping factor, kept on
   * the backend); the gradient tensor itself is left as it is.
   */
  gradScale?: Tensor;
  /**
   * After the update, scale every row of the (2-D) parameter to unit L2 norm, zero rows left as
   * they are: the same as a following normalizeRows(param), which a backend may fuse.
   */
  normalizeRows?: boolean;
}

/** A compute backend. Every op validates shapes and throws on a mismatch. */
export interface Backend {
  /** Which implementation runs, for the user: `cpu:openblas`, `cpu:ort`, `cpu:js`, `webgpu:<adapter>`. */
  readonly name: string;

  // ---- memory ----------------------------------------------------------------------------
  /** New zero-filled tensor. */
  zeros(shape: readonly number[], dtype?: DType): Tensor;
  /** New tensor holding a copy of `data` (length must equal the product of `shape`). */
  upload(data: Float32Array | Int32Array, shape: readonly number[]): Tensor;
  /** Overwrite a tensor (or the `offset`-element window of it) with host data. */
  write(t: Tensor, data: Float32Array | Int32Array, offset?: number): void;
  /** Copy of the tensor's contents on the host (waits for queued work). */
  read(t: Tensor): Promise<Float32Array | Int32Array>;
  /** First element of a tensor as a number (waits for queued work). */
  readScalar(t: Tensor): Promise<number>;
  /** Release a tensor. */
  dispose(t: Tensor): void;
  /** New sparse-code holder of the given capacity. */
  sparse(rows: number, cols: number, capacity: number): SparseCodes;
  /** Release a sparse-code holder. */
  disposeSparse(z: SparseCodes): void;

  // ---- dense linear algebra ---------------------------------------------------------------
  /** C (m×n) = alpha·op(A)·op(B) + beta·C. */
  gemm(a: Tensor, b: Tensor, c: Tensor, opts?: GemmOptions): void;
  /**
   * Encoder pre-activation: out (n×c) = X (n×d) · W (d×c) + bias (c); with `transW`, W is stored
   * as c×d (one row per concept, like the decoder) and out = X · Wᵀ + bias.
   */
  linear(x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, transW?: boolean): void;

  // ---- sparsification --------------------------------------------------------------------
  /** Per row, keep the k largest positive entries of `pre` (n×c); write n·k entries to `z`. */
  topkRows(pre: Tensor, k: number, z: SparseCodes): void;
  /**
   * Over the whole batch, keep the n·k largest positive entries of `pre` (n×c) (ties broken by
   * lower flat index). Writes them to `z` and the smallest kept value to `minKept` (f32 [1]).
   * With `bias` (f32 [c]) the selection is over pre[i,j] + bias[j] (the float32 sum, bias
   * broadcast over rows): the kept values and `minKept` are those sums, and `pre` itself is
   * not modified — the encoder's bias fused into the selection, so that `pre` can come from a
   * bare `gemm` instead of `linear`.
   */
  batchTopk(
    pre: Tensor,
    k: number,
    z: SparseCodes,
    minKept: Tensor,
    bias?: Tensor | null,
  ): void;
  /**
   * The encoder and the batch top-k in one op, with W stored c×d (one row per concept): `z` and
   * `minKept` as `batchTopk(X·Wᵀ + bias, k)` gives them over float32 pre-activations. A backend
   * may avoid the float32 product: the CPU backend, on a CPU with the AMX tile unit, bounds the
   * error of a bfloat16 product and computes float32 dot products only for the entries that the
   * bound cannot rule out — the same selection over float32 values, each a dot product in that
   * backend's summation order. With `aux`, also that row selection from the same product (see
   * {@link RowSelection}). `pre` (n×c) is scratch: its contents afterwards are unspecified.
   */
  encodeBatchTopk(
    x: Tensor,
    w: Tensor,
    bias: Tensor | null,
    k: number,
    z: SparseCodes,
    minKept: Tensor,
    pre: Tensor,
    aux?: RowSelection | null,
  ): void;
  /**
   * The encoder and the per-row top-k in one op (W stored c×d): `z` as `topkRows(X·Wᵀ + bias, k)`
   * gives it over float32 pre-activations; a backend may screen a bfloat16 product as
   * {@link Backend.encodeBatchTopk} does (the same selection over float32 values). With `aux`,
   * also that row selection from the same product. `pre` (n×c) is scratch.
   */
  encodeTopkRows(
    x: Tensor,
    w: Tensor,
    bias: Tensor | null,
    k: number,
    z: SparseCodes,
    pre: Tensor,
    aux?: RowSelection | null,
  ): void;
  /**
   * Keep entries with pre[i,j] > theta[j] (theta f32 [c], or [1] for one shared threshold) with
   * their pre-activation as value: ReLU (theta = 0), JumpReLU, BatchTopK inference. With `band`,
   * also the entries lo[j] < pre[i,j] ≤ hi[j] as codes in `band.z`, from the same pass over `pre`
   * (JumpReLU's straight-through band).
   */
  threshold(pre: Tensor, theta: Tensor, z: SparseCodes, band?: ThresholdBand | null): void;

  // ---- sparse products -------------------------------------------------------------------
  /** out (n×d) = Z·D (+ bias d, if given) — gathers only the active rows of D (c×d). */
  sparseDecode(z: SparseCodes, dict: Tensor, bias: Tensor | null, out: Tensor): void;
  /** For each entry (i,j) of Z: vals[e] = ⟨G_i, D_j⟩ (G n×d, D c×d); vals f32 [capacity]. */
  sparseSample(g: Tensor, dict: Tensor, z: SparseCodes, vals: Tensor): void;
  /**
   * out (c×d) = beta·out + Σ_e vals[e] · G_{row(e)} scattered to row index(e): Zᵀ·G with Z's
   * pattern and the given values (`vals` null: use z.value). Touches only active rows.
   */
  sparseTransposeProduct(
    z: SparseCodes,
    vals: Tensor | null,
    g: Tensor,
    out: Tensor,
    beta: number,
  ): void;
  /**
   * The fused reconstruction residual of a training step: r (n×d) = scale·(Z·D + bias − x) and
   * sse f32 [1] = (accumulate ? sse : 0) + ‖Z·D + bias − x‖² (bias d, or null); when `vals`
   * (f32 [capacity]) is given, also vals[e] = ⟨r_i, D_j⟩ for each entry (i, j) of Z. Equivalent
   * to sparseDecode(z, dict, bias, r); axpby(1, r, −1, x, r); sumSquares(r, sse, accumulate);
   * axpby(scale, r, 0, r, r); sparseSample(r, dict, z, vals). `r` must not alias `x`.
   */
  sparseResidual(
    z: SparseCodes,
    dict: Tensor,
    bias: Tensor | null,
    x: Tensor,
    scale: number,
    r: Tensor,
    sse: Tensor,
    accumulate: boolean,
    vals: Tensor | null,
  ): void;
  /** out (c) = beta·out + column sums of S (Z's pattern, values `vals`). Encoder-bias grad. */
  sparseColumnSum(z: SparseCodes, vals: Tensor, out: Tensor, beta: number): void;
  /**
   * vals[e] += alpha for every entry e of Z (e < rowPtr[n]; the capacity's unused slots are left
   * as they are); vals f32 [capacity]. ReLU's ℓ1 term on the sampled code gradients.
   */
  sparseAddScalar(z: SparseCodes, vals: Tensor, alpha: number): void;

  // ---- elementwise and reductions ------------------------------------------------------------
  /** out = a·x + b·y (same shapes; out may alias x or y). */
  axpby(a: number, x: Tensor, b: number, y: Tensor, out: Tensor): void;
  /** out f32 [1] = (accumulate ? out : 0) + Σ x² (summed pairwise or better). */
  sumSquares(x: Tensor, out: Tensor, accumulate?: boolean): void;
  /** out f32 [1] = min(1, maxNorm / sqrt(sumSq[0])): the gradient-clipping factor, on device. */
  clipFactor(sumSq: Tensor, maxNorm: number, out: Tensor): void;
  /** Multiply every element of `x` by `scale` (f32 [1]) in place. */
  scaleBy(x: Tensor, scale: Tensor): void;

  /** out = a ⊙ b elementwise (same sizes; out may alias a or b). */
  mul(a: Tensor, b: Tensor, out: Tensor): void;
  /** x ← max(x, lo) elementwise, in place. */
  clampMin(x: Tensor, lo: number): void;
  /** dst = src element by element (same size, any shapes: a reshaping copy; no aliasing). */
  copy(src: Tensor, dst: Tensor): void;
  /** out (m×q) = beta·out + diag(v)·a, v f32 [m]; out must not alias a. */
  scaleRows(v: Tensor, a: Tensor, out: Tensor, beta?: number): void;
  /** out f32 [q] = beta·out + column sums of a (m×q; a 1-D tensor is one row). */
  columnSum(a: Tensor, out: Tensor, beta?: number): void;

  // ---- dense masks (ReLU / JumpReLU at high density) -------------------------------------------
  // `pre` is m×q (a 1-D tensor is one row); theta f32 [q], or [1] for one shared threshold.
  /** out = pre where pre[i,j] > theta[j], else 0 (dense JumpReLU / ReLU codes); no aliasing. */
  thresholdDense(pre: Tensor, theta: Tensor, out: Tensor): void;
  /** out = x where pre[i,j] > theta[j], else 0 (same shapes; out may alias x, not pre). */
  maskAbove(pre: Tensor, theta: Tensor, x: Tensor, out: Tensor): void;
  /** out f32 [q] = beta·out + #{i : pre[i,j] > theta[j]} per column j. */
  countAbove(pre: Tensor, theta: Tensor, out: Tensor, beta?: number): void;

  // ---- dictionary geometry and optimiser ---------------------------------------------------------
  /** Scale every row of `d` (c×d) to unit L2 norm (zero rows left as they are). */
  normalizeRows(d: Tensor): void;
  /**
   * grad_j -= ⟨grad_j, D_j⟩·D_j for every row j (D rows assumed unit norm). With `sumSq`
   * (f32 [1]), also sumSq = (accumulate ? sumSq : 0) + ‖grad‖² of the result (as a following
   * sumSquares(grad, sumSq, accumulate), which a backend may fuse).
   */
  removeParallelComponent(dict: Tensor, grad: Tensor, sumSq?: Tensor, accumulate?: boolean): void;
  /** One AdamW step on `param` from `grad`, updating the moments `m`, `v` in place. */
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, opts: AdamWOptions): void;

  /** Release everything this backend holds (device, sessions, FFI handles). */
  close(): void;
}

/**
 * A second selection an encoder op makes from its own pre-activations (AuxK's dead concepts):
 * per row, the `k` largest of X·Wᵀ + bias among the columns where `mask` is 0, written to `z`
 * as {@link Backend.topkRows} writes codes (k per row, columns ascending, values clamped at 0).
 */
export interface RowSelection {
  /** Codes per row (at most the number of allowed columns). */
  readonly k: number;
  /**
   * f32 [1, c]: 0 where a column may be picked, −1e4 where it may not; the float32 path adds
   * it to the pre-activations (so it assumes them above −5e3) and takes the top k.
   */
  readonly mask: Tensor;
  /** f32 [n, 1] of ones: the float32 path broadcasts `mask` over the rows with a GEMM. */
  readonly ones: Tensor;
  /** Where the codes go (capacity ≥ n·k). */
  readonly z: SparseCodes;
}

/**
 * A band of pre-activations collected beside {@link Backend.threshold}'s codes: the entries
 * lo[j] < pre[i,j] ≤ hi[j], ascending column within a row, value pre[i,j].
 */
export interface ThresholdBand {
  /** f32 [c], or [1] for one shared bound: the band's open lower end. */
  readonly lo: Tensor;
  /** f32 [c], or [1] for one shared bound: the band's closed upper end. */
  readonly hi: Tensor;
  /** Where the band's entries go (n×c codes, not the threshold's `z`). */
  readonly z: SparseCodes;
}

/**
 * {@link Backend.encodeBatchTopk} through the float32 product: pre = X·Wᵀ (a GEMM), then a batch
 * top-k with the bias fused into the selection; with `aux`, pre = X·Wᵀ + bias, the batch top-k,
 * then pre += mask and the row selection. Shapes: x n×d, w c×d, bias c, pre n×c.
 */
export function encodeBatchTopkDense(
  b: Backend,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  k: number,
  z: SparseCodes,
  minKept: Tensor,
  pre: Tensor,
  aux?: RowSelection | null,
): void {
  if (!aux) {
    b.gemm(x, w, pre, { transB: true });
    b.batchTopk(pre, k, z, minKept, bias);
    return;
  }
  b.linear(x, w, bias, pre, true);
  b.batchTopk(pre, k, z, minKept);
  selectRowsFromPre(b, pre, aux);
}

/**
 * {@link Backend.encodeTopkRows} through the float32 product: pre = X·Wᵀ + bias, the per-row
 * top-k, then (with `aux`) pre += mask and the row selection. Shapes as
 * {@link encodeBatchTopkDense}.
 */
export function encodeTopkRowsDense(
  b: Backend,
  x: Tensor,
  w: Tensor,
  bias: Tensor | null,
  k: number,
  z: SparseCodes,
  pre: Tensor,
  aux?: RowSelection | null,
): void {
  b.linear(x, w, bias, pre, true);
  b.topkRows(pre, k, z);
  if (aux) selectRowsFromPre(b, pre, aux);
}

/** A {@link RowSelection} from float32 pre-activations (n×c): pre += mask, then topkRows. */
function selectRowsFromPre(b: Backend, pre: Tensor, aux: RowSelection): void {
  b.gemm(aux.ones, aux.mask, pre, { beta: 1 });
  b.topkRows(pre, aux.k, aux.z);
}
