/**
 * Checks and preparation shared by every importer: non-empty, finite, unique ids, every caption's
 * image present, expected dimension; L2 normalisation (counting rows that were not unit-norm) and
 * optional centring on the train mean.
 */
import type { EmbeddingSet } from "./embeddings.ts";
import { UserError } from "../pipeline/errors.ts";

/**
 * Validate imported rows; throw a {@link UserError} naming `name` and the first problem.
 * @param name file (or files) the rows came from
 * @param expectDim required dimension (0 = any)
 */
export function validateImportedRows(set: EmbeddingSet, name: string, expectDim = 0): void {
  const { n, d, vectors } = set;
  if (n === 0) throw new UserError(`${name}: no embedding rows; the file is empty`);
  if (expectDim > 0 && d !== expectDim) {
    throw new UserError(
      `${name}: vectors have dimension ${d}, dataset.expectDim is ${expectDim}; use embeddings of the configured model or change dataset.expectDim`,
    );
  }
  for (let j = 0; j < n * d; j++) {
    if (!Number.isFinite(vectors[j])) {
      const r = Math.floor(j / d);
      throw new UserError(
        `${name}: row ${r} (id ${JSON.stringify(set.ids[r])}) holds ${vectors[j]} at dimension ${
          j % d
        }; fix or drop that embedding`,
      );
    }
  }
  const seen = new Map<string, number>();
  const images = new Set<string>();
  for (let r = 0; r < n; r++) {
    const id = set.ids[r];
    if (id === "" || id === null || id === undefined) {
      throw new UserError(`${name}: row ${r} has an empty id; give every row an id`);
    }
    const prev = seen.get(id);
    if (prev !== undefined) {
      throw new UserError(
        `${name}: id ${
          JSON.stringify(id)
        } occurs twice (rows ${prev} and ${r}); ids must be unique`,
      );
    }
    seen.set(id, r);
    if (set.modality[r] === "image") {
      if (images.has(set.pairIds[r])) {
        throw new UserError(
          `${name}: image ${
            JSON.stringify(set.pairIds[r])
          } has two image rows (row ${r}); give each image one row`,
        );
      }
      images.add(set.pairIds[r]);
    }
  }
  for (let r = 0; r < n; r++) {
    if (set.modality[r] === "text" && !images.has(set.pairIds[r])) {
      throw new UserError(
        `${name}: caption ${JSON.stringify(set.ids[r])} (row ${r}) belongs to image ${
          JSON.stringify(set.pairIds[r])
        }, which has no image row; add the image embedding or drop the caption`,
      );
    }
  }
}

/**
 * L2-normalise every row in place (float64 norms). Rows whose norm differs from 1 by more than
 * `tol` are counted. A zero row is an error.
 * @returns how many rows were not unit-norm
 */
export function normaliseRows(set: EmbeddingSet, name: string, tol = 1e-3): number {
  const { n, d, vectors } = set;
  let changed = 0;
  for (let r = 0; r < n; r++) {
    const o = r * d;
    let s = 0;
    for (let i = 0; i < d; i++) s += vectors[o + i] * vectors[o + i];
    const norm = Math.sqrt(s);
    if (norm === 0) {
      throw new UserError(
        `${name}: row ${r} (id ${JSON.stringify(set.ids[r])}) is all zeros; drop that embedding`,
      );
    }
    if (Math.abs(norm - 1) > tol) {
      changed++;
      for (let i = 0; i < d; i++) vectors[o + i] = vectors[o + i] / norm;
    }
  }
  return changed;
}

/**
 * Subtract the mean of the `train` rows (float64) from every row in place.
 * @returns the subtracted mean (length d)
 */
export function centreRows(set: EmbeddingSet): Float64Array {
  const { n, d, vectors } = set;
  const mean = new Float64Array(d);
  let k = 0;
  for (let r = 0; r < n; r++) {
    if (set.split[r] !== "train") continue;
    k++;
    for (let i = 0; i < d; i++) mean[i] += vectors[r * d + i];
  }
  if (k === 0) return mean;
  for (let i = 0; i < d; i++) mean[i] /= k;
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) vectors[r * d + i] = vectors[r * d + i] - mean[i];
  }
  return mean;
}
