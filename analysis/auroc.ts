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
  return sortedAuroc(pos.sort(), neg.sort());
}

/**
 * AUROC from the ascending positive and negative scores (both non-empty): for each positive s,
 * below = #neg < s and upTo = #neg ≤ s, U = Σ below + ½·(upTo − below), AUROC = U / (n⁺·n⁻).
 * U is a sum of integers and halves, exact in float64 whatever the order.
 */
function sortedAuroc(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const nPos = pos.length, nNeg = neg.length;
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

/** Buckets of a radix digit of {@link AurocColumns} (11 + 11 + 10 bits of a 32-bit key). */
const RADIX_SIZE = 2048;

/**
 * Exact AUROC of many float32 score columns against one label vector, at O(n) per column:
 * the scores become order-preserving 32-bit keys (−0 and +0 one key, as `<` sees them) sorted
 * by a three-pass radix sort per class, then merged as {@link auroc} does (one merge serves both). Every column's U is a
 * sum of integers and halves, so the result is bit-identical to {@link auroc} of the same
 * scores. Holds its scratch (≈ 9·n bytes) between columns.
 */
export class AurocColumns {
  readonly n: number;
  readonly nPos: number;
  readonly nNeg: number;
  private readonly positive: Uint8Array;
  private readonly pos: Int32Array;
  private readonly neg: Int32Array;
  private readonly tmpPos: Int32Array;
  private readonly tmpNeg: Int32Array;
  private readonly hist = new Int32Array(3 * RADIX_SIZE);

  /** @param positive labels of the n rows: true/1 marks a positive row. */
  constructor(positive: ArrayLike<boolean | number>) {
    const n = positive.length;
    this.n = n;
    this.positive = new Uint8Array(n);
    let nPos = 0;
    for (let i = 0; i < n; i++) if (positive[i]) (this.positive[i] = 1), nPos++;
    this.nPos = nPos;
    this.nNeg = n - nPos;
    this.pos = new Int32Array(nPos);
    this.neg = new Int32Array(n - nPos);
    this.tmpPos = new Int32Array(nPos);
    this.tmpNeg = new Int32Array(n - nPos);
  }

  /**
   * AUROC of the column of `scores` read at `offset + i·stride` for rows i = 0..n−1 (so a
   * row-major rows×cols block gives column q with offset q, stride cols).
   * @returns AUROC in [0, 1]; NaN when a class is empty. Throws UserError on a NaN score.
   */
  column(scores: Float32Array, offset = 0, stride = 1): number {
    const { n, nPos, nNeg, positive, pos, neg } = this;
    if (offset + (n - 1) * stride >= scores.length && n > 0) {
      throw new UserError(`auroc: the score column ends past its ${scores.length} values`);
    }
    if (nPos === 0 || nNeg === 0) {
      for (let i = 0; i < n; i++) {
        if (Number.isNaN(scores[offset + i * stride])) {
          throw new UserError(`auroc: score ${i} is NaN; drop or impute NaN scores first`);
        }
      }
      return NaN;
    }
    const bits = new Int32Array(scores.buffer, scores.byteOffset, scores.length);
    let a = 0, b = 0;
    for (let i = 0; i < n; i++) {
      const u = bits[offset + i * stride];
      if ((u & 0x7fffffff) > 0x7f800000) {
        throw new UserError(`auroc: score ${i} is NaN; drop or impute NaN scores first`);
      }
      // Signed keys in the floats' order: a negative float's magnitude bits flipped; −0 is +0.
      const key = u === -0x80000000 ? 0 : u ^ ((u >> 31) & 0x7fffffff);
      if (positive[i] === 1) pos[a++] = key;
      else neg[b++] = key;
    }
    return sortedAuroc(this.sort(pos, this.tmpPos), this.sort(neg, this.tmpNeg));
  }

  /** LSD radix sort of `a` (ascending); returns the array holding the result (`a` or `tmp`). */
  private sort(a: Int32Array, tmp: Int32Array): Int32Array {
    const m = a.length;
    const h = this.hist;
    h.fill(0);
    for (let i = 0; i < m; i++) {
      const v = a[i];
      h[v & 0x7ff]++;
      h[RADIX_SIZE + ((v >>> 11) & 0x7ff)]++;
      h[2 * RADIX_SIZE + ((v >>> 22) ^ 0x200)]++; // the sign bit flipped: signed order
    }
    let src = a, dst = tmp;
    for (let pass = 0; pass < 3; pass++) {
      const o = pass * RADIX_SIZE;
      // A digit shared by every key leaves the order as it is: skip its pass.
      let skip = false;
      for (let b = 0; b < RADIX_SIZE; b++) {
        const cnt = h[o + b];
        if (cnt !== 0) {
          skip = cnt === m;
          break;
        }
      }
      if (skip) continue;
      let sum = 0;
      for (let b = 0; b < RADIX_SIZE; b++) {
        const cnt = h[o + b];
        h[o + b] = sum;
        sum += cnt;
      }
      if (pass === 0) {
        for (let i = 0; i < m; i++) {
          const v = src[i];
          dst[h[v & 0x7ff]++] = v;
        }
      } else if (pass === 1) {
        for (let i = 0; i < m; i++) {
          const v = src[i];
          dst[h[RADIX_SIZE + ((v >>> 11) & 0x7ff)]++] = v;
        }
      } else {
        for (let i = 0; i < m; i++) {
          const v = src[i];
          dst[h[2 * RADIX_SIZE + ((v >>> 22) ^ 0x200)]++] = v;
        }
      }
      const t = src;
      src = dst;
      dst = t;
    }
    return src;
  }
}
