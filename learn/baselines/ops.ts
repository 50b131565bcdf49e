/**
 * Host-array wrappers over a {@link Backend} for the baselines: dense products and sparse
 * decode run on the backend (BLAS / ORT / WebGPU); results come back as host arrays.
 */
import type { Backend } from "../../kernels/backend.ts";
import type { HostSparseCodes } from "../learner.ts";

/** Options of {@link matmul}. */
export interface MatmulOptions {
  /** A is stored k×m (use Aᵀ). */
  transA?: boolean;
  /** B is stored n×k (use Bᵀ). */
  transB?: boolean;
}

/**
 * C (m×n) = op(A)·op(B) on the backend, op(A) m×k, op(B) k×n (A stored m×k, or k×m when
 * `transA`; B stored k×n, or n×k when `transB`). Returns C row-major.
 */
export async function matmul(
  backend: Backend,
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  opts: MatmulOptions = {},
): Promise<Float32Array> {
  const ta = backend.upload(a, opts.transA ? [k, m] : [m, k]);
  const tb = backend.upload(b, opts.transB ? [n, k] : [k, n]);
  const tc = backend.zeros([m, n]);
  try {
    backend.gemm(ta, tb, tc, { transA: opts.transA, transB: opts.transB });
    return (await backend.read(tc)) as Float32Array;
  } finally {
    backend.dispose(ta);
    backend.dispose(tb);
    backend.dispose(tc);
  }
}

/**
 * Rows [start, start+count) of X (n×d) times Dᵀ (D c×d): the count×c score block S = X·Dᵀ.
 * Bounds memory by letting callers walk X in blocks.
 */
export function scoresBlock(
  backend: Backend,
  x: Float32Array,
  d: number,
  start: number,
  count: number,
  dict: Float32Array,
  c: number,
): Promise<Float32Array> {
  return matmul(backend, x.subarray(start * d, (start + count) * d), dict, count, d, c, {
    transB: true,
  });
}

/** Rows per block when scoring n rows against c concepts (≤ ~64 MB of float32 scores). */
export function blockRows(c: number): number {
  return Math.max(1, Math.min(8192, Math.floor((16 * 1024 * 1024) / Math.max(1, c))));
}

/**
 * Â (n×d) = Z·D (+ bias, length d) with Z sparse (CSR host codes, n rows, c columns) and
 * D (c×d): gathers only the active rows of D on the backend.
 */
export async function sparseDecode(
  backend: Backend,
  z: HostSparseCodes,
  dict: Float32Array,
  d: number,
  bias: Float32Array | null = null,
): Promise<Float32Array> {
  const nnz = z.rowPtr[z.rows];
  const sc = backend.sparse(z.rows, z.cols, Math.max(1, nnz));
  const td = backend.upload(dict, [z.cols, d]);
  const tb = bias ? backend.upload(bias, [d]) : null;
  const out = backend.zeros([z.rows, d]);
  try {
    backend.write(sc.rowPtr, z.rowPtr);
    if (nnz > 0) {
      backend.write(sc.index, z.index.subarray(0, nnz));
      backend.write(sc.value, z.value.subarray(0, nnz));
    }
    backend.sparseDecode(sc, td, tb, out);
    return (await backend.read(out)) as Float32Array;
  } finally {
    backend.disposeSparse(sc);
    backend.dispose(td);
    if (tb) backend.dispose(tb);
    backend.dispose(out);
  }
}

/** Dense n×c codes as CSR with every entry stored (rowPtr[i] = i·c). */
export function denseToCodes(values: Float32Array, n: number, c: number): HostSparseCodes {
  const rowPtr = new Int32Array(n + 1);
  const index = new Int32Array(n * c);
  for (let i = 0; i <= n; i++) rowPtr[i] = i * c;
  for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) index[i * c + j] = j;
  return { rows: n, cols: c, rowPtr, index, value: values.slice(0, n * c) };
}

/** Dense n×c codes as CSR keeping only entries with value ≠ 0 (ascending column per row). */
export function denseToSparseNonzero(values: Float32Array, n: number, c: number): HostSparseCodes {
  let nnz = 0;
  for (let e = 0; e < n * c; e++) if (values[e] !== 0) nnz++;
  const rowPtr = new Int32Array(n + 1);
  const index = new Int32Array(nnz);
  const value = new Float32Array(nnz);
  let p = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      const v = values[i * c + j];
      if (v !== 0) {
        index[p] = j;
        value[p++] = v;
      }
    }
    rowPtr[i + 1] = p;
  }
  return { rows: n, cols: c, rowPtr, index, value };
}

/** Dense n×c matrix of CSR codes (absent entries 0). */
export function codesToDense(z: HostSparseCodes): Float32Array {
  const out = new Float32Array(z.rows * z.cols);
  for (let i = 0; i < z.rows; i++) {
    for (let e = z.rowPtr[i]; e < z.rowPtr[i + 1]; e++) out[i * z.cols + z.index[e]] += z.value[e];
  }
  return out;
}

/** Check a row-major input has n×d values; throws a plain Error naming the caller otherwise. */
export function checkShape(who: string, x: Float32Array, n: number, d: number): void {
  if (!(Number.isInteger(n) && Number.isInteger(d) && n >= 0 && d > 0) || x.length !== n * d) {
    throw new Error(`${who}: expected ${n}×${d} = ${n * d} values, got ${x.length}`);
  }
}
