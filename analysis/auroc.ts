/**
 * Exact area under the ROC curve of a score for a binary label, with ties handled through
 * mid-ranks (the Mann–Whitney U statistic): AUROC = P(s⁺ > s⁻) + ½·P(s⁺ = s⁻).
 */
import { UserError } from "../pipeline/errors.ts";

/**
 * Exact AUROC of `scores` (n) for `positive` (n booleans, or 0/1 bytes): the probability that a
 * random positive scores above a random negative, ties counting one half. O(n log n).
 * @param scores length n, any finite values (NaN is rejected).
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
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) {
      throw new UserError(`auroc: score ${i} is NaN; drop or impute NaN scores first`);
    }
    order[i] = i;
  }
  order.sort((a, b) => scores[a] - scores[b]);
  let nPos = 0;
  let rankSumPos = 0;
  let i = 0;
  while (i < n) {
    let j = i + 1;
    const s = scores[order[i]];
    while (j < n && scores[order[j]] === s) j++;
    // Ranks i+1 .. j (1-based) share the mid-rank.
    const midRank = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) {
      if (positive[order[t]]) {
        nPos++;
        rankSumPos += midRank;
      }
    }
    i = j;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  const u = rankSumPos - (nPos * (nPos + 1)) / 2;
  return u / (nPos * nNeg);
}
