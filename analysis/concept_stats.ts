/**
 * Concept statistics of method.md §4 over sparse codes: energy E[z_j], frequency P(z_j > 0),
 * both overall and per modality; modality score m_j = E_img[z_j] / (E_img[z_j] + E_txt[z_j]) with
 * per-modality means (so a 1:5 image:text imbalance cancels), NaN for dead concepts; the
 * unimodal fraction (plain and energy-weighted) and the modality-score histogram.
 */
import type { CsrCodes } from "../data/csr_codes.ts";

/** Per-concept statistics, each array of length c (float64). */
export interface ConceptStats {
  /** Number of concepts. */
  c: number;
  /** Rows in total, image rows, text rows. */
  nRows: number;
  nImage: number;
  nText: number;
  /** E[z_j] over all rows (zeros included). */
  energy: Float64Array;
  /** P(z_j > 0) over all rows. */
  frequency: Float64Array;
  /** E[z_j] over image rows / text rows (NaN when the modality has no rows). */
  energyImage: Float64Array;
  energyText: Float64Array;
  /** P(z_j > 0) over image rows / text rows (NaN when the modality has no rows). */
  frequencyImage: Float64Array;
  frequencyText: Float64Array;
  /** m_j ∈ [0, 1]: 1 = image only, 0 = text only; NaN when E_img + E_txt ≤ 0 (dead) or undefined. */
  modalityScore: Float64Array;
}

/**
 * Statistics of every concept.
 * @param codes n×c sparse codes (CSR); stored zeros count as not firing
 * @param isImage length n: 1 for an image row, 0 for a text row
 */
export function conceptStatistics(
  codes: CsrCodes,
  isImage: ArrayLike<number>,
): ConceptStats {
  const { rows: n, cols: c, rowPtr, index, value } = codes;
  if (isImage.length !== n) {
    throw new RangeError(`conceptStatistics: ${isImage.length} modality flags for ${n} code rows`);
  }
  const sumI = new Float64Array(c), sumT = new Float64Array(c);
  const cntI = new Float64Array(c), cntT = new Float64Array(c);
  let nImage = 0;
  for (let r = 0; r < n; r++) {
    const img = isImage[r] ? 1 : 0;
    nImage += img;
    const sum = img ? sumI : sumT, cnt = img ? cntI : cntT;
    for (let e = rowPtr[r]; e < rowPtr[r + 1]; e++) {
      const x = value[e];
      if (x === 0) continue;
      const j = index[e];
      sum[j] += x;
      if (x > 0) cnt[j]++;
    }
  }
  const nText = n - nImage;
  const energy = new Float64Array(c), frequency = new Float64Array(c);
  const energyImage = new Float64Array(c), energyText = new Float64Array(c);
  const frequencyImage = new Float64Array(c), frequencyText = new Float64Array(c);
  const modalityScore = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    energy[j] = n > 0 ? (sumI[j] + sumT[j]) / n : NaN;
    frequency[j] = n > 0 ? (cntI[j] + cntT[j]) / n : NaN;
    energyImage[j] = nImage > 0 ? sumI[j] / nImage : NaN;
    energyText[j] = nText > 0 ? sumT[j] / nText : NaN;
    frequencyImage[j] = nImage > 0 ? cntI[j] / nImage : NaN;
    frequencyText[j] = nText > 0 ? cntT[j] / nText : NaN;
    const tot = energyImage[j] + energyText[j];
    modalityScore[j] = tot > 0 ? energyImage[j] / tot : NaN;
  }
  return {
    c,
    nRows: n,
    nImage,
    nText,
    energy,
    frequency,
    energyImage,
    energyText,
    frequencyImage,
    frequencyText,
    modalityScore,
  };
}

/** Thresholds of unimodality: m_j < low is text-only, m_j > high is image-only. */
export interface UnimodalThresholds {
  /** Default 0.05. */
  low?: number;
  /** Default 0.95. */
  high?: number;
}

/** The unimodal fraction among live concepts (those with a defined modality score). */
export interface UnimodalSummary {
  low: number;
  high: number;
  /** Concepts with a defined score. */
  live: number;
  /** Concepts with m_j > high, with m_j < low. */
  imageOnly: number;
  textOnly: number;
  /** (imageOnly + textOnly) / live (NaN when live = 0). */
  fraction: number;
  /** Σ energy of unimodal concepts / Σ energy of live concepts (NaN when that is 0). */
  energyWeightedFraction: number;
}

/** Unimodal fraction, plain and energy-weighted (method.md §4). */
export function unimodalFraction(
  stats: Pick<ConceptStats, "modalityScore" | "energy">,
  thresholds: UnimodalThresholds = {},
): UnimodalSummary {
  const low = thresholds.low ?? 0.05, high = thresholds.high ?? 0.95;
  if (!(low >= 0 && low <= high && high <= 1)) {
    throw new RangeError(
      `unimodal thresholds must satisfy 0 ≤ low ≤ high ≤ 1, got ${low}, ${high}`,
    );
  }
  let live = 0, imageOnly = 0, textOnly = 0, eLive = 0, eUni = 0;
  const m = stats.modalityScore;
  for (let j = 0; j < m.length; j++) {
    const s = m[j];
    if (Number.isNaN(s)) continue;
    live++;
    const e = stats.energy[j];
    eLive += e;
    if (s > high) imageOnly++;
    else if (s < low) textOnly++;
    else continue;
    eUni += e;
  }
  return {
    low,
    high,
    live,
    imageOnly,
    textOnly,
    fraction: live > 0 ? (imageOnly + textOnly) / live : NaN,
    energyWeightedFraction: eLive > 0 ? eUni / eLive : NaN,
  };
}

/** Histogram of modality scores over [0, 1]. */
export interface ModalityHistogram {
  /** bins + 1 edges from 0 to 1. */
  edges: Float64Array;
  /** Live concepts per bin (the last bin includes 1). */
  counts: Int32Array;
  /** Σ energy of the concepts per bin. */
  energy: Float64Array;
}

/** Histogram of the defined modality scores in `bins` equal bins of [0, 1]. */
export function modalityHistogram(
  stats: Pick<ConceptStats, "modalityScore" | "energy">,
  bins = 20,
): ModalityHistogram {
  if (!Number.isInteger(bins) || bins < 1) {
    throw new RangeError(`modalityHistogram: bins must be a positive integer, got ${bins}`);
  }
  const edges = new Float64Array(bins + 1);
  for (let b = 0; b <= bins; b++) edges[b] = b / bins;
  const counts = new Int32Array(bins);
  const energy = new Float64Array(bins);
  const m = stats.modalityScore;
  for (let j = 0; j < m.length; j++) {
    const s = m[j];
    if (Number.isNaN(s)) continue;
    const b = Math.min(bins - 1, Math.max(0, Math.floor(s * bins)));
    counts[b]++;
    energy[b] += stats.energy[j];
  }
  return { edges, counts, energy };
}

/**
 * Image flags of a modality column: 1 for `image`, 0 otherwise (text). Length = rows; the labels
 * `y` of the modality classifiers and the `isImage` of {@link conceptStatistics}.
 */
export function imageFlags(modality: ArrayLike<string>): Uint8Array {
  const out = new Uint8Array(modality.length);
  for (let i = 0; i < modality.length; i++) out[i] = modality[i] === "image" ? 1 : 0;
  return out;
}
