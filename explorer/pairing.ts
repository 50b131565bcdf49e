/**
 * Image–caption pairing of code rows and the Bridge Score seen from one concept (method.md §7),
 * computed sparsely from the codes (pure; O(nnz) work per query).
 */
import type { CsrCodes } from "../data/csr_codes.ts";
import type { ConceptColumns } from "./activations.ts";

/**
 * Caption-level pairs of code rows: caption row `t` pairs with image row `imageOf[t]` (−1 when
 * `t` is an image row or its image is not among the rows); the captions of image row `r` are
 * `captions[captionPtr[r] .. captionPtr[r+1])`. `pairs` = number of (image, caption) pairs.
 */
export interface RowPairing {
  imageOf: Int32Array;
  captionPtr: Int32Array;
  captions: Int32Array;
  pairs: number;
}

/**
 * Pair every caption row with the (first) image row of the same pair id.
 * @param pairIds pair id per row (length n)
 * @param isImage 1 for image rows, 0 for text rows (length n)
 */
export function pairRows(pairIds: readonly string[], isImage: ArrayLike<number>): RowPairing {
  const n = pairIds.length;
  const imageRow = new Map<string, number>();
  for (let r = 0; r < n; r++) {
    if (isImage[r] === 1 && !imageRow.has(pairIds[r])) imageRow.set(pairIds[r], r);
  }
  const imageOf = new Int32Array(n).fill(-1);
  const counts = new Int32Array(n + 1);
  let pairs = 0;
  for (let t = 0; t < n; t++) {
    if (isImage[t] === 1) continue;
    const r = imageRow.get(pairIds[t]);
    if (r === undefined) continue;
    imageOf[t] = r;
    counts[r + 1]++;
    pairs++;
  }
  const captionPtr = new Int32Array(n + 1);
  for (let r = 0; r < n; r++) captionPtr[r + 1] = captionPtr[r] + counts[r + 1];
  const fill = captionPtr.slice(0, n);
  const captions = new Int32Array(pairs);
  for (let t = 0; t < n; t++) if (imageOf[t] >= 0) captions[fill[imageOf[t]]++] = t;
  return { imageOf, captionPtr, captions, pairs };
}

/** One bridge partner of a concept: B value, raw co-activation and cosine. */
export interface BridgePartner {
  concept: number;
  bridge: number;
  coactivation: number;
  cosine: number;
}

/**
 * Raw Bridge Score row (or column) of concept `j`: with `side = "image"`,
 * B_jk = E_pairs[z_img,j · z_txt,k] · cos(D_j, D_k) over caption-level pairs; with `side = "text"`,
 * B_kj = E_pairs[z_img,k · z_txt,j] · cos(D_k, D_j). Returns the `n` partners with the largest
 * |B| (descending by B; ties by concept), concept j itself included (the self-bridge).
 * @param dict row-major c×d, unit rows (cosines are taken as dot products)
 */
export function conceptBridgePartners(
  z: CsrCodes,
  cols: ConceptColumns,
  pairing: RowPairing,
  dict: Float32Array,
  d: number,
  j: number,
  side: "image" | "text",
  n: number,
): BridgePartner[] {
  const c = z.cols;
  const co = new Float64Array(c);
  const touched: number[] = [];
  const add = (row: number, v: number) => {
    for (let e = z.rowPtr[row]; e < z.rowPtr[row + 1]; e++) {
      const k = z.index[e];
      if (co[k] === 0) touched.push(k);
      co[k] += v * z.value[e];
    }
  };
  for (let p = cols.colPtr[j]; p < cols.colPtr[j + 1]; p++) {
    const r = cols.row[p], v = cols.value[p];
    if (side === "image") {
      for (let q = pairing.captionPtr[r]; q < pairing.captionPtr[r + 1]; q++) {
        add(pairing.captions[q], v);
      }
    } else if (pairing.imageOf[r] >= 0) add(pairing.imageOf[r], v);
  }
  const out: BridgePartner[] = [];
  const P = Math.max(1, pairing.pairs);
  for (const k of new Set(touched)) {
    if (co[k] === 0) continue;
    let cos = 0;
    for (let t = 0; t < d; t++) cos += dict[j * d + t] * dict[k * d + t];
    const coactivation = co[k] / P;
    out.push({ concept: k, bridge: coactivation * cos, coactivation, cosine: cos });
  }
  out.sort((a, b) => Math.abs(b.bridge) - Math.abs(a.bridge) || a.concept - b.concept);
  return out.slice(0, Math.max(0, n));
}

/** An example of a concept pair firing across a pair: the image row, caption row, both codes. */
export interface PairExample {
  imageRow: number;
  textRow: number;
  imageValue: number;
  textValue: number;
}

/**
 * The `n` (image, caption) pairs with the largest product z_img,i · z_txt,j (descending; ties by
 * image row then caption row): examples of image concept `i` bridging to text concept `j`.
 */
export function pairExamples(
  z: CsrCodes,
  cols: ConceptColumns,
  pairing: RowPairing,
  i: number,
  j: number,
  n: number,
): PairExample[] {
  const out: PairExample[] = [];
  for (let p = cols.colPtr[i]; p < cols.colPtr[i + 1]; p++) {
    const r = cols.row[p];
    for (let q = pairing.captionPtr[r]; q < pairing.captionPtr[r + 1]; q++) {
      const t = pairing.captions[q];
      for (let e = z.rowPtr[t]; e < z.rowPtr[t + 1]; e++) {
        if (z.index[e] === j && z.value[e] > 0) {
          out.push({ imageRow: r, textRow: t, imageValue: cols.value[p], textValue: z.value[e] });
        }
      }
    }
  }
  out.sort((a, b) =>
    b.imageValue * b.textValue - a.imageValue * a.textValue || a.imageRow - b.imageRow ||
    a.textRow - b.textRow
  );
  return out.slice(0, Math.max(0, n));
}
