/**
 * Train/eval split by pair (an image and all its captions land in the same split), seeded.
 * Used by the embed stage until data/splits.ts (data layer) provides the shared rule. Pure.
 */
import { Rng } from "../data/random.ts";
import type { Split } from "../data/embeddings.ts";

/**
 * Assign each distinct pair id a split: a seeded permutation of the ids in the given order, the
 * first round(evalFraction · P) of it `eval`, the rest `train`.
 * @param pairIds pair ids (duplicates allowed; first occurrence fixes the order)
 * @param evalFraction in [0, 1]
 * @returns pair id → split
 */
export function splitByPair(
  pairIds: readonly string[],
  evalFraction: number,
  seed: number,
): Map<string, Split> {
  if (!(evalFraction >= 0 && evalFraction <= 1)) {
    throw new RangeError(`evalFraction ${evalFraction} must lie in [0, 1]`);
  }
  const unique = [...new Set(pairIds)];
  const perm = new Rng(seed).permutation(unique.length);
  const nEval = Math.round(evalFraction * unique.length);
  const out = new Map<string, Split>();
  for (let r = 0; r < unique.length; r++) out.set(unique[perm[r]], r < nEval ? "eval" : "train");
  return out;
}
