/**
 * The comparison of several embedding spaces (method.md §9): pure summaries of per-seed figures —
 * a value's spread over the seeds, the claims of every seed folded into one row per claim, the
 * per-bin spread of stability curves, and the non-dominated points of an R²–ℓ0 Pareto study.
 * Nothing here compares two spaces concept by concept.
 */

/** Spread of one figure over seeds (or seed pairs): finite values only. */
export interface Spread {
  /** Number of finite values. */
  n: number;
  /** Mean (NaN when n = 0). */
  mean: number;
  /** Sample standard deviation (n − 1 denominator; NaN when n < 2). */
  sd: number;
  /** Smallest and largest value (NaN when n = 0). */
  min: number;
  max: number;
}

/** The spread of `values` (non-finite values are left out), in float64. */
export function spreadOf(values: ArrayLike<number>): Spread {
  const v: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) v.push(values[i]);
  const n = v.length;
  if (n === 0) return { n, mean: NaN, sd: NaN, min: NaN, max: NaN };
  const mean = v.reduce((s, x) => s + x, 0) / n;
  const sd = n < 2 ? NaN : Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  return { n, mean, sd, min: Math.min(...v), max: Math.max(...v) };
}

/**
 * A spread as text: the value alone for one seed, `min–max` with up to `fewSeeds` values (a
 * standard deviation of two or three numbers says little), else `mean ± sd`.
 */
export function formatSpread(s: Spread, fewSeeds = 3, digits = 3): string {
  if (s.n === 0) return "n/a";
  if (s.n === 1) return s.mean.toFixed(digits);
  if (s.n <= fewSeeds) return `${s.min.toFixed(digits)}–${s.max.toFixed(digits)}`;
  return `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}`;
}

/** One claim measured on one seed's run (a row of claims.json). */
export interface SeedClaim {
  claim: string;
  value: number;
  null_value: number;
  holds: boolean;
}

/** One claim over the seeds of a space. */
export interface ClaimOverSeeds {
  claim: string;
  /** The first seed's figures (those of the space studied alone). */
  value: number;
  null_value: number;
  holds: boolean;
  /** Spread of the value and of its null over every seed that measured the claim. */
  spread: Spread;
  nullSpread: Spread;
  /** Seeds on which the claim holds (of `seeds`). */
  holdsCount: number;
  /** Seeds that measured the claim. */
  seeds: number;
}

/**
 * Fold per-seed claims (first seed first) into one row per claim, in the first seed's order
 * (claims only later seeds measured follow). The first seed's value is reported as is; the spread
 * covers every seed that measured the claim.
 */
export function claimsOverSeeds(perSeed: SeedClaim[][]): ClaimOverSeeds[] {
  const order: string[] = [];
  const bySeed = new Map<string, SeedClaim[]>();
  for (const claims of perSeed) {
    for (const c of claims) {
      if (!bySeed.has(c.claim)) {
        bySeed.set(c.claim, []);
        order.push(c.claim);
      }
      bySeed.get(c.claim)!.push(c);
    }
  }
  return order.map((claim) => {
    const all = bySeed.get(claim)!;
    const first = perSeed[0]?.find((c) => c.claim === claim) ?? all[0];
    return {
      claim,
      value: first.value,
      null_value: first.null_value,
      holds: first.holds,
      spread: spreadOf(all.map((c) => c.value)),
      nullSpread: spreadOf(all.map((c) => c.null_value)),
      holdsCount: all.filter((c) => c.holds).length,
      seeds: all.length,
    };
  });
}

/** Per-bin spread of several curves of equal length (e.g. stability by frequency decile per seed pair). */
export function binsOverCurves(curves: ArrayLike<number>[]): Spread[] {
  const bins = Math.max(0, ...curves.map((c) => c.length));
  return Array.from({ length: bins }, (_, b) => spreadOf(curves.map((c) => c[b] ?? NaN)));
}

/**
 * Which points lie on the Pareto front of "higher score at lower ℓ0": a point is on it when no
 * other point has ℓ0 ≤ its ℓ0 and score ≥ its score with one of the two strict. Non-finite points
 * are never on it.
 */
export function paretoFrontMask(l0: ArrayLike<number>, score: ArrayLike<number>): boolean[] {
  const n = l0.length;
  const out = new Array<boolean>(n).fill(false);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(l0[i]) || !Number.isFinite(score[i])) continue;
    let dominated = false;
    for (let j = 0; j < n && !dominated; j++) {
      if (j === i || !Number.isFinite(l0[j]) || !Number.isFinite(score[j])) continue;
      dominated = l0[j] <= l0[i] && score[j] >= score[i] && (l0[j] < l0[i] || score[j] > score[i]);
    }
    out[i] = !dominated;
  }
  return out;
}
