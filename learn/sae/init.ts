/**
 * Where an SAE's dictionary starts (method.md §2: decoder rows D of unit norm, the encoder
 * initialised as Dᵀ). The `initRows` option is the fraction f of the dictionary rows that start
 * at training rows minus the training mean; the others start at i.i.d. Gaussian directions.
 * - f = 0 (default): the Gaussian start. A Gaussian direction overlaps every concept by about
 *   1/√d; where rows hold many concepts (the issue-#16 world: 43 per row at d = 768) the run
 *   spent most of its 30 epochs before its concepts formed (59% of the frequent half of the
 *   planted directions recovered at cosine ≥ 0.9 with method.md's weight decay 1e-5; 87% with
 *   the study's 1, which keeps Adam's noise out of the encoder: tasks/config/train.ts).
 * - f = 1: every dictionary row at a training row. A row overlaps each concept present in it by
 *   about a/‖x‖ (≈ 0.15 there), so the run only has to split the row's concepts (96% there).
 *   But a row is a mixture: where rows hold few concepts and k is well above them, the run keeps
 *   mixtures (the paper-scale world at one epoch: frequent half 21% against 84%).
 * - f = 0.5: between the two (frequent half 91.5% in the world; 66% against 84% in the
 *   paper-scale world).
 * Row starts are not the default because they bias what the study measures about modality:
 * a row start comes from one modality and carries that modality's offset from the mean, and
 * the default study's dictionary from f = 0.5 makes its concepts good modality classifiers
 * (median separation 0.59 against 0.32 from Gaussian directions; README "Dead concepts at
 * scale").
 * Row starts are interleaved with Gaussian ones (dictionary row j starts at a training row when
 * ⌊(j+1)·f⌋ > ⌊j·f⌋), so every prefix of the dictionary (Matryoshka's nested groups) holds its
 * share. Training rows are drawn without replacement; a row that is exactly the mean, and
 * dictionary rows beyond the n training rows, keep their Gaussian direction.
 */
import { z } from "zod";
import type { Rng } from "../../data/random.ts";
import { normalizeRows } from "../../data/rows.ts";

/** The `initRows` option of every SAE variant. */
export const initOptionsShape = {
  /**
   * Fraction f ∈ [0, 1] of the initial dictionary rows that are training rows minus the
   * training mean (drawn without replacement); the rest are Gaussian directions. 0 (default):
   * the Gaussian start; 1: all rows. The encoder starts as the same rows (W_enc = Dᵀ).
   */
  initRows: z.number().min(0).max(1).default(0),
};

/**
 * Whether dictionary row j starts at a training row for fraction f: row starts are spread
 * evenly, so any prefix of L dictionary rows holds ⌊L·f⌋ of them.
 */
export function startsAtRow(j: number, f: number): boolean {
  return Math.floor((j + 1) * f) > Math.floor(j * f);
}

/**
 * The initial dictionary D0 (c×d row-major, unit rows) of a run on X (n×d row-major) with
 * per-dimension mean `mean` ([d], float64), drawn from `rng`, for row fraction f.
 * f = 0: c·d normals, each row normalised (exactly the draws of the Gaussian start).
 * f > 0: first a permutation of the n rows, then the c·d normals; dictionary row j < n with
 * {@link startsAtRow}(j, f) is row perm[j] − mean, normalised, unless that is exactly zero.
 * @returns a new c×d Float32Array
 */
export function initialDictionary(
  f: number,
  x: Float32Array,
  n: number,
  d: number,
  c: number,
  mean: Float64Array,
  rng: Rng,
): Float32Array {
  const gaussian = () => normalizeRows(rng.fillNormal(new Float32Array(c * d)), c, d);
  if (f === 0) return gaussian();
  const perm = rng.permutation(n);
  const out = gaussian();
  const row = new Float32Array(d);
  for (let j = 0; j < Math.min(c, n); j++) {
    if (!startsAtRow(j, f)) continue;
    const o = perm[j] * d;
    let s = 0;
    for (let t = 0; t < d; t++) {
      row[t] = x[o + t] - mean[t];
      s += row[t] * row[t];
    }
    if (s === 0) continue; // the row is the mean: keep the Gaussian direction
    out.set(normalizeRows(row, 1, d), j * d);
  }
  return out;
}
