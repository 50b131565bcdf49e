/**
 * The common interface of every dictionary learner (SAE variants and classic baselines):
 * fit on A (n×d), then encode / decode. A ≈ Z·D with D (c×d), one concept per row.
 */
import type { Backend } from "../kernels/backend.ts";
import type { CsrCodes } from "../data/csr_codes.ts";

/**
 * Host-side sparse codes in CSR form: row i's entries are rowPtr[i] .. rowPtr[i+1]-1. The same
 * type as data/csr_codes.ts `CsrCodes` (rows, cols, rowPtr, index, value), named for the learners.
 */
export type HostSparseCodes = CsrCodes;

/** Per-epoch training record (written to the training log). */
export interface EpochLog {
  epoch: number;
  loss: number;
  r2: number;
  l0: number;
  deadFraction: number;
  /** Method-specific extras (λ, mean threshold, aux loss, ...). */
  extra?: Record<string, number>;
}

/** A fitted dictionary: everything `encode`, `decode` and export need. */
export interface FittedDictionary {
  /** Method name: `relu` | `topk` | `batchtopk` | `jumprelu` | `matryoshka` | `pca` | `kmeans` | `seminmf` | `omp`. */
  method: string;
  /** Number of concepts. */
  c: number;
  /** Embedding dimension. */
  d: number;
  /** D, row-major c×d, rows of unit L2 norm (PCA: orthonormal components). */
  dictionary: Float32Array;
  /** Codes of n rows X (row-major n×d). Codes are ≥ 0 except for PCA (dense, signed). */
  encode(x: Float32Array, n: number, backend: Backend): Promise<HostSparseCodes>;
  /** Reconstruction Â (n×d) from codes (adds the decoder bias when the model has one). */
  decode(z: HostSparseCodes, backend: Backend): Promise<Float32Array>;
  /**
   * Named float32 tensors for safetensors export (e.g. `W_enc` d×c, `b_enc` c, `W_dec` c×d,
   * `threshold`), with their shapes, and a JSON-able config (method, k, d, c, ...).
   */
  exportWeights(): {
    tensors: Record<string, { shape: number[]; data: Float32Array }>;
    config: Record<string, unknown>;
  };
  /** Per-epoch log of the fit (empty for closed-form methods). */
  log: EpochLog[];
}

/** Common fit options. `k` is the target ℓ0 (codes per row); `c` the number of concepts. */
export interface FitOptions {
  c: number;
  k: number;
  seed: number;
  /** Method-specific options (validated by the method). */
  [key: string]: unknown;
}
