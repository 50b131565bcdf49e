/**
 * Planted ground truth of a synthetic world (method.md §8): what the analyses are checked against.
 * Written by the `dataset` stage next to the embeddings (`truth_*.parquet`), read by `validate`.
 */
import type { Modality } from "./embeddings.ts";

/**
 * Planted directions and their usage.
 * - `directions`: m×d row-major, unit rows: every planted direction (a cross-modal concept has
 *   two, one per modality: its twins).
 * - `directionConcept[i]`: planted concept id of direction i; `directionModality[i]`: the modality
 *   whose rows use it (`image` or `text`).
 * - `conceptKind[j]`: `shared` (a twin pair: an image and a text direction), `image` (image-only)
 *   or `text` (text-only).
 * - `conceptFrequency[j]`: planted probability that a row (of a modality that uses it) has it.
 * - `twins`: [imageDirection, textDirection] pairs of every shared concept; `twinCosine[t]` their cosine.
 * - `rowActive`: CSR over the n embedding rows (table order): active direction ids and coefficients
 *   (in the units of the stored, normalised rows).
 * - Optional (synthetic world): `captionDropout` (a caption keeps each shared concept of its
 *   image with probability 1 − captionDropout, so a shared concept's caption-row frequency is
 *   conceptFrequency·(1 − captionDropout)); `gapDirection` and `coneDirection` (unit, length d):
 *   the planted modality-offset and common-offset directions.
 */
export interface GroundTruth {
  d: number;
  m: number;
  directions: Float32Array;
  directionConcept: Int32Array;
  directionModality: Modality[];
  conceptKind: ("shared" | "image" | "text")[];
  conceptFrequency: Float64Array;
  twins: [number, number][];
  twinCosine: Float64Array;
  rowActive: { rowPtr: Int32Array; index: Int32Array; value: Float32Array };
  captionDropout?: number;
  gapDirection?: Float32Array;
  coneDirection?: Float32Array;
}
