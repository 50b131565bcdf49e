/**
 * Linear layouts of concept directions (PCA). The 2-D map: projection of the (mean-centred) dictionary rows on its two
 * leading principal axes (pure; the d×d covariance costs O(c·d²), power iteration O(d²) per step).
 */

/**
 * Coordinates of the c concepts on the first two principal axes of the rows of `dict`.
 * Axes are the top-2 eigenvectors of the d×d covariance (deflated power iteration in float64),
 * each oriented so that its largest-magnitude component is positive (deterministic).
 * @param dict row-major c×d
 * @returns `xy` (length 2c: x_j = xy[2j], y_j = xy[2j+1]) and the two eigenvalues (variance per
 *   axis, in squared dictionary units)
 */
export function pcaMap(
  dict: Float32Array,
  c: number,
  d: number,
  gram?: (centred: Float64Array, c: number, d: number) => Float64Array,
): { xy: Float64Array; variance: [number, number]; axes: Float64Array } {
  if (dict.length !== c * d) throw new RangeError(`pcaMap: dict is not ${c}×${d}`);
  const mean = new Float64Array(d);
  for (let j = 0; j < c; j++) for (let t = 0; t < d; t++) mean[t] += dict[j * d + t];
  for (let t = 0; t < d; t++) mean[t] /= Math.max(1, c);
  const x = new Float64Array(c * d);
  for (let j = 0; j < c; j++) for (let t = 0; t < d; t++) x[j * d + t] = dict[j * d + t] - mean[t];
  const cov = gram ? gram(x, c, d) : covariance(x, c, d);
  const axes = new Float64Array(2 * d);
  const variance: [number, number] = [0, 0];
  const work = Float64Array.from(cov);
  for (let a = 0; a < Math.min(2, d); a++) {
    const { vector, value } = leadingEigen(work, d);
    variance[a] = value;
    axes.set(vector, a * d);
    // Deflate: work -= value · v vᵀ.
    for (let s = 0; s < d; s++) {
      for (let t = 0; t < d; t++) work[s * d + t] -= value * vector[s] * vector[t];
    }
  }
  const xy = new Float64Array(2 * c);
  for (let j = 0; j < c; j++) {
    for (let a = 0; a < 2; a++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += x[j * d + t] * axes[a * d + t];
      xy[2 * j + a] = s;
    }
  }
  return { xy, variance, axes };
}

/** A symmetric eigensolver: eigenvalues descending and unit eigenvectors as rows (d×d). */
export type SymmetricEigen = (
  a: Float64Array,
  d: number,
) => { values: Float64Array; vectors: Float64Array };

/**
 * Coordinates of the c rows of `dict` (c×d) on the `dims` leading principal axes of the
 * mean-centred rows. With `eig` (a full symmetric eigensolver, e.g. learn/eigh.ts) the axes come
 * from one eigendecomposition of the covariance; without it, from deflated power iteration.
 * `gram` may supply XᵀX/c of the centred rows (d×d) through a fast GEMM.
 * Axes are oriented so that their largest-magnitude component is positive.
 * @returns `coords` (c×dims row-major), `variance` per axis, `axes` (dims×d)
 */
