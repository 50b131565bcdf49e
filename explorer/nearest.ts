/**
 * Nearest concepts of one concept by cosine between dictionary rows (pure; O(c·d) per query).
 */

/** A neighbour of a concept: its index and the cosine of the two directions. */
export interface Neighbour {
  concept: number;
  cosine: number;
}

/**
 * The `n` concepts whose directions have the largest cosine with concept `j` (itself excluded),
 * descending (ties: lower index first). Rows need not be unit norm (cosines are normalised);
 * a zero row has cosine 0 with everything.
 * @param dict row-major c×d dictionary
 */
export function nearestConcepts(
  dict: Float32Array,
  c: number,
  d: number,
  j: number,
  n: number,
): Neighbour[] {
  if (dict.length !== c * d) throw new RangeError(`nearestConcepts: dict is not ${c}×${d}`);
  if (!(j >= 0 && j < c)) throw new RangeError(`nearestConcepts: concept ${j} outside 0..${c - 1}`);
  const oj = j * d;
  let nj = 0;
  for (let t = 0; t < d; t++) nj += dict[oj + t] * dict[oj + t];
  nj = Math.sqrt(nj);
  const out: Neighbour[] = [];
  for (let q = 0; q < c; q++) {
    if (q === j) continue;
    const oq = q * d;
    let dot = 0, nq = 0;
    for (let t = 0; t < d; t++) {
      dot += dict[oj + t] * dict[oq + t];
      nq += dict[oq + t] * dict[oq + t];
    }
    const den = nj * Math.sqrt(nq);
    out.push({ concept: q, cosine: den > 0 ? dot / den : 0 });
  }
  out.sort((a, b) => b.cosine - a.cosine || a.concept - b.concept);
  return out.slice(0, Math.max(0, n));
}
