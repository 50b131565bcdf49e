/**
 * Seeded train/eval splits by pair (method.md §1): an image and all its captions land on the same
 * side, so no eval caption describes a training image.
 */
import type { Split } from "./embeddings.ts";
import { Rng } from "./random.ts";
import { UserError } from "../pipeline/errors.ts";

/**
 * Assign each row a split by pair id. Exactly round(P·evalFraction) of the P distinct pair ids
 * (clamped to 1..P−1 when P ≥ 2) go to `eval`, chosen by a seeded permutation of the pair ids in
 * order of first appearance.
 * @param pairIds pair id of every row (length n)
 * @param evalFraction in (0, 1)
 * @param seed split seed
 * @returns split of every row (length n)
 */
export function assignSplits(
  pairIds: readonly string[],
  evalFraction: number,
  seed: number,
): Split[] {
  if (!(evalFraction > 0 && evalFraction < 1)) {
    throw new UserError(
      `dataset.evalFraction: must lie strictly between 0 and 1, got ${evalFraction}`,
    );
  }
  const index = new Map<string, number>();
  for (const p of pairIds) if (!index.has(p)) index.set(p, index.size);
  const P = index.size;
  let nEval = Math.round(P * evalFraction);
  if (P >= 2) nEval = Math.min(P - 1, Math.max(1, nEval));
  const perm = new Rng(seed).permutation(P);
  const isEval = new Uint8Array(P);
  for (let i = 0; i < nEval; i++) isEval[perm[i]] = 1;
  return pairIds.map((p) => (isEval[index.get(p)!] ? "eval" : "train"));
}

/** Row counts per modality and split. */
export interface SplitCounts {
  train: { image: number; text: number };
  eval: { image: number; text: number };
}

/** Count rows per split and modality. */
export function countSplits(
  modality: readonly ("image" | "text")[],
  split: readonly Split[],
): SplitCounts {
  const c: SplitCounts = { train: { image: 0, text: 0 }, eval: { image: 0, text: 0 } };
  for (let i = 0; i < modality.length; i++) c[split[i]][modality[i]]++;
  return c;
}
