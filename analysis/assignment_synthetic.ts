/**
 * Two SAE-like dictionaries as learned from two seeds (for tests and benchmarks of matching):
 * a shared set of unit directions, each perturbed independently in both copies, plus concepts
 * unique to each run; rows of the second shuffled.
 */
import { Rng } from "../data/random.ts";
import { normalizeRows } from "../data/rows.ts";

/** Options of {@link seedLikeDictionaries}. */
export interface SeedLikeOptions {
  /** Fraction of concepts shared by both runs (default 0.7). */
  sharedFraction?: number;
  /** Noise scale: each shared row is normalise(t + noise·g/√d) with g standard normal (default 0.5). */
  noise?: number;
  /** Concepts of the second dictionary (default c). */
  cB?: number;
}

/** Two dictionaries and the planted correspondence. */
export interface SeedLikePair {
  /** Row-major c×d and cB×d, unit rows. */
  a: Float32Array;
  b: Float32Array;
  c: number;
  cB: number;
  d: number;
  /** For each row of a, the row of b holding the same shared direction, or −1. */
  partner: Int32Array;
}

/**
 * Generate the pair (deterministic for `seed`).
 * @param c concepts of the first dictionary
 * @param d embedding dimension
 */
export function seedLikeDictionaries(
  c: number,
  d: number,
  seed: number,
  opts: SeedLikeOptions = {},
): SeedLikePair {
  const cB = opts.cB ?? c;
  const shared = Math.floor(Math.min(c, cB) * (opts.sharedFraction ?? 0.7));
  const noise = (opts.noise ?? 0.5) / Math.sqrt(d);
  const rng = new Rng(seed);
  const truth = normalizeRows(rng.fillNormal(new Float32Array(shared * d)), shared, d);
  const a = new Float32Array(c * d);
  const bRaw = new Float32Array(cB * d);
  for (let j = 0; j < shared; j++) {
    const o = j * d;
    for (let t = 0; t < d; t++) {
      a[o + t] = truth[o + t] + noise * rng.normal();
      bRaw[o + t] = truth[o + t] + noise * rng.normal();
    }
  }
  for (let t = shared * d; t < c * d; t++) a[t] = rng.normal();
  for (let t = shared * d; t < cB * d; t++) bRaw[t] = rng.normal();
  normalizeRows(a, c, d);
  normalizeRows(bRaw, cB, d);
  const perm = rng.permutation(cB); // row r of b = row perm[r] of bRaw
  const b = new Float32Array(cB * d);
  const where = new Int32Array(cB);
  for (let r = 0; r < cB; r++) {
    b.set(bRaw.subarray(perm[r] * d, perm[r] * d + d), r * d);
    where[perm[r]] = r;
  }
  const partner = new Int32Array(c).fill(-1);
  for (let j = 0; j < shared; j++) partner[j] = where[j];
  return { a, b, c, cB, d, partner };
}
