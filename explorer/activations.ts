/**
 * Per-concept views of sparse codes (pure, no I/O): the column-major (CSC) transpose of CSR codes,
 * the top-activating rows of one concept per modality, and per-modality activation histograms.
 * Work is O(nnz) or O(nnz_j) by construction, so plain loops are fine here.
 */
import type { CsrCodes } from "../data/csr_codes.ts";

/**
 * Column-major codes: the rows where concept j fires are `row[colPtr[j] .. colPtr[j+1])` with
 * values `value[...]`, rows ascending within a column. Length cols+1 / nnz.
 */
export interface ConceptColumns {
  cols: number;
  colPtr: Int32Array;
  row: Int32Array;
  value: Float32Array;
}

/**
 * Transpose CSR codes (rows×cols) into {@link ConceptColumns}. Zero values stored in the CSR are
 * dropped (a concept "fires" on a row only when its code is > 0).
 */
export function conceptColumns(z: CsrCodes): ConceptColumns {
  const counts = new Int32Array(z.cols + 1);
  const nnz = z.rowPtr[z.rows];
  for (let e = 0; e < nnz; e++) if (z.value[e] !== 0) counts[z.index[e] + 1]++;
  const colPtr = new Int32Array(z.cols + 1);
  for (let j = 0; j < z.cols; j++) colPtr[j + 1] = colPtr[j] + counts[j + 1];
  const fill = colPtr.slice(0, z.cols);
  const row = new Int32Array(colPtr[z.cols]);
  const value = new Float32Array(colPtr[z.cols]);
  for (let r = 0; r < z.rows; r++) {
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) {
      if (z.value[e] === 0) continue;
      const p = fill[z.index[e]]++;
      row[p] = r;
      value[p] = z.value[e];
    }
  }
  return { cols: z.cols, colPtr, row, value };
}

/** One activation of a concept: the code row (0-based eval row) and its value. */
export interface Activation {
  row: number;
  value: number;
}

/**
 * The `n` rows with the largest activation of concept `j` among rows with `isImage[row]` equal
 * to `image`, descending by value (ties: lower row first).
 * @param isImage length = code rows; 1 for image rows, 0 for text rows
 */
export function topActivations(
  cols: ConceptColumns,
  j: number,
  isImage: ArrayLike<number>,
  image: boolean,
  n: number,
): Activation[] {
  const out: Activation[] = [];
  for (let p = cols.colPtr[j]; p < cols.colPtr[j + 1]; p++) {
    const r = cols.row[p];
    if ((isImage[r] === 1) !== image) continue;
    out.push({ row: r, value: cols.value[p] });
  }
  out.sort((a, b) => b.value - a.value || a.row - b.row);
  return out.slice(0, Math.max(0, n));
}

/** Histogram of the non-zero activations of one concept, per modality, over shared edges. */
export interface ActivationHistogram {
  /** Bin edges (bins + 1), from 0 to the largest activation of the concept. */
  edges: number[];
  /** Counts of image rows per bin. */
  image: number[];
  /** Counts of text rows per bin. */
  text: number[];
  /** Rows of each modality where the concept does not fire. */
  zeroImage: number;
  zeroText: number;
}

/**
 * Histogram of concept `j`'s non-zero activations with `bins` equal-width bins on
 * [0, max activation] (the last bin closed). Rows where it is silent are counted apart.
 * @param isImage length = code rows; 1 for image rows, 0 for text rows
 */
export function activationHistogram(
  cols: ConceptColumns,
  j: number,
  isImage: ArrayLike<number>,
  bins: number,
): ActivationHistogram {
  const b = Math.max(1, Math.floor(bins));
  let max = 0;
  for (let p = cols.colPtr[j]; p < cols.colPtr[j + 1]; p++) max = Math.max(max, cols.value[p]);
  const hi = max > 0 ? max : 1;
  const edges = Array.from({ length: b + 1 }, (_, q) => (hi * q) / b);
  const image = new Array<number>(b).fill(0), text = new Array<number>(b).fill(0);
  let firedImage = 0, firedText = 0;
  for (let p = cols.colPtr[j]; p < cols.colPtr[j + 1]; p++) {
    const q = Math.min(b - 1, Math.floor((cols.value[p] / hi) * b));
    if (isImage[cols.row[p]] === 1) {
      image[q]++;
      firedImage++;
    } else {
      text[q]++;
      firedText++;
    }
  }
  let nImage = 0;
  for (let r = 0; r < isImage.length; r++) if (isImage[r] === 1) nImage++;
  const nText = isImage.length - nImage;
  return { edges, image, text, zeroImage: nImage - firedImage, zeroText: nText - firedText };
}
