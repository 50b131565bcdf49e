/**
 * Exact area under the ROC curve of a score for a binary label, with ties counting one half
 * (the Mann–Whitney U statistic, equal to the mid-rank formula): AUROC = P(s⁺ > s⁻) + ½·P(s⁺ = s⁻).
 */
import { UserError } from "../pipeline/errors.ts";

/**
 * Exact AUROC of `scores` (n) for `positive` (n booleans, or 0/1 numbers): the probability that a
 * random positive scores above a random negative, ties counting one half. Sorts the positive
 * and the negative scores separately (native numeric sort) and merges: O(n log n).
 * @param scores length n, any finite or infinite values (NaN is rejected).
 * @param positive length n; true/1 marks a positive row.
 * @returns AUROC in [0, 1]; NaN when one class is empty.
 */
export function auroc(
  scores: ArrayLike<number>,
  positive: ArrayLike<boolean | number>,
): number {
  const n = scores.length;
  if (positive.length !== n) {
    throw new UserError(
      `auroc: scores has ${n} entries but labels have ${positive.length}; pass one label per score`,
    );
  }
  let nPos = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) {
      throw new UserError(`auroc: score ${i} is NaN; drop or impute NaN scores first`);
    }
    if (positive[i]) nPos++;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  const pos = new Float64Array(nPos), neg = new Float64Array(nNeg);
  for (let i = 0, a = 0, b = 0; i < n; i++) {
    if (positive[i]) pos[a++] = scores[i];
    else neg[b++] = scores[i];
  }
  pos.sort();
  neg.sort();
  // For each positive s (ascending): below = #neg < s, upTo = #neg ≤ s.
  let below = 0, upTo = 0;
  let u = 0;
  for (let a = 0; a < nPos; a++) {
    const s = pos[a];
    while (below < nNeg && neg[below] < s) below++;
    if (upTo < below) upTo = below;
    while (upTo < nNeg && neg[upTo] <= s) upTo++;
    u += below + 0.5 * (upTo - below);
  }
  return u / (nPos * nNeg);
}
