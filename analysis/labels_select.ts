/**
 * Which captions speak for a concept (method.md §10): its top-N activating caption rows (all
 * caption rows with z_j > 0 when fewer), or — for a concept that fires on too few captions, or on
 * far fewer captions than images (an image-only or image-dominant concept) — the captions paired
 * with its top-N activating images. Pure; O(nnz) to gather the columns (typed arrays, no
 * per-entry objects) plus a selection of each concept's top N (600k-row eval sets at c = 6144).
 */
import type { CsrCodes } from "../data/csr_codes.ts";
import { selectDescending } from "../kernels/cpu_select.ts";

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
  const caps = firingColumns(z, isImage, 0), imgs = firingColumns(z, isImage, 1);
  return Array.from({ length: z.cols }, (_, j): ConceptCaptions => {
    const own = caps.ptr[j + 1] - caps.ptr[j], images = imgs.ptr[j + 1] - imgs.ptr[j];
    const enough = own >= minCaptions && own >= share * images;
    if (enough || (own > 0 && images === 0)) {
      return { rows: topRows(caps, j, top), source: "captions", firingCaptions: own };
    }
    if (images > 0) {
      const rows = topRows(imgs, j, top).flatMap((r) => pairCaptions[r] ?? []);
      if (rows.length > 0) return { rows, source: "image pairs", firingCaptions: own };
    }
    return { rows: [], source: "none", firingCaptions: own };
  });
}

/** Column view of the positive codes of the rows of one kind: concept j's rows ascending. */
interface FiringColumns {
  ptr: Int32Array;
  row: Int32Array;
  value: Float32Array;
}

/** The positive entries of rows with isImage[r] === `kind`, by concept (counting sort, O(nnz)). */
function firingColumns(z: CsrCodes, isImage: ArrayLike<number>, kind: 0 | 1): FiringColumns {
  const ptr = new Int32Array(z.cols + 1);
  const take = (r: number) => (isImage[r] === 1 ? 1 : 0) === kind;
  for (let r = 0; r < z.rows; r++) {
    if (!take(r)) continue;
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) if (z.value[e] > 0) ptr[z.index[e] + 1]++;
  }
  for (let j = 0; j < z.cols; j++) ptr[j + 1] += ptr[j];
  const fill = ptr.slice(0, z.cols);
  const row = new Int32Array(ptr[z.cols]), value = new Float32Array(ptr[z.cols]);
  for (let r = 0; r < z.rows; r++) {
    if (!take(r)) continue;
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) {
      if (!(z.value[e] > 0)) continue;
      const q = fill[z.index[e]]++;
      row[q] = r;
      value[q] = z.value[e];
    }
  }
  return { ptr, row, value };
}

/**
 * The `top` rows of column j by value descending, ties by row ascending. A long column is first
 * cut at its top-th largest value (quickselect on a copy), so only ~`top` entries are sorted.
 */
function topRows(cols: FiringColumns, j: number, top: number): number[] {
  const lo = cols.ptr[j], hi = cols.ptr[j + 1];
  let kept: number[] = [];
  if (hi - lo <= top) {
    for (let q = lo; q < hi; q++) kept.push(q);
  } else {
    const cut = selectDescending(cols.value.slice(lo, hi), hi - lo, top - 1);
    // rows ascending within the column: ties at the cut enter in row order
    for (let q = lo; q < hi; q++) if (cols.value[q] > cut) kept.push(q);
    for (let q = lo; q < hi && kept.length < top; q++) if (cols.value[q] === cut) kept.push(q);
  }
  kept = kept.sort((a, b) => cols.value[b] - cols.value[a] || cols.row[a] - cols.row[b]);
  return kept.slice(0, top).map((q) => cols.row[q]);
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
