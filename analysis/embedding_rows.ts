/** Choosing rows of an embedding set for an analysis: by split, optionally a seeded subsample. */
import { Rng } from "../data/random.ts";
import type { EmbeddingSet } from "../data/embeddings.ts";

/**
 * Row indices (table order) of `set` in `split`; when `maxRows` > 0 and there are more, a seeded
 * subsample stratified by modality (each modality keeps its share), in table order.
 */
export function rowsOf(
  set: EmbeddingSet,
  split: "train" | "eval" | "all",
  maxRows: number,
  seed: number,
): number[] {
  const rows: number[] = [];
  for (let i = 0; i < set.n; i++) if (split === "all" || set.split[i] === split) rows.push(i);
  if (maxRows <= 0 || rows.length <= maxRows) return rows;
  const rng = new Rng(seed);
  const out: number[] = [];
  for (const mod of ["image", "text"]) {
    const members = rows.filter((i) => set.modality[i] === mod);
    rng.shuffle(members);
    out.push(...members.slice(0, Math.round((members.length * maxRows) / rows.length)));
  }
  return out.sort((a, b) => a - b);
}

/** Vectors of the listed rows (rows.length×d, row-major). */
export function gatherVectors(set: EmbeddingSet, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * set.d);
  rows.forEach((r, q) => out.set(set.vectors.subarray(r * set.d, (r + 1) * set.d), q * set.d));
  return out;
}
