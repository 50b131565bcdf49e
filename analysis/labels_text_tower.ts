/**
 * Text-tower labels of concepts (method.md §10, "The text tower"): the vocabulary entries (words
 * and frequent bigrams of the caption corpus, embedded once with the space's text encoder) whose
 * embeddings, centred by the text mean, have the highest cosine with the concept's decoder
 * direction D_j after its component along the modality mean difference is removed. The c×V
 * cosine matrix is computed in blocks through kernels/host_gemm.ts.
 */
import { hostGemm } from "../kernels/host_gemm.ts";

/** One vocabulary entry of a text-tower label. */
export interface TowerTerm {
  /** Vocabulary index. */
  entry: number;
  cosine: number;
}

/** Unit rows of `x` (n×d) after subtracting `centre` (length d); zero rows stay zero. */
export function centredUnitRows(
  x: Float32Array,
  n: number,
  d: number,
  centre?: Float32Array | Float64Array,
): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) {
      const v = x[i * d + t] - (centre ? centre[t] : 0);
      out[i * d + t] = v;
      s += v * v;
    }
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let t = 0; t < d; t++) out[i * d + t] *= inv;
  }
  return out;
}

/**
 * Unit rows of the dictionary `dict` (c×d) with the component along `gap` (length d, any norm;
 * the modality mean difference μ_image − μ_text) removed.
 */
export function directionsWithoutGap(
  dict: Float32Array,
  c: number,
  d: number,
  gap?: Float32Array | Float64Array,
): Float32Array {
  const out = Float32Array.from(dict);
  if (gap) {
    let g2 = 0;
    for (let t = 0; t < d; t++) g2 += gap[t] * gap[t];
    if (g2 > 0) {
      for (let j = 0; j < c; j++) {
        let p = 0;
        for (let t = 0; t < d; t++) p += dict[j * d + t] * gap[t];
        for (let t = 0; t < d; t++) out[j * d + t] -= (p / g2) * gap[t];
      }
    }
  }
  return centredUnitRows(out, c, d);
}

/**
 * For every concept, the `top` vocabulary entries of highest cosine between the prepared
 * directions `dirs` (c×d unit rows, {@link directionsWithoutGap}) and the prepared vocabulary
 * `vocab` (v×d unit rows, {@link centredUnitRows} with the text mean). Ties: lower entry first.
 * @param block concepts per GEMM block (bounds memory to block·v floats)
 */
export async function towerLabels(
  dirs: Float32Array,
  c: number,
  vocab: Float32Array,
  v: number,
  d: number,
  top = 3,
  block = 1024,
): Promise<TowerTerm[][]> {
  const out: TowerTerm[][] = [];
  for (let j0 = 0; j0 < c; j0 += block) {
    const m = Math.min(block, c - j0);
    const cos = await hostGemm(dirs.subarray(j0 * d, (j0 + m) * d), vocab, m, d, v, {
      transB: true,
    });
    for (let q = 0; q < m; q++) {
      const best: TowerTerm[] = [];
      for (let e = 0; e < v; e++) {
        const s = cos[q * v + e];
        if (best.length === top && s <= best[top - 1].cosine) continue;
        let p = best.length;
        while (p > 0 && best[p - 1].cosine < s) p--;
        best.splice(p, 0, { entry: e, cosine: s });
        if (best.length > top) best.pop();
      }
      out.push(best);
    }
  }
  return out;
}

/**
 * The vocabulary of a caption corpus: every word seen at least `minWordCount` times and every
 * bigram seen at least `minBigramCount` times, most frequent first (ties: alphabetical), at most
 * `max` entries.
 */
export function vocabularyOf(
  terms: readonly string[],
  count: ArrayLike<number>,
  opts: { minWordCount?: number; minBigramCount?: number; max?: number } = {},
): string[] {
  const minW = opts.minWordCount ?? 2, minB = opts.minBigramCount ?? 5, max = opts.max ?? 20000;
  const ids = [...terms.keys()].filter((i) => count[i] >= (terms[i].includes(" ") ? minB : minW));
  ids.sort((a, b) =>
    count[b] - count[a] || (terms[a] < terms[b] ? -1 : terms[a] > terms[b] ? 1 : 0)
  );
  return ids.slice(0, max).map((i) => terms[i]);
}
