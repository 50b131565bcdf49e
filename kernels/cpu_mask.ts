/**
 * Dense elementwise, mask and column kernels on host arrays (row-major m×q; `theta` of length
 * q, or 1 for one shared threshold): the dense paths of ReLU / JumpReLU training.
 */

/** out = a ⊙ b (out may alias a or b). */
export function mulHost(a: Float32Array, b: Float32Array, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = a[i] * b[i];
}

/** x ← max(x, lo) in place (NaN stays NaN). */
export function clampMinHost(x: Float32Array, lo: number): void {
  const l = Math.fround(lo);
  for (let i = 0; i < x.length; i++) if (x[i] < l) x[i] = l;
}

/** out (m×q) = beta·out + v_i·a_i for every row i (beta 0 overwrites, even NaN). */
export function scaleRowsHost(
  v: Float32Array,
  a: Float32Array,
  m: number,
  q: number,
  out: Float32Array,
  beta: number,
): void {
  for (let i = 0; i < m; i++) {
    const s = v[i], o = i * q;
    if (beta === 0) { for (let j = 0; j < q; j++) out[o + j] = s * a[o + j]; }
    else for (let j = 0; j < q; j++) out[o + j] = beta * out[o + j] + s * a[o + j];
  }
}

/** out (q) = beta·out + Σ_i a_i (a m×q), accumulated in float64. */
export function columnSumHost(
  a: Float32Array,
  m: number,
  q: number,
  out: Float32Array,
  beta: number,
): void {
  const acc = new Float64Array(q);
  for (let i = 0; i < m; i++) {
    const o = i * q;
    for (let j = 0; j < q; j++) acc[j] += a[o + j];
  }
  for (let j = 0; j < q; j++) out[j] = (beta === 0 ? 0 : beta * out[j]) + acc[j];
}

/**
 * out = x where pre > theta (per column), else 0; with `x` null, out = pre where pre > theta
 * (dense thresholded codes). out may alias x.
 */
export function maskAboveHost(
  pre: Float32Array,
  m: number,
  q: number,
  theta: Float32Array,
  x: Float32Array | null,
  out: Float32Array,
): void {
  const src = x ?? pre;
  const shared = theta.length === 1;
  const t0 = theta[0];
  for (let i = 0; i < m; i++) {
    const o = i * q;
    if (shared) {
      for (let j = 0; j < q; j++) out[o + j] = pre[o + j] > t0 ? src[o + j] : 0;
    } else {
      for (let j = 0; j < q; j++) out[o + j] = pre[o + j] > theta[j] ? src[o + j] : 0;
    }
  }
}

/** out (q) = beta·out + #{i : pre_ij > theta_j}. */
export function countAboveHost(
  pre: Float32Array,
  m: number,
  q: number,
  theta: Float32Array,
  out: Float32Array,
  beta: number,
): void {
  const cnt = new Int32Array(q);
  const shared = theta.length === 1;
  for (let i = 0; i < m; i++) {
    const o = i * q;
    for (let j = 0; j < q; j++) if (pre[o + j] > (shared ? theta[0] : theta[j])) cnt[j]++;
  }
  for (let j = 0; j < q; j++) out[j] = (beta === 0 ? 0 : beta * out[j]) + cnt[j];
}
