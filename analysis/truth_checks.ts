/**
 * Checks of the analyses against the planted truth of a synthetic world (method.md §8):
 * recovery of planted directions, stability of frequent versus rare planted concepts, precision of
 * bridge pairs against the planted twins, and the unimodal fraction against the planted one.
 * Each check yields one `validation.json` record {check, value, threshold, holds}.
 */
import type { GroundTruth } from "../data/ground_truth.ts";
import type { Modality } from "../data/embeddings.ts";
import { UserError } from "../pipeline/errors.ts";

/** One record of `validation.json`. */
export interface ValidationCheck {
  check: string;
  value: number;
  threshold: number;
  holds: boolean;
}

/** Best partner of every row of one set of unit directions in another. */
export interface BestMatch {
  /** For each row of A: index of the most similar row of B (−1 when B is empty). */
  index: Int32Array;
  /** Its cosine. */
  cosine: Float64Array;
}

/**
 * A float32 product S = A·Bᵀ (rows×nb) of a row block A (rows×d) and B (nb×d), e.g. the host
 * BLAS of analysis/sync_products.ts (`scores`). Used only to screen candidates.
 */
export type CosineScreen = (
  a: Float32Array,
  rows: number,
  d: number,
  b: Float32Array,
  nb: number,
) => Float32Array;

/** ⟨a_i, b_j⟩ accumulated in float64 in index order (the one definition of a match's cosine). */
function dot64(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) s += a[i * d + t] * b[j * d + t];
  return s;
}

/**
 * For each row of `a` (na×d), the row of `b` (nb×d) of largest cosine (signed; rows assumed
 * unit); ties go to the lower index. Cosines are float64 sums in index order. With `screen` (a
 * float32 GEMM) only the rows of `b` within the float32 error bound of a row's float32 maximum
 * are rescored in float64, so the result is the same as the plain O(na·nb·d) float64 loops, at
 * GEMM speed (paper-scale worlds: 3,072 × 6,144 × 768).
 */
export function bestMatches(
  a: Float32Array,
  na: number,
  b: Float32Array,
  nb: number,
  d: number,
  screen?: CosineScreen,
): BestMatch {
  if (a.length !== na * d || b.length !== nb * d) {
    throw new UserError(`truth checks: direction arrays are not ${na}×${d} and ${nb}×${d}`);
  }
  const index = new Int32Array(na).fill(-1);
  const cosine = new Float64Array(na).fill(NaN);
  const pick = (i: number, candidates: Iterable<number>) => {
    let best = -Infinity, arg = -1;
    for (const j of candidates) {
      const s = dot64(a, i, b, j, d);
      if (s > best) {
        best = s;
        arg = j;
      }
    }
    index[i] = arg;
    cosine[i] = arg >= 0 ? best : NaN;
  };
  if (!screen || nb === 0) {
    const all = Array.from({ length: nb }, (_, j) => j);
    for (let i = 0; i < na; i++) pick(i, all);
    return { index, cosine };
  }
  // |float32 dot − exact| ≤ γ·‖a_i‖·‖b_j‖ with γ = 2(d + 2)·2⁻²⁴ (any summation order, with or
  // without FMA); the exact argmax then lies within 2γ‖a_i‖·max‖b‖ of the float32 maximum.
  const gamma = 2 * (d + 2) * 2 ** -24;
  let bMax = 0;
  for (let j = 0; j < nb; j++) bMax = Math.max(bMax, Math.sqrt(dot64(b, j, b, j, d)));
  const block = Math.max(1, Math.min(na, Math.floor((1 << 22) / nb)));
  const candidates: number[] = [];
  for (let start = 0; start < na; start += block) {
    const rows = Math.min(block, na - start);
    const s = screen(a.subarray(start * d, (start + rows) * d), rows, d, b, nb);
    for (let r = 0; r < rows; r++) {
      const i = start + r;
      let top = -Infinity;
      for (let j = 0; j < nb; j++) if (s[r * nb + j] > top) top = s[r * nb + j];
      const slack = 2 * gamma * Math.sqrt(dot64(a, i, a, i, d)) * bMax;
      candidates.length = 0;
      if (Number.isFinite(top) && Number.isFinite(slack)) {
        for (let j = 0; j < nb; j++) if (s[r * nb + j] >= top - slack) candidates.push(j);
        pick(i, candidates);
      } else {
        // NaN or overflow in the screen: score the row exactly
        pick(i, Array.from({ length: nb }, (_, j) => j));
      }
    }
  }
  return { index, cosine };
}

/**
 * Fraction of planted directions recovered: some learned concept has cos ≥ `minCosine` with it.
 * `dict` c×d (unit rows).
 */
export function recoveredFraction(
  truth: GroundTruth,
  dict: Float32Array,
  c: number,
  minCosine = 0.9,
  screen?: CosineScreen,
): number {
  const bm = bestMatches(truth.directions, truth.m, dict, c, truth.d, screen);
  let hit = 0;
  for (let p = 0; p < truth.m; p++) if (bm.cosine[p] >= minCosine) hit++;
  return truth.m > 0 ? hit / truth.m : NaN;
}

/**
 * Modality score of every planted direction from the planted activations (`rowActive`) of the
 * rows listed in `rows` (default all): m_p = E_img[a_p] / (E_img[a_p] + E_txt[a_p]) with
 * per-modality means over rows; NaN for directions never active. Length m.
 */
