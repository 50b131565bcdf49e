/**
 * Two calibration figures of an embedding set (used to compare the synthetic world with real
 * VLM embeddings): the distance between the image and text centroids, and image↔text top-1
 * retrieval on matched pairs. Plain JS loops: the pair set is small by construction (500 pairs:
 * a 500×500 similarity matrix, 128M flops at d = 512).
 */
import type { EmbeddingSet } from "./embeddings.ts";

/**
 * Euclidean distance between the mean image row and the mean text row (float64 accumulation).
 * @returns NaN when either modality has no rows
 */
export function centroidDistance(set: EmbeddingSet): number {
  const { n, d, vectors } = set;
  const mi = new Float64Array(d), mt = new Float64Array(d);
  let ni = 0, nt = 0;
  for (let r = 0; r < n; r++) {
    const acc = set.modality[r] === "image" ? mi : mt;
    if (set.modality[r] === "image") ni++;
    else nt++;
    const o = r * d;
    for (let i = 0; i < d; i++) acc[i] += vectors[o + i];
  }
  if (ni === 0 || nt === 0) return NaN;
  let s = 0;
  for (let i = 0; i < d; i++) {
    const diff = mi[i] / ni - mt[i] / nt;
    s += diff * diff;
  }
  return Math.sqrt(s);
}

/**
 * Matched pairs for retrieval: for each pair id (in order of first appearance) that has an image
 * row and at least one text row, the first image row and the first text row (table order).
 * @param limit keep at most this many pairs (the first ones)
 * @returns row indices `image[p]`, `text[p]` of pair p
 */
export function matchedPairs(
  set: EmbeddingSet,
  limit = Infinity,
): { image: Int32Array; text: Int32Array } {
  const img = new Map<string, number>(), txt = new Map<string, number>();
  const order: string[] = [];
  for (let r = 0; r < set.n; r++) {
    const p = set.pairIds[r];
    if (!img.has(p) && !txt.has(p)) order.push(p);
    const m = set.modality[r] === "image" ? img : txt;
    if (!m.has(p)) m.set(p, r);
  }
  const image: number[] = [], text: number[] = [];
  for (const p of order) {
    if (image.length >= limit) break;
    if (img.has(p) && txt.has(p)) {
      image.push(img.get(p)!);
      text.push(txt.get(p)!);
    }
  }
  return { image: Int32Array.from(image), text: Int32Array.from(text) };
}

/**
 * Top-1 retrieval by cosine similarity (dot product of the stored rows, which are unit-norm for
 * normalised data) over matched pairs: image→text is the fraction of images whose most similar
 * caption (among the pairs' captions) is their own; text→image the converse. Ties go to the lower
 * index. Random retrieval gives 1/pairs.
 * @param pairs how many pairs to use (the first ones; default 500 as the COCO-500 fixture)
 */
export function topOneRetrieval(
  set: EmbeddingSet,
  pairs = 500,
): { imageToText: number; textToImage: number; pairs: number } {
  const { image, text } = matchedPairs(set, pairs);
  const P = image.length, d = set.d, v = set.vectors;
  if (P === 0) return { imageToText: NaN, textToImage: NaN, pairs: 0 };
  const sim = new Float64Array(P * P);
  for (let a = 0; a < P; a++) {
    const oa = image[a] * d;
    for (let b = 0; b < P; b++) {
      const ob = text[b] * d;
      let s = 0;
      for (let i = 0; i < d; i++) s += v[oa + i] * v[ob + i];
      sim[a * P + b] = s;
    }
  }
  let i2t = 0, t2i = 0;
  for (let a = 0; a < P; a++) {
    let best = 0;
    for (let b = 1; b < P; b++) if (sim[a * P + b] > sim[a * P + best]) best = b;
    if (best === a) i2t++;
  }
  for (let b = 0; b < P; b++) {
    let best = 0;
    for (let a = 1; a < P; a++) if (sim[a * P + b] > sim[best * P + b]) best = a;
    if (best === b) t2i++;
  }
  return { imageToText: i2t / P, textToImage: t2i / P, pairs: P };
}
