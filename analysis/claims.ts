/**
 * The study's claims measured on any dataset, each beside the same measure on a null model
 * (method.md §8): {claim, value, null_value, holds}. A claim holds only where its criterion is met
 * and the learned dictionary differs from its null in the claimed direction (rules per builder).
 */

/** One record of `claims.json`. */
export interface Claim {
  claim: string;
  value: number;
  null_value: number;
  holds: boolean;
  /** One line saying what `value` measures and the rule for `holds`. */
  detail: string;
}

/** One point of a Pareto study: a method at one sparsity. */
export interface ParetoPoint {
  method: string;
  l0: number;
  r2: number;
}

/** Methods that count as classic baselines (everything else counts as an SAE). */
export const BASELINE_METHODS: readonly string[] = ["pca", "kmeans", "seminmf", "omp"];

/**
 * Fraction of `baselines` points dominated by some point of `front` (ℓ0 ≤ and R² ≥, one strict).
 * NaN when there are no baseline points.
 */
export function dominatedFraction(
  front: readonly ParetoPoint[],
  baselines: readonly ParetoPoint[],
): number {
  if (baselines.length === 0) return NaN;
  let dom = 0;
  for (const b of baselines) {
    if (front.some((p) => p.l0 <= b.l0 && p.r2 >= b.r2 && (p.l0 < b.l0 || p.r2 > b.r2))) dom++;
  }
  return dom / baselines.length;
}

/**
 * Claim "SAEs beat the baselines on the Pareto front": value = fraction of baseline points
 * dominated by the SAE points; null = fraction dominated by the null (random-dictionary top-k)
 * points. Holds when value ≥ 0.5 and value > null.
 */
export function paretoClaim(
  points: readonly ParetoPoint[],
  nullPoints: readonly ParetoPoint[],
): Claim {
  const base = points.filter((p) => BASELINE_METHODS.includes(p.method));
  const sae = points.filter((p) => !BASELINE_METHODS.includes(p.method));
  const value = dominatedFraction(sae, base);
  const nul = dominatedFraction(nullPoints, base);
  return {
    claim: "saes_beat_baselines_on_pareto",
    value,
    null_value: nul,
    holds: value >= 0.5 && !(value <= nul),
    detail:
      "fraction of baseline (ℓ0, R²) points dominated by an SAE point; null: by random-dictionary top-k points; holds: ≥ 0.5 and above null",
  };
}

/**
 * Mean of `stability` over the `topN` concepts of highest `frequency` minus the mean over the rest
 * (dead concepts, frequency 0 or NaN, count as rare). NaN when either group is empty.
 */
export function frequencyStabilityGap(
  stability: ArrayLike<number>,
  frequency: ArrayLike<number>,
  topN: number,
): number {
  const c = stability.length;
  const order = Array.from({ length: c }, (_, j) => j).sort((a, b) =>
    (Number.isNaN(frequency[b]) ? -1 : frequency[b]) -
      (Number.isNaN(frequency[a]) ? -1 : frequency[a]) || a - b
  );
  const n = Math.min(topN, c);
  let sTop = 0, sRest = 0;
  for (let r = 0; r < c; r++) {
    r < n ? (sTop += stability[order[r]]) : (sRest += stability[order[r]]);
  }
  if (n === 0 || n === c) return NaN;
  return sTop / n - sRest / (c - n);
}

/**
 * Claim "frequent concepts are more stable than rare ones" across `scope` (seeds | diets): value =
 * mean over run pairs of {@link frequencyStabilityGap}; null = the same on null dictionaries.
 * Holds when value > null + margin (default 0.05).
 */
export function stabilityClaim(
  scope: "seeds" | "diets",
  gaps: readonly number[],
  nullGaps: readonly number[],
  margin = 0.05,
): Claim {
  const value = mean(gaps), nul = nullGaps.length ? mean(nullGaps) : 0;
  return {
    claim: `frequent_more_stable_across_${scope}`,
    value,
    null_value: nul,
    holds: Number.isFinite(value) && value > nul + margin,
    detail:
      `mean stability of the top-N most frequent concepts minus the rest, over ${scope} pairs; holds: above null by > ${margin}`,
  };
}

