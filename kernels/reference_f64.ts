/**
 * Float64 reference implementations of every backend op, written for clarity (naive loops,
 * full sorts), used by the parity tests. Each dense result comes with an error scale
 * (Σ|terms|) so that tests can bound float32 rounding rigorously.
 */

/** Dense reference result: `value` and `absSum` (Σ of |terms| per output), both float64. */
export interface RefResult {
  value: Float64Array;
  absSum: Float64Array;
}

/** C = alpha·op(A)·op(B) + beta·C0 (C0 may be null when beta is 0). */
export function refGemm(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c0: ArrayLike<number> | null,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  alpha: number,
  beta: number,
): RefResult {
  const value = new Float64Array(m * n), absSum = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0, sa = 0;
      for (let p = 0; p < k; p++) {
        const x = transA ? a[p * m + i] : a[i * k + p];
        const y = transB ? b[j * k + p] : b[p * n + j];
        s += x * y;
        sa += Math.abs(x * y);
      }
      const prev = beta === 0 || !c0 ? 0 : beta * c0[i * n + j];
      value[i * n + j] = alpha * s + prev;
      absSum[i * n + j] = Math.abs(alpha) * sa + Math.abs(prev);
    }
  }
  return { value, absSum };
}

/** A sparse reference result: per row, the sorted list of (column, value). */
export type RefRows = Array<Array<[number, number]>>;

/** Per-row top-k: k largest (ties: lower column), value max(pre, 0), sorted by column. */
export function refTopkRows(pre: ArrayLike<number>, n: number, c: number, k: number): RefRows {
  const rows: RefRows = [];
  for (let i = 0; i < n; i++) {
    const idx = Array.from({ length: c }, (_, j) => j);
    idx.sort((x, y) => pre[i * c + y] - pre[i * c + x] || x - y);
    const keep = idx.slice(0, k).sort((x, y) => x - y);
    rows.push(keep.map((j) => [j, Math.max(0, pre[i * c + j])]));
  }
  return rows;
}

/**
 * Batch top-k: the K largest positive entries overall (ties: lower flat index). With `bias`
 * (length c) the entries are v[i,j] = fround(pre[i,j] + bias[j]) — the float32 sum, which is
 * what the op is defined on (two sums that differ in float64 but round to the same float32
 * tie) — and the kept values are those sums.
 */
export function refBatchTopk(
  pre: ArrayLike<number>,
  n: number,
  c: number,
  K: number,
  bias: ArrayLike<number> | null = null,
): { rows: RefRows; minKept: number } {
  const v = Float64Array.from(
    { length: n * c },
    (_, f) => bias ? Math.fround(pre[f] + bias[f % c]) : pre[f],
  );
  const flat: number[] = [];
  for (let f = 0; f < n * c; f++) if (v[f] > 0) flat.push(f);
  flat.sort((x, y) => v[y] - v[x] || x - y);
  const keep = flat.slice(0, K).sort((x, y) => x - y);
  const rows: RefRows = Array.from({ length: n }, () => []);
  let minKept = keep.length ? Infinity : 0;
  for (const f of keep) {
    rows[Math.floor(f / c)].push([f % c, v[f]]);
    minKept = Math.min(minKept, v[f]);
  }
  return { rows, minKept };
}

/**
 * Threshold: entries with pre > theta[j] (or theta[0] when one value) and, with `hi`, pre ≤ hi[j]
 * (likewise), value pre.
 */
export function refThreshold(
  pre: ArrayLike<number>,
  n: number,
  c: number,
  theta: ArrayLike<number>,
  hi: ArrayLike<number> | null = null,
): RefRows {
  const rows: RefRows = [];
  const at = (a: ArrayLike<number>, j: number) => a.length === 1 ? a[0] : a[j];
  for (let i = 0; i < n; i++) {
    const r: Array<[number, number]> = [];
    for (let j = 0; j < c; j++) {
      const x = pre[i * c + j];
      if (x > at(theta, j) && (hi === null || x <= at(hi, j))) r.push([j, x]);
    }
    rows.push(r);
  }
  return rows;
}

/** Dense n×c matrix (float64) of sparse rows. */
export function refDense(rows: RefRows, c: number): Float64Array {
  const out = new Float64Array(rows.length * c);
  rows.forEach((r, i) => r.forEach(([j, v]) => (out[i * c + j] += v)));
  return out;
}

/** Z·D + bias (Z dense n×c as float64, D c×d). */
export function refDecode(
  zDense: Float64Array,
  n: number,
  c: number,
  dict: ArrayLike<number>,
  d: number,
  bias: ArrayLike<number> | null,
): RefResult {
  const r = refGemm(zDense, dict, null, n, d, c, false, false, 1, 0);
  if (bias) {
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < d; t++) {
        r.value[i * d + t] += bias[t];
        r.absSum[i * d + t] += Math.abs(bias[t]);
      }
    }
  }
  return r;
}

/** Σ x² in float64. */
export function refSumSquares(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/** Rows scaled to unit norm (zero rows unchanged). */
export function refNormalizeRows(x: ArrayLike<number>, rows: number, d: number): Float64Array {
  const out = Float64Array.from(x);
  for (let j = 0; j < rows; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += out[j * d + t] ** 2;
    if (s > 0) { for (let t = 0; t < d; t++) out[j * d + t] /= Math.sqrt(s); }
  }
  return out;
}

/** grad_j − ⟨grad_j, D_j⟩·D_j per row. */
export function refRemoveParallel(
  dict: ArrayLike<number>,
  grad: ArrayLike<number>,
  rows: number,
  d: number,
): Float64Array {
  const out = Float64Array.from(grad);
  for (let j = 0; j < rows; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += grad[j * d + t] * dict[j * d + t];
    for (let t = 0; t < d; t++) out[j * d + t] -= s * dict[j * d + t];
  }
  return out;
}

/** One AdamW step in float64 (PyTorch semantics); returns new p, m, v. */
export function refAdamw(
  p: ArrayLike<number>,
  g: ArrayLike<number>,
  m: ArrayLike<number>,
  v: ArrayLike<number>,
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number },
): { p: Float64Array; m: Float64Array; v: Float64Array } {
  const n = p.length;
  const P = new Float64Array(n), M = new Float64Array(n), V = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    M[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
    V[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
    const mh = M[i] / (1 - o.beta1 ** o.step);
    const vh = V[i] / (1 - o.beta2 ** o.step);
    P[i] = p[i] * (1 - o.lr * o.weightDecay) - o.lr * mh / (Math.sqrt(vh) + o.eps);
  }
  return { p: P, m: M, v: V };
}
