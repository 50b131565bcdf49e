/** Elementwise, reduction, dictionary-geometry and optimiser kernels on host arrays. */
import { normalizeRows } from "../data/rows.ts";

/** out = a·x + b·y (out may alias x or y). */
export function axpbyHost(
  a: number,
  x: Float32Array,
  b: number,
  y: Float32Array,
  out: Float32Array,
): void {
  const n = out.length;
  for (let i = 0; i < n; i++) out[i] = a * x[i] + b * y[i];
}

/** Σ x² accumulated in float64 (blocks of 4 independent partial sums). */
export function sumSquaresHost(x: Float32Array): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const n = x.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i] * x[i];
    s1 += x[i + 1] * x[i + 1];
    s2 += x[i + 2] * x[i + 2];
    s3 += x[i + 3] * x[i + 3];
  }
  for (; i < n; i++) s0 += x[i] * x[i];
  return s0 + s1 + s2 + s3;
}

/** Gradient-clipping factor min(1, maxNorm / sqrt(sumSq)) (1 when sumSq is 0). */
export function clipFactorHost(sumSq: number, maxNorm: number): number {
  const norm = Math.sqrt(sumSq);
  return norm > maxNorm ? maxNorm / norm : 1;
}

/** x *= s in place. */
export function scaleHost(x: Float32Array, s: number): void {
  if (s === 1) return;
  for (let i = 0; i < x.length; i++) x[i] *= s;
}

/**
 * Scale each row of D (rows×d, length exactly rows·d) to unit L2 norm in place; zero rows stay
 * zero. The one row normaliser of data/rows.ts (`normalizeRows`), under the host-kernel name.
 */
export function normalizeRowsHost(dict: Float32Array, rows: number, d: number): void {
  normalizeRows(dict, rows, d);
}

/** grad_j -= ⟨grad_j, D_j⟩·D_j for every row j (rows×d). */
export function removeParallelHost(
  dict: Float32Array,
  grad: Float32Array,
  rows: number,
  d: number,
): void {
  for (let j = 0; j < rows; j++) {
    const o = j * d;
    let s = 0;
    for (let t = 0; t < d; t++) s += grad[o + t] * dict[o + t];
    if (s === 0) continue;
    for (let t = 0; t < d; t++) grad[o + t] -= s * dict[o + t];
  }
}

/**
 * One AdamW step (PyTorch semantics, decoupled weight decay):
 * m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p·(1 − lr·wd) − lr·m̂ / (√v̂ + eps), with
 * m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t).
 */
export function adamwHost(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  step: number,
): void {
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  const stepSize = lr / bc1;
  const invSqrtBc2 = 1 / Math.sqrt(bc2);
  const decay = 1 - lr * weightDecay;
  const a1 = 1 - beta1, a2 = 1 - beta2;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + a1 * gi;
    const vi = beta2 * v[i] + a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - stepSize * mi / (Math.sqrt(vi) * invSqrtBc2 + eps);
  }
}
