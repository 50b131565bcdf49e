/**
 * Train/eval split by pair (an image and all its captions land in the same split), seeded.
 * Used by the embed stage until data/splits.ts (data layer) provides the shared rule. Pure.
 */
import { Rng } from "../data/random.ts";
import type { Split } from "../data/embeddings.ts";

/**
 * Assign each distinct pair id a split: a seeded permutation of the ids in order of first
 * appearance, the first round(evalFraction · P) of it (clamped to 1..P−1 when P ≥ 2) `eval`, the
 * rest `train` — the same rule as data/splits.ts `assignSplits`, which replaces this once committed.
 * @param pairIds pair ids (duplicates allowed; first occurrence fixes the order)
 * @param evalFraction in (0, 1)
 * @returns pair id → split
 */
export function splitByPair(
  pairIds: readonly string[],
  evalFraction: number,
  seed: number,
): Map<string, Split> {
  if (!(evalFraction > 0 && evalFraction < 1)) {
    throw new RangeError(`evalFraction ${evalFraction} must lie strictly between 0 and 1`);
  }
  const unique = [...new Set(pairIds)];
  const perm = new Rng(seed).permutation(unique.length);
  let nEval = Math.round(evalFraction * unique.length);
  if (unique.length >= 2) nEval = Math.min(unique.length - 1, Math.max(1, nEval));
  const out = new Map<string, Split>();
  for (let r = 0; r < unique.length; r++) out.set(unique[perm[r]], r < nEval ? "eval" : "train");
  return out;
}
