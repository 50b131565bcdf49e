/**
 * Truth labels of concepts (method.md §10, "Truth"): on a synthetic world, each learned concept's
 * best-matching planted direction (largest cosine), its planted concept and kind, and whether the
 * caption label names it — so that label accuracy can be scored against the planted truth.
 */
import type { GroundTruth } from "../data/ground_truth.ts";
import { bestMatches, type CosineScreen } from "./truth_checks.ts";

/** The planted concept a learned concept matches. */
export interface TruthLabel {
  /** Planted concept id (−1 when the world has no directions). */
  concept: number;
  /** Its name as the synthetic world's row texts write it (`c<id>`). */
  name: string;
  /** shared | image | text. */
  kind: string;
  /** Planted direction matched and its modality. */
  direction: number;
  modality: string;
  /** Cosine of the learned direction with that planted direction. */
  cosine: number;
}

/** Name of planted concept `id` in the synthetic world's texts. */
export function plantedName(id: number): string {
  return `c${id}`;
}

/**
 * Best planted match of every row of `dict` (c×d, unit rows); `screen` (a float32 GEMM) makes it
 * GEMM-fast with the same result (see {@link bestMatches}).
 */
export function truthLabels(
  truth: GroundTruth,
  dict: Float32Array,
  c: number,
  screen?: CosineScreen,
): TruthLabel[] {
  const bm = bestMatches(dict, c, truth.directions, truth.m, truth.d, screen);
  return Array.from({ length: c }, (_, j) => {
    const p = bm.index[j];
    const concept = p >= 0 ? truth.directionConcept[p] : -1;
    return {
      concept,
      name: concept >= 0 ? plantedName(concept) : "",
      kind: concept >= 0 ? truth.conceptKind[concept] : "",
      direction: p,
      modality: p >= 0 ? truth.directionModality[p] : "",
      cosine: bm.cosine[j],
    };
  });
}

/** True when `label` (terms separated by `, `; a term may be a bigram) contains the word `name`. */
export function labelNames(label: string, name: string): boolean {
  return label.split(/[,\s]+/).includes(name);
}

/**
 * Label accuracy against truth: among concepts with a match of cosine ≥ `minCosine` (and, when
 * `eligible` is given, eligible[j]), the fraction whose label names their planted concept.
 * @returns fraction (NaN when none is matched) and the counts
 */
export function labelAccuracy(
  labels: readonly string[],
  truth: readonly TruthLabel[],
  minCosine: number,
  eligible?: (j: number) => boolean,
): { fraction: number; named: number; matched: number } {
  let named = 0, matched = 0;
  truth.forEach((t, j) => {
    if (!(t.cosine >= minCosine) || t.concept < 0 || (eligible && !eligible(j))) return;
    matched++;
    if (labelNames(labels[j], t.name)) named++;
  });
  return { fraction: matched ? named / matched : NaN, named, matched };
}
