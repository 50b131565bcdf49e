/**
 * Sparse dictionary learning with an Orthogonal Matching Pursuit encoder (method.md §2 baselines).
 *
 * Encoder (OMP): per row, k greedy steps; each adds the atom of largest |⟨r, D_j⟩| (r the current
 * residual) and refits all coefficients of the support by least squares (incremental Cholesky of
 * the support's Gram matrix, float64). Codes are exactly k entries per row and SIGNED (like PCA,
 * unlike the SAEs). Residual correlations R·Dᵀ and residuals X − Γ·D run on the backend.
 *
 * Dictionary update: approximate K-SVD (Rubinstein, Zibulevsky & Elad 2008), one pass over the
 * atoms per iteration, each atom refit to the residual of the rows that use it; atoms no row uses
 * are re-seeded with the worst-reconstructed rows.
 */
import type { Backend } from "../../kernels/backend.ts";
import type { EpochLog, FittedDictionary, HostSparseCodes } from "../learner.ts";
import { decoderOnlyDictionary } from "./decoder_dictionary.ts";
import { Rng } from "../../data/random.ts";
import { normalizeRows } from "../../data/rows.ts";
import { UserError } from "../../pipeline/errors.ts";
import { blockRows, checkShape, matmul, sparseDecode } from "./ops.ts";

/** Gram matrices up to this many concepts are kept on the host (c² floats). */
const MAX_GRAM_CONCEPTS = 4096;

/**
 * OMP codes of X (n×d) over the unit dictionary D (c×d), k ≤ min(c, d) atoms per row.
 * Returns CSR codes with exactly k entries per row (rowPtr[i] = i·k), atoms in selection order;
 * a coefficient is 0 only when the row is already reconstructed exactly (or the next atom is
 * linearly dependent on the support).
 */
export async function ompEncode(
  backend: Backend,
  x: Float32Array,
  n: number,
  d: number,
  dict: Float32Array,
  c: number,
  k: number,
): Promise<HostSparseCodes> {
  checkShape("ompEncode", x, n, d);
  checkShape("ompEncode(dictionary)", dict, c, d);
  if (!(Number.isInteger(k) && k >= 1 && k <= Math.min(c, d))) {
    throw new UserError(`train.k: OMP needs 1 ≤ k ≤ min(c, d) = ${Math.min(c, d)}, got ${k}`);
  }
  const gram = c <= MAX_GRAM_CONCEPTS
    ? await matmul(backend, dict, dict, c, d, c, { transB: true })
    : null;
  const rowPtr = new Int32Array(n + 1);
  for (let i = 0; i <= n; i++) rowPtr[i] = i * k;
  const index = new Int32Array(n * k);
  const value = new Float32Array(n * k);
  // rows per block: the score block (≤ ~64 MB) and each row's k×k float64 factor (≤ 32 MB)
  const step = Math.max(1, Math.min(blockRows(c), Math.floor(4194304 / (k * k))));
  const w = new Float64Array(k);
  const y = new Float64Array(k);
  const g = new Float64Array(k);
  const dot = (a: number, b: number) => {
    if (gram) return gram[a * c + b];
    let s = 0;
    for (let t = 0; t < d; t++) s += dict[a * d + t] * dict[b * d + t];
    return s;
  };
  for (let s0 = 0; s0 < n; s0 += step) {
    const m = Math.min(step, n - s0);
    const xb = x.subarray(s0 * d, (s0 + m) * d);
    const alpha0 = await matmul(backend, xb, dict, m, d, c, { transB: true });
    // per-row lower Cholesky factor of G_SS, kept across the k steps
    const Ls = new Float64Array(m * k * k);
    const sizes = new Int32Array(m);
    let alpha = alpha0;
    for (let t = 0; t < k; t++) {
      if (t > 0) {
        // residual correlations: (X − Γ·D)·Dᵀ with Γ the first t entries of each row
        const part: HostSparseCodes = {
          rows: m,
          cols: c,
          rowPtr: Int32Array.from({ length: m + 1 }, (_, i) => i * t),
          index: new Int32Array(m * t),
          value: new Float32Array(m * t),
        };
        for (let i = 0; i < m; i++) {
          for (let q = 0; q < t; q++) {
            part.index[i * t + q] = index[(s0 + i) * k + q];
            part.value[i * t + q] = value[(s0 + i) * k + q];
          }
        }
        const recon = await sparseDecode(backend, part, dict, d);
        for (let e = 0; e < m * d; e++) recon[e] = xb[e] - recon[e];
        alpha = await matmul(backend, recon, dict, m, d, c, { transB: true });
      }
      for (let i = 0; i < m; i++) {
        const o = (s0 + i) * k;
        const ar = alpha.subarray(i * c, (i + 1) * c);
        // pick the atom of largest |correlation| outside the support
        let bj = -1;
        let bv = -1;
        for (let j = 0; j < c; j++) {
          const v = Math.abs(ar[j]);
          if (v > bv) {
            let used = false;
            for (let q = 0; q < t; q++) if (index[o + q] === j) used = true;
            if (!used) {
              bv = v;
              bj = j;
            }
          }
        }
        index[o + t] = bj;
        const size = sizes[i];
        const L = Ls.subarray(i * k * k, (i + 1) * k * k);
        if (size === t) {
          // extend the Cholesky factor: L w = G_{S,new}; l = sqrt(1 − ‖w‖²)
          for (let q = 0; q < t; q++) g[q] = dot(index[o + q], bj);
          let ww = 0;
          for (let q = 0; q < t; q++) {
            let s = g[q];
            for (let r = 0; r < q; r++) s -= L[q * k + r] * w[r];
            w[q] = s / L[q * k + q];
            ww += w[q] * w[q];
          }
          const diag = dot(bj, bj) - ww;
          if (diag > 1e-10) {
            for (let q = 0; q < t; q++) L[t * k + q] = w[q];
            L[t * k + t] = Math.sqrt(diag);
            sizes[i] = t + 1;
          }
        }
        // solve G_SS γ = α0_S with the factor (support = first sizes[i] atoms)
        const sz = sizes[i];
        for (let q = 0; q < sz; q++) {
          let s = alpha0[i * c + index[o + q]];
          for (let r = 0; r < q; r++) s -= L[q * k + r] * y[r];
          y[q] = s / L[q * k + q];
        }
        for (let q = sz - 1; q >= 0; q--) {
          let s = y[q];
          for (let r = q + 1; r < sz; r++) s -= L[r * k + q] * w[r];
          w[q] = s / L[q * k + q];
        }
        for (let q = 0; q <= t; q++) value[o + q] = q < sz ? w[q] : 0;
      }
    }
  }
  return { rows: n, cols: c, rowPtr, index, value };
}

