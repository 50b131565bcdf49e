/**
 * Fisher linear discriminant between images and texts (method.md §6, "linear probe: LDA"):
 * w ∝ (Σ_w + s·I)⁻¹ (μ_img − μ_txt), Σ_w the pooled within-class covariance, s a shrinkage.
 */
import { UserError } from "../pipeline/errors.ts";

/**
 * Computes G = XᵀX (d×d, row-major) of X (n×d). Inject a BLAS-backed one (e.g. built on
 * kernels/host_gemm.ts) for large n; the default is a float64 JS loop (small inputs only).
 */
export type GramFn = (x: Float32Array, n: number, d: number) => Float64Array | Float32Array;

/** Options of {@link fitLda}. */
export interface LdaOptions {
  /** Shrinkage as a fraction of the mean eigenvalue tr(Σ_w)/d added to the diagonal. Default 1e-3. */
  shrinkage?: number;
  /** XᵀX provider. */
  gram?: GramFn;
}

/** A fitted LDA direction: unit `w` (d), intercept `b` at the midpoint of the projected means. */
export interface LdaProbe {
  w: Float64Array;
  b: number;
}

/** Float64 reference XᵀX (n×d → d×d). O(n·d²): small inputs only. */
export function gramReference(x: Float32Array, n: number, d: number): Float64Array {
  const g = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) row[t] = x[i * d + t];
    for (let a = 0; a < d; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      const o = a * d;
      for (let b = a; b < d; b++) g[o + b] += ra * row[b];
    }
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) g[a * d + b] = g[b * d + a];
  return g;
}

/**
 * Fit LDA on rows `x` (n×d) with labels `y` (1 = image, 0 = text).
 * Σ_w = (Σ_c Σ_{i∈c} (x_i − μ_c)(x_i − μ_c)ᵀ) / n, computed as XᵀX − Σ_c n_c μ_c μ_cᵀ.
 */
export function fitLda(
  x: Float32Array,
  n: number,
  d: number,
  y: ArrayLike<number | boolean>,
  opts: LdaOptions = {},
): LdaProbe {
  if (x.length !== n * d) throw new UserError(`lda: x has ${x.length} values, expected ${n * d}`);
  if (y.length !== n) throw new UserError(`lda: ${y.length} labels for ${n} rows`);
  const mu1 = new Float64Array(d);
  const mu0 = new Float64Array(d);
  let n1 = 0;
  for (let i = 0; i < n; i++) {
    const mu = y[i] ? mu1 : mu0;
    if (y[i]) n1++;
    for (let t = 0; t < d; t++) mu[t] += x[i * d + t];
  }
  const n0 = n - n1;
  if (n1 === 0 || n0 === 0) {
    throw new UserError("lda: the rows hold one modality only; LDA needs image and text rows");
  }
  for (let t = 0; t < d; t++) {
    mu1[t] /= n1;
    mu0[t] /= n0;
  }
  const g = (opts.gram ?? gramReference)(x, n, d);
  const s = new Float64Array(d * d);
  let trace = 0;
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      s[a * d + b] = (g[a * d + b] - n1 * mu1[a] * mu1[b] - n0 * mu0[a] * mu0[b]) / n;
    }
    trace += s[a * d + a];
  }
  const ridge = (opts.shrinkage ?? 1e-3) * Math.max(trace / d, 1e-12);
  for (let a = 0; a < d; a++) s[a * d + a] += ridge;
  const diff = new Float64Array(d);
  for (let t = 0; t < d; t++) diff[t] = mu1[t] - mu0[t];
  const w = choleskySolve(s, d, diff);
  let norm = 0;
  for (let t = 0; t < d; t++) norm += w[t] * w[t];
  norm = Math.sqrt(norm);
  if (!(norm > 0)) throw new UserError("lda: image and text means coincide; no direction exists");
  let m1 = 0, m0 = 0;
  for (let t = 0; t < d; t++) {
    w[t] /= norm;
    m1 += w[t] * mu1[t];
    m0 += w[t] * mu0[t];
  }
  return { w, b: -0.5 * (m1 + m0) };
}

/** Solve S·x = r for symmetric positive-definite S (d×d, overwritten by its factor). */
function choleskySolve(s: Float64Array, d: number, r: Float64Array): Float64Array {
  for (let j = 0; j < d; j++) {
    let diag = s[j * d + j];
    for (let k = 0; k < j; k++) diag -= s[j * d + k] * s[j * d + k];
    if (!(diag > 0)) {
      throw new UserError("lda: within-class covariance is singular; raise shrinkage");
    }
    const ljj = Math.sqrt(diag);
    s[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let v = s[i * d + j];
      for (let k = 0; k < j; k++) v -= s[i * d + k] * s[j * d + k];
      s[i * d + j] = v / ljj;
    }
  }
  const z = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let v = r[i];
    for (let k = 0; k < i; k++) v -= s[i * d + k] * z[k];
    z[i] = v / s[i * d + i];
  }
  const out = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let v = z[i];
    for (let k = i + 1; k < d; k++) v -= s[k * d + i] * out[k];
    out[i] = v / s[i * d + i];
  }
  return out;
}
