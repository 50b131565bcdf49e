/**
 * PCA as a dictionary (method.md §2 baselines): D = the top-c principal axes (orthonormal rows),
 * dense signed codes Z = (X − μ)·Dᵀ, reconstruction Â = Z·D + μ (μ acts as a decoder bias).
 *
 * c > d: a d-dimensional space has only d principal axes, so the fit keeps min(c, d) components
 * and reports that c in the fitted dictionary (`c` of the result); `config.c_requested` keeps
 * the asked-for value.
 */
import type { Backend } from "../../kernels/backend.ts";
import type { FittedDictionary, HostSparseCodes } from "../learner.ts";
import { eigh } from "../eigh.ts";
import { checkShape, codesToDense, denseToCodes, matmul } from "./ops.ts";
import { UserError } from "../../pipeline/errors.ts";

/** Options of {@link fitPca}. */
export interface PcaOptions {
  /** Number of components requested (kept: min(c, d)). */
  c: number;
  /** Subtract the mean before the decomposition (default true). */
  center?: boolean;
}

/** Mean of the rows of X (n×d), float64. */
function columnMean(x: Float32Array, n: number, d: number): Float64Array {
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mu[t] += x[i * d + t];
  for (let t = 0; t < d; t++) mu[t] /= n;
  return mu;
}

/**
 * Fit PCA on X (n×d row-major). The d×d scatter (X−μ)ᵀ(X−μ) is one backend GEMM; its
 * eigendecomposition runs in float64 ({@link eigh}). Each axis' sign is fixed so that its
 * largest-magnitude entry is positive (deterministic output).
 */
export async function fitPca(
  x: Float32Array,
  n: number,
  d: number,
  opts: PcaOptions,
  backend: Backend,
): Promise<FittedDictionary> {
  checkShape("fitPca", x, n, d);
  if (!(Number.isInteger(opts.c) && opts.c >= 1)) {
    throw new UserError(`train.c: PCA needs c ≥ 1 components, got ${opts.c}`);
  }
  if (n < 2) throw new UserError(`train: PCA needs at least 2 training rows, got ${n}`);
  const center = opts.center ?? true;
  const c = Math.min(opts.c, d);
  const mu = center ? columnMean(x, n, d) : new Float64Array(d);
  const xc = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) xc[i * d + t] = x[i * d + t] - mu[t];
  const scatter = await matmul(backend, xc, xc, d, n, d, { transA: true });
  const { values, vectors } = eigh(scatter, d);
  const dict = new Float32Array(c * d);
  for (let r = 0; r < c; r++) {
    let best = 0;
    for (let t = 1; t < d; t++) {
      if (Math.abs(vectors[r * d + t]) > Math.abs(vectors[r * d + best])) best = t;
    }
    const sign = vectors[r * d + best] < 0 ? -1 : 1;
    for (let t = 0; t < d; t++) dict[r * d + t] = sign * vectors[r * d + t];
  }
  const explained = new Float64Array(c);
  for (let r = 0; r < c; r++) explained[r] = values[r] / n;
  return pcaDictionary(dict, Float32Array.from(mu), c, d, {
    c_requested: opts.c,
    center,
    explained_variance: Array.from(explained),
  });
}

/**
 * A PCA dictionary from its components D (c×d, orthonormal rows) and mean μ (d): used by
 * {@link fitPca} and to reload exported weights. `extra` is merged into the exported config.
 */
export function pcaDictionary(
  dict: Float32Array,
  mean: Float32Array,
  c: number,
  d: number,
  extra: Record<string, unknown> = {},
): FittedDictionary {
  return {
    method: "pca",
    c,
    d,
    dictionary: dict,
    log: [],
    async encode(x: Float32Array, n: number, backend: Backend): Promise<HostSparseCodes> {
      checkShape("pca.encode", x, n, d);
      const z = await matmul(backend, x, dict, n, d, c, { transB: true });
      // subtract μ·Dᵀ from every row
      const off = new Float64Array(c);
      for (let j = 0; j < c; j++) {
        let s = 0;
        for (let t = 0; t < d; t++) s += mean[t] * dict[j * d + t];
        off[j] = s;
      }
      for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) z[i * c + j] -= off[j];
      return denseToCodes(z, n, c);
    },
    async decode(z: HostSparseCodes, backend: Backend): Promise<Float32Array> {
      const dense = codesToDense(z);
      const out = await matmul(backend, dense, dict, z.rows, c, d);
      for (let i = 0; i < z.rows; i++) for (let t = 0; t < d; t++) out[i * d + t] += mean[t];
      return out;
    },
    exportWeights() {
      const wEnc = new Float32Array(d * c);
      for (let j = 0; j < c; j++) for (let t = 0; t < d; t++) wEnc[t * c + j] = dict[j * d + t];
      const bEnc = new Float32Array(c);
      for (let j = 0; j < c; j++) {
        let s = 0;
        for (let t = 0; t < d; t++) s += mean[t] * dict[j * d + t];
        bEnc[j] = -s;
      }
      return {
        tensors: {
          W_enc: { shape: [d, c], data: wEnc },
          b_enc: { shape: [c], data: bEnc },
          W_dec: { shape: [c, d], data: dict.slice() },
          b_dec: { shape: [d], data: mean.slice() },
        },
        config: {
          method: "pca",
          c,
          d,
          encoder: "z = x @ W_enc + b_enc (dense, signed)",
          decoder: "x_hat = z @ W_dec + b_dec",
          ...extra,
        },
      };
    },
  };
}