/** Options of {@link fitOmp}. */
export interface OmpOptions {
  /** Number of atoms (concepts). */
  c: number;
  /** Atoms per row. */
  k: number;
  seed: number;
  /** Alternations of OMP coding and atom updates (default 10). */
  iterations?: number;
  /** Fit on at most this many rows (a seeded subsample; default 8192). */
  fitRows?: number;
}

/**
 * Learn a unit-norm dictionary D (c×d) for k-sparse OMP codes of X (n×d). Initial atoms are
 * distinct random rows of X (normalised; seeded), topped up with random unit directions when
 * c exceeds the rows. One log entry per iteration (on the fitted rows).
 */
export async function fitOmp(
  x: Float32Array,
  n: number,
  d: number,
  opts: OmpOptions,
  backend: Backend,
): Promise<FittedDictionary> {
  checkShape("fitOmp", x, n, d);
  const { c, k } = opts;
  if (!(Number.isInteger(c) && c >= 1)) throw new UserError(`train.c: OMP needs c ≥ 1, got ${c}`);
  if (!(Number.isInteger(k) && k >= 1 && k <= Math.min(c, d))) {
    throw new UserError(`train.k: OMP needs 1 ≤ k ≤ min(c, d) = ${Math.min(c, d)}, got ${k}`);
  }
  const rng = new Rng(opts.seed);
  const iterations = opts.iterations ?? 10;
  const m = Math.min(n, opts.fitRows ?? 8192);
  const perm = rng.permutation(n);
  const xs = new Float32Array(m * d);
  for (let i = 0; i < m; i++) xs.set(x.subarray(perm[i] * d, (perm[i] + 1) * d), i * d);
  const dict = new Float32Array(c * d);
  for (let j = 0; j < c; j++) {
    if (j < m) dict.set(xs.subarray(j * d, (j + 1) * d), j * d);
    else for (let t = 0; t < d; t++) dict[j * d + t] = rng.normal();
  }
  normalizeRows(dict, c, d);
  let sst = 0;
  {
    const mean = new Float64Array(d);
    for (let i = 0; i < m; i++) for (let t = 0; t < d; t++) mean[t] += xs[i * d + t] / m;
    for (let i = 0; i < m; i++) for (let t = 0; t < d; t++) sst += (xs[i * d + t] - mean[t]) ** 2;
  }
  const log: EpochLog[] = [];
  for (let it = 1; it <= iterations; it++) {
    const z = await ompEncode(backend, xs, m, d, dict, c, k);
    const res = await sparseDecode(backend, z, dict, d);
    for (let e = 0; e < m * d; e++) res[e] = xs[e] - res[e];
    const before = sumSquares(res);
    // entries of each atom (CSC positions into z)
    const counts = new Int32Array(c + 1);
    for (let e = 0; e < m * k; e++) counts[z.index[e] + 1]++;
    for (let j = 0; j < c; j++) counts[j + 1] += counts[j];
    const pos = new Int32Array(m * k);
    const fill = counts.slice(0, c);
    for (let e = 0; e < m * k; e++) pos[fill[z.index[e]]++] = e;
    const newAtom = new Float64Array(d);
    let unused = 0;
    const rowErr = new Float64Array(m);
    for (let j = 0; j < c; j++) {
      const a = counts[j];
      const b = counts[j + 1];
      if (a === b) continue;
      // new direction ∝ Σ g_i (r_i + g_i D_j)
      newAtom.fill(0);
      for (let p = a; p < b; p++) {
        const e = pos[p];
        const i = Math.floor(e / k);
        const gi = z.value[e];
        for (let t = 0; t < d; t++) newAtom[t] += gi * (res[i * d + t] + gi * dict[j * d + t]);
      }
      let nrm = 0;
      for (let t = 0; t < d; t++) nrm += newAtom[t] * newAtom[t];
      nrm = Math.sqrt(nrm);
      if (!(nrm > 1e-12)) continue;
      for (let t = 0; t < d; t++) newAtom[t] /= nrm;
      for (let p = a; p < b; p++) {
        const e = pos[p];
        const i = Math.floor(e / k);
        const gi = z.value[e];
        let gn = 0;
        for (let t = 0; t < d; t++) gn += (res[i * d + t] + gi * dict[j * d + t]) * newAtom[t];
        for (let t = 0; t < d; t++) {
          res[i * d + t] += gi * dict[j * d + t] - gn * newAtom[t];
        }
        z.value[e] = gn;
      }
      for (let t = 0; t < d; t++) dict[j * d + t] = newAtom[t];
    }
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += res[i * d + t] ** 2;
      rowErr[i] = s;
    }
    // re-seed unused atoms with the worst-reconstructed rows (deterministic order)
    const order = Array.from({ length: m }, (_, i) => i).sort((p, q) =>
      rowErr[q] - rowErr[p] || p - q
    );
    for (let j = 0; j < c; j++) {
      if (counts[j] !== counts[j + 1]) continue;
      const i = order[unused % m];
      for (let t = 0; t < d; t++) dict[j * d + t] = res[i * d + t];
      unused++;
    }
    normalizeRows(dict, c, d);
    const after = sumSquares(res);
    log.push({
      epoch: it,
      loss: after / m,
      r2: 1 - after / sst,
      l0: k,
      deadFraction: unused / c,
      extra: { r2_before_update: 1 - before / sst },
    });
  }
  return ompDictionary(dict, c, d, k, log);
}

function sumSquares(a: Float32Array): number {
  let s = 0;
  for (let e = 0; e < a.length; e++) s += a[e] * a[e];
  return s;
}

/** An OMP dictionary from D (c×d, unit rows) and k: used by the fit and to reload weights. */
export function ompDictionary(
  dict: Float32Array,
  c: number,
  d: number,
  k: number,
  log: EpochLog[] = [],
): FittedDictionary {
  return decoderOnlyDictionary({
    method: "omp",
    dict,
    c,
    d,
    log,
    encode(x: Float32Array, n: number, backend: Backend): Promise<HostSparseCodes> {
      return ompEncode(backend, x, n, d, dict, c, k);
    },
    config: {
      k,
      encoder:
        "orthogonal matching pursuit: k greedy atoms by |<residual, W_dec_j>|, least-squares coefficients (signed)",
    },
  });
}
