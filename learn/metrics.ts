/**
 * Reconstruction metrics of method.md §3, accumulated in float64:
 * - `r2`     = 1 − Σ‖a−â‖² / Σ‖a−ā‖², ā the per-dimension mean of the scored rows (sklearn style);
 * - `r2Zero` = 1 − Σ‖a−â‖² / Σ‖a−m‖², m the scalar mean of all entries of the scored rows (the
 *   study's library);
 * - `l0` = mean number of non-zero codes per row; `deadFraction` = fraction of concepts that never
 *   fire (no non-zero code) over the whole pass.
 * Scores are computed pooled and per modality (each scope uses its own means).
 */
import type { HostSparseCodes } from "./learner.ts";
import type { Modality } from "../data/embeddings.ts";

/** R² pair over one set of rows. */
export interface R2 {
  r2: number;
  r2Zero: number;
  /** Number of rows scored. */
  n: number;
}

/** All metrics of one scope (`pooled`, `image` or `text`). */
export interface ScopeMetrics {
  scope: "pooled" | Modality;
  r2: number;
  r2Zero: number;
  l0: number;
  deadFraction: number;
  nRows: number;
}

function selectRows(n: number, rows?: ArrayLike<number>): ArrayLike<number> {
  if (rows) return rows;
  const all = new Int32Array(n);
  for (let i = 0; i < n; i++) all[i] = i;
  return all;
}

/**
 * R² (`r2`, per-dimension mean) and `r2Zero` (scalar mean) of the reconstruction `ahat` of `a`,
 * both row-major n×d, over the rows listed in `rows` (default all). NaN when no rows are scored
 * or the rows have zero variance.
 */
export function reconstructionR2(
  a: Float32Array,
  ahat: Float32Array,
  n: number,
  d: number,
  rows?: ArrayLike<number>,
): R2 {
  if (a.length !== n * d || ahat.length !== n * d) {
    throw new Error(
      `reconstructionR2: expected ${n}×${d} inputs, got ${a.length} and ${ahat.length}`,
    );
  }
  const idx = selectRows(n, rows);
  const m = idx.length;
  if (m === 0) return { r2: NaN, r2Zero: NaN, n: 0 };
  const mean = new Float64Array(d);
  let sse = 0;
  let sum = 0;
  for (let r = 0; r < m; r++) {
    const o = idx[r] * d;
    for (let t = 0; t < d; t++) {
      const v = a[o + t];
      const diff = v - ahat[o + t];
      sse += diff * diff;
      mean[t] += v;
      sum += v;
    }
  }
  // Two passes: the means first, then the centred sums of squares (no cancellation).
  for (let t = 0; t < d; t++) mean[t] /= m;
  const scalarMean = sum / (m * d);
  let sstDim = 0;
  let sstScalar = 0;
  for (let r = 0; r < m; r++) {
    const o = idx[r] * d;
    for (let t = 0; t < d; t++) {
      const v = a[o + t];
      const u = v - mean[t];
      const w = v - scalarMean;
      sstDim += u * u;
      sstScalar += w * w;
    }
  }
  return { r2: 1 - sse / sstDim, r2Zero: 1 - sse / sstScalar, n: m };
}

/** Mean number of non-zero codes per row over `rows` (default all rows of `z`). NaN for no rows. */
export function meanL0(z: HostSparseCodes, rows?: ArrayLike<number>): number {
  const idx = selectRows(z.rows, rows);
  if (idx.length === 0) return NaN;
  let nnz = 0;
  for (let r = 0; r < idx.length; r++) {
    const i = idx[r];
    for (let e = z.rowPtr[i]; e < z.rowPtr[i + 1]; e++) if (z.value[e] !== 0) nnz++;
  }
  return nnz / idx.length;
}

/**
 * Fraction of the `z.cols` concepts with no non-zero code on any of `rows` (default all rows):
 * dead over that pass.
 */
export function deadFraction(z: HostSparseCodes, rows?: ArrayLike<number>): number {
  const idx = selectRows(z.rows, rows);
  const alive = new Uint8Array(z.cols);
  for (let r = 0; r < idx.length; r++) {
    const i = idx[r];
    for (let e = z.rowPtr[i]; e < z.rowPtr[i + 1]; e++) if (z.value[e] !== 0) alive[z.index[e]] = 1;
  }
  let dead = 0;
  for (let j = 0; j < z.cols; j++) if (!alive[j]) dead++;
  return z.cols === 0 ? NaN : dead / z.cols;
}

/**
 * Every metric pooled and per modality: rows 0..n-1 of `a`/`ahat` (n×d) and codes `z` (n rows),
 * `modality[i]` the modality of row i. Returns scopes `pooled`, `image`, `text` in that order
 * (a modality with no rows gets NaN scores and nRows 0).
 */
export function evaluateReconstruction(
  a: Float32Array,
  ahat: Float32Array,
  z: HostSparseCodes,
  n: number,
  d: number,
  modality: readonly Modality[],
): ScopeMetrics[] {
  if (z.rows !== n || modality.length !== n) {
    throw new Error(
      `evaluateReconstruction: ${n} rows but codes have ${z.rows}, modality ${modality.length}`,
    );
  }
  const scopes: { scope: "pooled" | Modality; rows?: Int32Array }[] = [{ scope: "pooled" }];
  for (const mod of ["image", "text"] as const) {
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (modality[i] === mod) rows.push(i);
    scopes.push({ scope: mod, rows: Int32Array.from(rows) });
  }
  return scopes.map(({ scope, rows }) => {
    const r = reconstructionR2(a, ahat, n, d, rows);
    return {
      scope,
      r2: r.r2,
      r2Zero: r.r2Zero,
      l0: meanL0(z, rows),
      deadFraction: deadFraction(z, rows),
      nRows: r.n,
    };
  });
}
