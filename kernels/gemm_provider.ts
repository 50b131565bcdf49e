/**
 * A pluggable dense GEMM implementation used by the CPU backend and by {@link hostGemm}:
 * OpenBLAS through Deno FFI, an onnxruntime-node session, or TypeScript loops.
 */

/**
 * One float32 GEMM call on contiguous row-major host arrays:
 * C (m×n) = alpha·op(A)·op(B) + beta·C, with op(A) m×k (A stored k×m when `transA`) and
 * op(B) k×n (B stored n×k when `transB`). `a`, `b`, `c` hold exactly those elements.
 */
export interface GemmCall {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  a: Float32Array;
  b: Float32Array;
  beta: number;
  c: Float32Array;
}

/** A GEMM provider. `sgemm` may complete synchronously or return a promise (ORT). */
export interface GemmProvider {
  /** Short name shown to the user: `openblas`, `ort`, `js`. */
  readonly name: string;
  /** Where it came from (library path, package version), for the log line. */
  readonly detail: string;
  /** True when `sgemm` always completes synchronously (never returns a promise). */
  readonly sync: boolean;
  /** Run one GEMM (see {@link GemmCall}). */
  sgemm(call: GemmCall): void | Promise<void>;
  /**
   * Optional Σ x² of a float32 vector accumulated in float64 (BLAS `dsdot`), synchronous; the
   * CPU backend's `sumSquares` uses it when present (JS loop otherwise).
   */
  sumSquares?(x: Float32Array): number;
  /** Release native resources. */
  close(): void;
}

/** Which GEMM provider to use; `undefined` picks the fastest one available. */
export type GemmKind = "openblas" | "ort" | "js";
