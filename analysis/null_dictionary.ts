/**
 * The null model of method.md §8: a random dictionary of the same size (unit rows, seeded) that
 * encodes the same rows with the same sparsity rule (per-row top-k of the ReLU scores ⟨a, D_j⟩).
 * Every claim is reported beside the same measure computed on it.
 */
import { randomUnitRows } from "../data/rows.ts";
import type { CsrCodes } from "../data/csr_codes.ts";
import { UserError } from "../pipeline/errors.ts";

/**
 * Scores S = X·Dᵀ (rows×c) of a row block X (rows×d) against D (c×d). Inject a BLAS-backed one
 * (kernels/host_gemm.ts) for large inputs; the default is a JS loop.
 */
export type ScoreBlockFn = (
  x: Float32Array,
  rows: number,
  d: number,
  dict: Float32Array,
  c: number,
) => Float32Array;

/** Default {@link ScoreBlockFn}: float64-accumulated JS loops. */
export function scoreBlockReference(
  x: Float32Array,
  rows: number,
  d: number,
  dict: Float32Array,
  c: number,
): Float32Array {
  const out = new Float32Array(rows * c);
  for (let i = 0; i < rows; i++) {
    const xi = i * d;
    for (let j = 0; j < c; j++) {
      let s = 0;
      const o = j * d;
      for (let t = 0; t < d; t++) s += x[xi + t] * dict[o + t];
      out[i * c + j] = s;
    }
  }
  return out;
}

/**
 * A seeded random dictionary: c rows drawn i.i.d. standard normal in R^d, scaled to unit norm
 * (uniform on the sphere). Row-major c×d float32.
 */
export function randomDictionary(c: number, d: number, seed: number): Float32Array {
  if (!(c >= 1 && d >= 1)) {
    throw new UserError(`null dictionary: c = ${c}, d = ${d}; both must be ≥ 1`);
  }
  return randomUnitRows(c, d, seed);
}

/** Options of {@link encodeTopK}. */
export interface EncodeTopKOptions {
  /** Rows per block of the score product (default 1024). */
  block?: number;
  /** Score provider (default {@link scoreBlockReference}). */
  scores?: ScoreBlockFn;
  /** Called with the rows done after each block. */
  onProgress?: (done: number) => void;
}

/**
 * Per-row top-k codes of rows `x` (n×d) on dictionary `dict` (c×d): z_ij = ⟨x_i, D_j⟩ for the k
 * largest positive scores of row i (ties: lower j first), 0 elsewhere. CSR, ≤ k entries per row,
 * sorted by concept within each row.
 */
export function encodeTopK(
  x: Float32Array,
  n: number,
  d: number,
  dict: Float32Array,
  c: number,
  k: number,
  opts: EncodeTopKOptions = {},
): CsrCodes {
  if (x.length !== n * d) throw new UserError(`top-k encode: x is not n×d = ${n}×${d}`);
  if (dict.length !== c * d) throw new UserError(`top-k encode: dictionary is not c×d = ${c}×${d}`);
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new UserError(`analysis.null.k: ${k}; use an integer ≥ 1`);
  }
  const kk = Math.min(k, c);
  const block = opts.block ?? 1024;
  const scoreFn = opts.scores ?? scoreBlockReference;
  const rowPtr = new Int32Array(n + 1);
  const index = new Int32Array(n * kk);
  const value = new Float32Array(n * kk);
  let nnz = 0;
  const topIdx = new Int32Array(kk);
  const topVal = new Float32Array(kk);
  for (let start = 0; start < n; start += block) {
    const rows = Math.min(block, n - start);
    const s = scoreFn(x.subarray(start * d, (start + rows) * d), rows, d, dict, c);
    for (let r = 0; r < rows; r++) {
      let size = 0;
      // A score enters when it beats `floor`: 0 until the list is full, then its smallest value
      // (one comparison per score; NaN never enters).
      let floor = 0;
      const o = r * c;
      for (let j = 0; j < c; j++) {
        const v = s[o + j];
        if (!(v > floor)) continue;
        // Insert into the descending list (strict >, so lower j wins ties).
        let p = size < kk ? size++ : kk - 1;
        while (p > 0 && topVal[p - 1] < v) {
          topVal[p] = topVal[p - 1];
          topIdx[p] = topIdx[p - 1];
          p--;
        }
        topVal[p] = v;
        topIdx[p] = j;
        if (size === kk) floor = topVal[kk - 1];
      }
      const order = Array.from({ length: size }, (_, q) => q).sort((a, b) => topIdx[a] - topIdx[b]);
      for (const q of order) {
        index[nnz] = topIdx[q];
        value[nnz] = topVal[q];
        nnz++;
      }
      rowPtr[start + r + 1] = nnz;
    }
    opts.onProgress?.(start + rows);
  }
  return { rows: n, cols: c, rowPtr, index: index.slice(0, nnz), value: value.slice(0, nnz) };
}

/**
 * k of the null model: `configured` when > 0, else the first of `learnedKs` (the k of the learned
 * run(s) it stands beside) that is a positive integer, else `fallback`. The modality and bridge
 * stages pass their train run's `k`; claims passes the evaluated runs' `k` in order (so its null
 * takes the first Pareto run's k, which may differ from the primary run's).
 */
export function nullK(configured: number, learnedKs: readonly unknown[], fallback = 8): number {
  if (configured > 0) return configured;
  for (const v of learnedKs) {
    const k = Number(v);
    if (Number.isInteger(k) && k > 0) return k;
  }
  return fallback;
}

/** The null model of a set of rows: its random dictionary and the rows' top-k codes under it. */
export interface NullModel {
  /** c×d unit rows, from {@link randomDictionary}(c, d, seed). */
  dictionary: Float32Array;
  /** n×c top-k codes of the rows ({@link encodeTopK}). */
  codes: CsrCodes;
  /** Codes per row it was built with. */
  k: number;
  /** Seed of the dictionary. */
  seed: number;
}

/**
 * Build the null model of rows `x` (n×d): a random dictionary of c unit rows (seed `seed`) and the
 * rows' per-row top-k codes on it. Every stage that reports a null builds it here.
 */
export function nullModel(
  x: Float32Array,
  n: number,
  d: number,
  c: number,
  opts: {
    seed: number;
    k: number;
    scores?: ScoreBlockFn;
    /** Called with the rows encoded so far. */
    onProgress?: (done: number) => void;
  },
): NullModel {
  const dictionary = randomDictionary(c, d, opts.seed);
  const codes = encodeTopK(x, n, d, dictionary, c, opts.k, {
    scores: opts.scores,
    onProgress: opts.onProgress,
  });
  return { dictionary, codes, k: opts.k, seed: opts.seed };
}
