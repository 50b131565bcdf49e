/**
 * Which captions speak for a concept (method.md §10): its top-N activating caption rows (all
 * caption rows with z_j > 0 when fewer), or — for a concept that fires on too few captions, or on
 * far fewer captions than images (an image-only or image-dominant concept) — the captions paired
 * with its top-N activating images. Pure; O(nnz) to
 * gather the columns plus a sort of each concept's firing rows.
 */
import type { CsrCodes } from "../data/csr_codes.ts";

/** The captions chosen for one concept. */
export interface ConceptCaptions {
  /** Caption rows (code rows), most activating first; a caption of two top images counts twice. */
  rows: number[];
  /** `captions`: its own top captions; `image pairs`: captions of its top images; `none`. */
  source: "captions" | "image pairs" | "none";
  /** Caption rows where the concept fires (z_j > 0). */
  firingCaptions: number;
}

/** Options of {@link conceptCaptionRows}. */
export interface CaptionSelectOptions {
  /** N: top captions (or top images) per concept. Default 50. */
  top?: number;
  /** A concept firing on fewer caption rows than this takes its top images' captions. Default 5. */
  minCaptions?: number;
  /**
   * A concept whose caption rows are fewer than this fraction of its image rows (an
   * image-dominant concept) also takes its top images' captions. Default 0.25.
   */
  minCaptionShare?: number;
}

/**
 * For every concept, the caption rows that its label is computed from.
 * @param z codes (rows × c); rows are the eval rows in table order
 * @param isImage per row: 1 image, 0 caption
 * @param pairCaptions per row: the caption rows of its pair (used for image rows)
 */
export function conceptCaptionRows(
  z: CsrCodes,
  isImage: ArrayLike<number>,
  pairCaptions: readonly (readonly number[])[],
  opts: CaptionSelectOptions = {},
): ConceptCaptions[] {
  const top = opts.top ?? 50, minCaptions = opts.minCaptions ?? 5;
  const share = opts.minCaptionShare ?? 0.25;
  const c = z.cols;
  const caps: { row: number; v: number }[][] = Array.from({ length: c }, () => []);
  const imgs: { row: number; v: number }[][] = Array.from({ length: c }, () => []);
  for (let r = 0; r < z.rows; r++) {
    const into = isImage[r] === 1 ? imgs : caps;
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) {
      if (z.value[e] > 0) into[z.index[e]].push({ row: r, v: z.value[e] });
    }
  }
  const order = (a: { row: number; v: number }, b: { row: number; v: number }) =>
    b.v - a.v || a.row - b.row;
  return caps.map((own, j) => {
    const enough = own.length >= minCaptions && own.length >= share * imgs[j].length;
    if (enough || (own.length > 0 && imgs[j].length === 0)) {
      own.sort(order);
      return {
        rows: own.slice(0, top).map((x) => x.row),
        source: "captions",
        firingCaptions: own.length,
      };
    }
    if (imgs[j].length > 0) {
      imgs[j].sort(order);
      const rows = imgs[j].slice(0, top).flatMap((x) => pairCaptions[x.row] ?? []);
      if (rows.length > 0) return { rows, source: "image pairs", firingCaptions: own.length };
    }
    return { rows: [], source: "none", firingCaptions: own.length };
  });
}

/**
 * Caption rows of each row's pair: for row r, every caption row (isImage = 0) with the same
 * pair id (r itself included when it is a caption).
 */
export function pairCaptionRows(
  pairIds: readonly string[],
  isImage: ArrayLike<number>,
): number[][] {
  const byPair = new Map<string, number[]>();
  pairIds.forEach((p, r) => {
    if (isImage[r] === 1) return;
    let l = byPair.get(p);
    if (!l) byPair.set(p, l = []);
    l.push(r);
  });
  return pairIds.map((p) => byPair.get(p) ?? []);
}
