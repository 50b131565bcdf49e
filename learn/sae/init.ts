/**
 * Where an SAE's dictionary starts (method.md §2: decoder rows D of unit norm, the encoder
 * initialised as Dᵀ). The `init` option:
 * - `rows`: D's rows are training rows drawn without replacement, minus the training mean, at unit
 *   norm. A row is a sum of the concept directions present in it, so each dictionary row starts
 *   with an overlap of about a/‖x‖ with every concept of its row (≈ 0.15 in the issue-#16 world:
 *   43 concepts per row at d = 768), where a Gaussian direction has ≈ 1/√d (0.036) with every
 *   concept. At d = 768 a Gaussian start spent most of a 30-epoch run before its concepts formed;
 *   from rows, BatchTopK recovers 96% of the frequent half of the planted directions at cosine ≥
 *   0.9 in the same steps (59% from a Gaussian start; README "Dead concepts at scale"). But a row
 *   is also a mixture of its concepts, which the run must split: where the Gaussian start is not
 *   slow (the default world at d = 128, 7 concepts per row; d = 256 and 384 worlds) the rows start
 *   ends lower (R² 0.93 against 0.98 on the default world, planted recovery 70% against 91%).
 * - `random`: i.i.d. Gaussian directions (the start of every earlier version, bit for bit).
 * - `auto` (default): `rows` from d = {@link ROWS_INIT_MIN_D} up, `random` below, for the top-k
 *   family; relu and jumprelu always `random` (their start thresholds and λ controller are
 *   calibrated on the Gaussian start; from rows jumprelu missed its target ℓ0 in the test budget).
 * Rows that would be zero after centring, and dictionary rows beyond the n training rows, get a
 * Gaussian direction instead.
 */
import { z } from "zod";
import type { Rng } from "../../data/random.ts";
import { normalizeRows } from "../../data/rows.ts";

/** The `init` option of every SAE variant. */
export const initOptionsShape = {
  /**
   * Initial dictionary rows: `rows` (training rows minus their mean, drawn without replacement),
   * `random` (Gaussian directions) or `auto` (`rows` from d = 512 for topk, batchtopk and
   * matryoshka, else `random`). The encoder starts as the same rows (W_enc = Dᵀ).
   */
  init: z.enum(["auto", "rows", "random"]).default("auto"),
};

/** How the dictionary starts. */
export type DictionaryInit = "rows" | "random";

/**
 * Smallest dimension at which `auto` starts from rows. Measured on planted worlds with BatchTopK
 * at the study's defaults (scripts/dead_concepts_at_scale.ts): rows win at d = 512 and 768, lose
 * at d = 128 and 256 and are mixed at 384 (README "Dead concepts at scale").
 */
export const ROWS_INIT_MIN_D = 512;

/**
 * The start a run gets: `init` itself unless `auto`; `auto` gives the variant's own start where it
 * declares one (`variantInit`), else `rows` from d = {@link ROWS_INIT_MIN_D} and `random` below.
 */
export function resolveInit(
  init: DictionaryInit | "auto",
  variantInit: DictionaryInit | undefined,
  d: number,
): DictionaryInit {
  if (init !== "auto") return init;
  return variantInit ?? (d >= ROWS_INIT_MIN_D ? "rows" : "random");
}

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
  if (init === "random") return normalizeRows(rng.fillNormal(new Float32Array(c * d)), c, d);
  const perm = rng.permutation(n);
  const out = normalizeRows(rng.fillNormal(new Float32Array(c * d)), c, d);
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
