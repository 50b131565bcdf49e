/**
 * A 2-D map of concept directions: projection of the (mean-centred) dictionary rows on its two
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

/** Covariance XᵀX / c (d×d, float64) of centred rows X (c×d). */
function covariance(x: Float64Array, c: number, d: number): Float64Array {
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