/**
 * Claim "most concepts are unimodal": value = unimodal fraction of live concepts; null = the same
 * for the null dictionary's codes. Holds when value > 0.5 and value > null.
 */
export function unimodalClaim(value: number, nul: number): Claim {
  return {
    claim: "most_concepts_unimodal",
    value,
    null_value: nul,
    holds: value > 0.5 && value > nul,
    detail:
      "fraction of live concepts with modality score < t or > 1 − t; holds: > 0.5 and above null",
  };
}

/** Median of the finite entries (NaN when none). */
export function median(xs: ArrayLike<number>): number {
  const v = Array.from(xs).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const h = v.length >> 1;
  return v.length % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

/** Arithmetic mean of the finite entries (NaN when none). */
export function mean(xs: ArrayLike<number>): number {
  let s = 0, n = 0;
  for (let i = 0; i < xs.length; i++) {
    if (Number.isFinite(xs[i])) {
      s += xs[i];
      n++;
    }
  }
  return n > 0 ? s / n : NaN;
}

/**
 * Claim "concept directions are nearly orthogonal to the modality subspace": value = fraction of
 * live concepts with projection p_j < `maxProjection` (default 0.1, i.e. |cos| < 0.32); null = the
 * same for the null dictionary. Random directions are nearly orthogonal by geometry, so this holds
 * when value > 0.5 and value ≥ null − 0.1 (as orthogonal as random directions, up to 0.1).
 */
export function orthogonalityClaim(
  projections: ArrayLike<number>,
  nullProjections: ArrayLike<number>,
  maxProjection = 0.1,
): Claim {
  const frac = (p: ArrayLike<number>) => {
    let n = 0, k = 0;
    for (let j = 0; j < p.length; j++) {
      if (!Number.isFinite(p[j])) continue;
      n++;
      if (p[j] < maxProjection) k++;
    }
    return n ? k / n : NaN;
  };
  const value = frac(projections), nul = frac(nullProjections);
  return {
    claim: "concepts_nearly_orthogonal_to_modality_subspace",
    value,
    null_value: nul,
    holds: value > 0.5 && value >= nul - 0.1,
    detail:
      `fraction of live concepts with ‖M·D_j‖² < ${maxProjection}; holds: > 0.5 and within 0.1 of the null (random directions)`,
  };
}

/**
 * Claim "concepts are poor modality classifiers": value = median separation |2·AUROC − 1| of the
 * unimodal concepts (all live concepts when none is unimodal); null = the same for the null
 * dictionary; `probeSeparation` = the full probe's. Holds when value < ½·probeSeparation.
 */
export function classifierClaim(
  separations: ArrayLike<number>,
  nullSeparations: ArrayLike<number>,
  probeSeparation: number,
): Claim {
  const value = median(separations), nul = median(nullSeparations);
  return {
    claim: "concepts_poor_modality_classifiers",
    value,
    null_value: nul,
    holds: Number.isFinite(value) && value < 0.5 * probeSeparation,
    detail: `median |2·AUROC − 1| of unimodal concepts (probe: ${
      probeSeparation.toFixed(3)
    }); holds: < half the probe's`,
  };
}

/**
 * Claim "bridges exist between single-modality concepts": value = mean B over the top bridge pairs
 * whose i is image-only and j text-only (unimodal threshold), 0 when none; null = the same on the
 * null dictionary. Holds when at least one such pair exists and value > null.
 */
export function bridgeClaim(
  unimodalPairValues: readonly number[],
  nullUnimodalPairValues: readonly number[],
): Claim {
  const value = unimodalPairValues.length ? mean(unimodalPairValues) : 0;
  const nul = nullUnimodalPairValues.length ? mean(nullUnimodalPairValues) : 0;
  return {
    claim: "bridges_between_unimodal_concepts",
    value,
    null_value: nul,
    holds: unimodalPairValues.length > 0 && value > nul,
    detail:
      "mean Bridge Score of top pairs joining an image-only and a text-only concept; holds: such pairs exist and exceed the null's",
  };
}