export function plantedModalityScores(
  truth: GroundTruth,
  modality: readonly Modality[],
  rows?: ArrayLike<number>,
): Float64Array {
  const { rowPtr, index, value } = truth.rowActive;
  const nRows = rowPtr.length - 1;
  if (modality.length !== nRows) {
    throw new UserError(
      `truth checks: truth_rows covers ${nRows} rows but the embeddings have ${modality.length}; use the same dataset`,
    );
  }
  const list = rows ?? Int32Array.from({ length: nRows }, (_, i) => i);
  const si = new Float64Array(truth.m), st = new Float64Array(truth.m);
  let ni = 0, nt = 0;
  for (let q = 0; q < list.length; q++) {
    const r = list[q];
    const img = modality[r] === "image";
    if (img) ni++;
    else nt++;
    for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) (img ? si : st)[index[e]] += value[e];
  }
  const out = new Float64Array(truth.m);
  for (let p = 0; p < truth.m; p++) {
    const ei = ni > 0 ? si[p] / ni : 0, et = nt > 0 ? st[p] / nt : 0;
    out[p] = ei + et > 0 ? ei / (ei + et) : NaN;
  }
  return out;
}

/** Fraction of non-NaN scores that are unimodal (m < t or m > 1 − t). NaN when none. */
export function unimodalFractionOf(scores: ArrayLike<number>, threshold = 0.05): number {
  let live = 0, uni = 0;
  for (let j = 0; j < scores.length; j++) {
    const m = scores[j];
    if (Number.isNaN(m)) continue;
    live++;
    if (m < threshold || m > 1 - threshold) uni++;
  }
  return live > 0 ? uni / live : NaN;
}

/**
 * Planted frequency of every direction: the probability that a row of its modality uses it. An
 * image direction or a text-only one has its concept's frequency; the text twin of a shared
 * concept has conceptFrequency·(1 − captionDropout), since a caption keeps each shared concept of
 * its image with probability 1 − captionDropout (0 when the truth does not record a dropout).
 * @returns Float64Array of length m
 */
export function plantedDirectionFrequency(truth: GroundTruth): Float64Array {
  const keep = 1 - (truth.captionDropout ?? 0);
  return Float64Array.from({ length: truth.m }, (_, p) => {
    const j = truth.directionConcept[p];
    const f = truth.conceptFrequency[j];
    return truth.conceptKind[j] === "shared" && truth.directionModality[p] === "text"
      ? f * keep
      : f;
  });
}

/**
 * Stability of frequent against rare planted directions across runs. For every pair of runs
 * (A, B) and planted direction p: s_p = cos(A[a*(p)], B[b*(p)]), a*(p) and b*(p) the runs' best
 * concepts for p. Directions are split at the median of their planted frequency
 * ({@link plantedDirectionFrequency}: a caption twin is rarer than its image direction).
 * Returns mean s over frequent, over rare, and the gap (frequent − rare).
 */
export function plantedStabilityGap(
  truth: GroundTruth,
  dicts: { dict: Float32Array; c: number }[],
  screen?: CosineScreen,
): { frequent: number; rare: number; gap: number } {
  if (dicts.length < 2) {
    throw new UserError(
      "validate: stability needs at least two runs (runs* with ≥ 2 train inputs)",
    );
  }
  const d = truth.d;
  const freq = Array.from(plantedDirectionFrequency(truth));
  const sorted = [...freq].sort((x, y) => x - y);
  const median = sorted[Math.floor(sorted.length / 2)];
  const best = dicts.map((r) =>
    bestMatches(truth.directions, truth.m, r.dict, r.c, d, screen).index
  );
  let sf = 0, nf = 0, sr = 0, nr = 0;
  for (let a = 0; a < dicts.length; a++) {
    for (let b = a + 1; b < dicts.length; b++) {
      for (let p = 0; p < truth.m; p++) {
        const i = best[a][p], j = best[b][p];
        let s = 0;
        for (let t = 0; t < d; t++) s += dicts[a].dict[i * d + t] * dicts[b].dict[j * d + t];
        if (freq[p] >= median) {
          sf += s;
          nf++;
        } else {
          sr += s;
          nr++;
        }
      }
    }
  }
  const frequent = nf > 0 ? sf / nf : NaN, rare = nr > 0 ? sr / nr : NaN;
  return { frequent, rare, gap: frequent - rare };
}

/**
 * Precision@N of bridge pairs against the planted twins: learned concepts are mapped to their best
 * planted direction (only when cos ≥ `minCosine`); a pair (i, j) is a hit when (dir(i), dir(j)) is
 * a planted twin [image, text]. `pairs` in rank order; N = min(n, pairs.length). 0 when no pairs.
 */
export function bridgeTwinPrecision(
  truth: GroundTruth,
  dict: Float32Array,
  c: number,
  pairs: readonly { i: number; j: number }[],
  n: number,
  minCosine = 0.9,
  screen?: CosineScreen,
): number {
  const bm = bestMatches(dict, c, truth.directions, truth.m, truth.d, screen);
  const twin = new Set(truth.twins.map(([a, b]) => `${a},${b}`));
  const top = pairs.slice(0, n);
  if (top.length === 0) return 0;
  let hits = 0;
  for (const { i, j } of top) {
    if (!(bm.cosine[i] >= minCosine && bm.cosine[j] >= minCosine)) continue;
    if (twin.has(`${bm.index[i]},${bm.index[j]}`)) hits++;
  }
  return hits / top.length;
}

/** Build a {@link ValidationCheck}: holds when value ≥ threshold (`atLeast`) or ≤ (`atMost`). */
export function check(
  name: string,
  value: number,
  threshold: number,
  rule: "atLeast" | "atMost" = "atLeast",
): ValidationCheck {
  const holds = Number.isFinite(value) &&
    (rule === "atLeast" ? value >= threshold : value <= threshold);
  return { check: name, value, threshold, holds };
}
