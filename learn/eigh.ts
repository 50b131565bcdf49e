/**
 * Symmetric eigendecomposition in float64: Householder reduction to tridiagonal form followed by
 * the implicit QL algorithm with Wilkinson shifts (the classic tred2/tql2 pair). O(d³), for
 * d up to a few thousand (PCA's d×d covariance).
 */

/** Eigen-pairs of a symmetric matrix. */
export interface EighResult {
  /** Eigenvalues, descending, length d. */
  values: Float64Array;
  /** Eigenvectors as ROWS, row-major d×d: row i is the unit eigenvector of `values[i]`. */
  vectors: Float64Array;
}

/**
 * Eigendecomposition of the symmetric d×d matrix `a` (row-major; only symmetry is assumed, both
 * triangles are read). Returns eigenvalues in descending order and unit eigenvectors as rows.
 * Throws if the QL iteration does not converge (non-finite input).
 */
export function eigh(a: Float64Array | Float32Array, d: number): EighResult {
  if (a.length !== d * d) throw new Error(`eigh: expected ${d * d} entries, got ${a.length}`);
  // V holds the matrix column-major-as-2D: v[i][j]; use a flat array V[i*d+j].
  const V = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) V[i * d + j] = 0.5 * (a[i * d + j] + a[j * d + i]);
  }
  const e = new Float64Array(d);
  const w = new Float64Array(d);
  tred2(V, w, e, d);
  tql2(V, w, e, d);
  // Columns of V are eigenvectors; sort descending and emit as rows.
  const order = Array.from({ length: d }, (_, i) => i).sort((x, y) => w[y] - w[x]);
  const values = new Float64Array(d);
  const vectors = new Float64Array(d * d);
  for (let r = 0; r < d; r++) {
    const col = order[r];
    values[r] = w[col];
    for (let i = 0; i < d; i++) vectors[r * d + i] = V[i * d + col];
  }
  return { values, vectors };
}

// Householder tridiagonalisation (JAMA / EISPACK tred2). On exit V holds the orthogonal
// transform, dd the diagonal and e the sub-diagonal (e[0] = 0).
function tred2(V: Float64Array, dd: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) dd[j] = V[(n - 1) * n + j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(dd[k]);
    if (scale === 0) {
      e[i] = dd[i - 1];
      for (let j = 0; j < i; j++) {
        dd[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        dd[k] /= scale;
        h += dd[k] * dd[k];
      }
      let f = dd[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h = h - f * g;
      dd[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = dd[j];
        V[j * n + i] = f;
        g = e[j] + V[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j] * dd[k];
          e[k] += V[k * n + j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * dd[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * dd[j];
      for (let j = 0; j < i; j++) {
        f = dd[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[k * n + j] -= f * e[k] + g * dd[k];
        dd[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
      }
    }
    dd[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i];
    V[i * n + i] = 1;
    const h = dd[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) dd[k] = V[k * n + i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1] * V[k * n + j];
        for (let k = 0; k <= i; k++) V[k * n + j] -= g * dd[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    dd[j] = V[(n - 1) * n + j];
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

// Implicit QL with shifts on the tridiagonal (dd, e), accumulating into V (JAMA tql2).
function tql2(V: Float64Array, dd: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  if (n > 0) e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = Math.pow(2, -52);
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(dd[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 100) {
          throw new Error("eigh: QL iteration did not converge (non-finite input?)");
        }
        let g = dd[l];
        let p = (dd[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        dd[l] = e[l] / (p + r);
        dd[l + 1] = e[l] * (p + r);
        const dl1 = dd[l + 1];
        let h = g - dd[l];
        for (let i = l + 2; i < n; i++) dd[i] -= h;
        f += h;
        p = dd[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * dd[i] - s * g;
          dd[i + 1] = h + s * (c * g + s * dd[i]);
          for (let k = 0; k < n; k++) {
            h = V[k * n + i + 1];
            V[k * n + i + 1] = s * V[k * n + i] + c * h;
            V[k * n + i] = c * V[k * n + i] - s * h;
          }
        }
        p = -s * s2 * c3 * el1 * e[l] / dl1;
        e[l] = s * p;
        dd[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    dd[l] = dd[l] + f;
    e[l] = 0;
  }
}
