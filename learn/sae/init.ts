/**
 * Where an SAE's dictionary starts (method.md §2: decoder rows D of unit norm, the encoder
 * initialised as Dᵀ). The `init` option:
 * - `random` (default): i.i.d. Gaussian directions (the start of every earlier version).
 * - `rows`: D's rows are training rows drawn without replacement, minus the training mean, at unit
 *   norm. A row is a sum of the concept directions present in it, so each dictionary row starts
 *   with an overlap of about a/‖x‖ with every concept of its row, where a Gaussian direction has
 *   ≈ 1/√d with every concept. Where rows hold many concepts (the issue-#16 world: 43 per row at
 *   d = 768) the Gaussian start spent most of a 30-epoch run before its concepts formed, and from
 *   rows BatchTopK recovers 96% of the frequent half of the planted directions at cosine ≥ 0.9 in
 *   the same steps (59% from the Gaussian start; README "Dead concepts at scale"). But a row is
 *   also a mixture its concepts must be split from: where rows hold few concepts the rows start
 *   loses (the default world, 7 per row at d = 128: R² 0.93 against 0.98; the paper-scale world
 *   config, 7 per row at d = 768, one epoch: planted recovery 0.38 against 0.81), so it is not the
 *   default.
 * Rows that would be zero after centring, and dictionary rows beyond the n training rows, get a
 * Gaussian direction instead.
 */
import { z } from "zod";
import type { Rng } from "../../data/random.ts";
import { normalizeRows } from "../../data/rows.ts";

/** The `init` option of every SAE variant. */
export const initOptionsShape = {
  /**
   * Initial dictionary rows: `random` (Gaussian directions) or `rows` (training rows minus their
   * mean, drawn without replacement). The encoder starts as the same rows (W_enc = Dᵀ).
   */
  init: z.enum(["random", "rows"]).default("random"),
};

/** How the dictionary starts. */
export type DictionaryInit = z.infer<typeof initOptionsShape.init>;

/**
 * The initial dictionary D0 (c×d row-major, unit rows) of a run on X (n×d row-major) with
 * per-dimension mean `mean` ([d], float64), drawn from `rng`.
 * `random`: c·d normals, each row normalised (exactly the draws of earlier versions).
 * `rows`: a permutation of the n rows; dictionary row j < n is row perm[j] − mean, and rows j ≥ n
 * or rows that are exactly the mean get the Gaussian directions drawn after the permutation.
 * @returns a new c×d Float32Array
 */
export function initialDictionary(
  init: DictionaryInit,
  x: Float32Array,
  n: number,
  d: number,
  c: number,
  mean: Float64Array,
  rng: Rng,
): Float32Array {
  const gaussian = () => normalizeRows(rng.fillNormal(new Float32Array(c * d)), c, d);
  if (init === "random") return gaussian();
  const perm = rng.permutation(n);
  const out = gaussian();
  const row = new Float32Array(d);
  for (let j = 0; j < Math.min(c, n); j++) {
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