export function pcaProjection(
  dict: Float32Array,
  c: number,
  d: number,
  dims: number,
  opts: {
    gram?: (centred: Float64Array, c: number, d: number) => Float64Array;
    eig?: SymmetricEigen;
  } = {},
): { coords: Float64Array; variance: Float64Array; axes: Float64Array } {
  if (dict.length !== c * d) throw new RangeError(`pcaProjection: dict is not ${c}×${d}`);
  const k = Math.min(dims, d);
  if (!opts.eig) {
    const out = new Float64Array(c * k), variance = new Float64Array(k);
    if (k <= 2) {
      const m = pcaMap(dict, c, d, opts.gram);
      for (let j = 0; j < c; j++) for (let a = 0; a < k; a++) out[j * k + a] = m.xy[2 * j + a];
      variance.set(m.variance.slice(0, k));
      return { coords: out, variance, axes: m.axes.slice(0, k * d) };
    }
  }
  const mean = new Float64Array(d);
  for (let j = 0; j < c; j++) for (let t = 0; t < d; t++) mean[t] += dict[j * d + t];
  for (let t = 0; t < d; t++) mean[t] /= Math.max(1, c);
  const x = new Float64Array(c * d);
  for (let j = 0; j < c; j++) for (let t = 0; t < d; t++) x[j * d + t] = dict[j * d + t] - mean[t];
  const cov = opts.gram ? opts.gram(x, c, d) : covariance(x, c, d);
  const axes = new Float64Array(k * d);
  const variance = new Float64Array(k);
  if (opts.eig) {
    const e = opts.eig(cov, d);
    for (let a = 0; a < k; a++) {
      variance[a] = Math.max(0, e.values[a]);
      axes.set(e.vectors.subarray(a * d, (a + 1) * d), a * d);
    }
  } else {
    const work = Float64Array.from(cov);
    for (let a = 0; a < k; a++) {
      const { vector, value } = leadingEigen(work, d);
      variance[a] = value;
      axes.set(vector, a * d);
      for (let s = 0; s < d; s++) {
        for (let t = 0; t < d; t++) work[s * d + t] -= value * vector[s] * vector[t];
      }
    }
  }
  for (let a = 0; a < k; a++) {
    let big = 0;
    for (let t = 1; t < d; t++) {
      if (Math.abs(axes[a * d + t]) > Math.abs(axes[a * d + big])) big = t;
    }
    if (axes[a * d + big] < 0) { for (let t = 0; t < d; t++) axes[a * d + t] = -axes[a * d + t]; }
  }
  const coords = new Float64Array(c * k);
  for (let j = 0; j < c; j++) {
    for (let a = 0; a < k; a++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += x[j * d + t] * axes[a * d + t];
      coords[j * k + a] = s;
    }
  }
  return { coords, variance, axes };
}

/** Covariance XᵀX / c (d×d, float64) of centred rows X (c×d). */
export function covariance(x: Float64Array, c: number, d: number): Float64Array {
  const cov = new Float64Array(d * d);
  for (let j = 0; j < c; j++) {
    const o = j * d;
    for (let s = 0; s < d; s++) {
      const v = x[o + s];
      if (v === 0) continue;
      for (let t = s; t < d; t++) cov[s * d + t] += v * x[o + t];
    }
  }
  for (let s = 0; s < d; s++) {
    for (let t = s; t < d; t++) {
      cov[s * d + t] /= Math.max(1, c);
      cov[t * d + s] = cov[s * d + t];
    }
  }
  return cov;
}

/** Leading eigenpair of a symmetric PSD d×d matrix by power iteration (deterministic start). */
function leadingEigen(m: Float64Array, d: number): { vector: Float64Array; value: number } {
  let v = new Float64Array(d);
  for (let t = 0; t < d; t++) v[t] = 1 + 0.01 * Math.sin(t + 1);
  normalise(v);
  let value = 0;
  for (let it = 0; it < 1000; it++) {
    const w = new Float64Array(d);
    for (let s = 0; s < d; s++) {
      let acc = 0;
      for (let t = 0; t < d; t++) acc += m[s * d + t] * v[t];
      w[s] = acc;
    }
    const norm = normalise(w);
    let diff = 0;
    for (let t = 0; t < d; t++) diff = Math.max(diff, Math.abs(w[t] - v[t]));
    v = w;
    value = norm;
    if (norm === 0 || diff < 1e-12) break;
  }
  let big = 0;
  for (let t = 1; t < d; t++) if (Math.abs(v[t]) > Math.abs(v[big])) big = t;
  if (v[big] < 0) { for (let t = 0; t < d; t++) v[t] = -v[t]; }
  return { vector: v, value };
}

function normalise(v: Float64Array): number {
  let s = 0;
  for (let t = 0; t < v.length; t++) s += v[t] * v[t];
  const n = Math.sqrt(s);
  if (n > 0) { for (let t = 0; t < v.length; t++) v[t] /= n; }
  return n;
}
