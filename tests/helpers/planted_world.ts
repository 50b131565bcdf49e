/**
 * A tiny test-only generator of planted sparse data: n rows, each a non-negative combination of
 * `s` of m planted unit directions in d dimensions (plus small noise), optionally L2-normalised.
 * Used by the SAE recovery tests; the full synthetic world lives in data/synthetic_world.ts.
 */
import { Rng } from "../../data/random.ts";
import { normalizeRows } from "../../data/rows.ts";
import type { generateWorld, WorldParams } from "../../data/synthetic_world.ts";

/** A planted world: X (n×d) and the planted directions (m×d, unit rows). */
export interface PlantedWorld {
  n: number;
  d: number;
  m: number;
  x: Float32Array;
  directions: Float32Array;
}

/** Options of {@link plantedWorld}. */
export interface PlantedWorldOptions {
  n: number;
  d: number;
  /** Number of planted directions. */
  m: number;
  /** Active directions per row (distinct, uniform). */
  s: number;
  seed: number;
  /** Seed of the rows alone (default: `seed`): same directions, fresh rows. */
  rowSeed?: number;
  /** Coefficient range [lo, hi) (uniform). Default [0.5, 1.5). */
  coef?: [number, number];
  /** Noise standard deviation per coordinate. Default 0.01. */
  noise?: number;
  /** L2-normalise every row (like real embeddings). Default true. */
  normalize?: boolean;
}

/** Generate a planted world (deterministic for a seed). */
export function plantedWorld(o: PlantedWorldOptions): PlantedWorld {
  const rng = new Rng(o.seed);
  const { n, d, m, s } = o;
  const [lo, hi] = o.coef ?? [0.5, 1.5];
  const noise = o.noise ?? 0.01;
  const dirs = rng.fillNormal(new Float32Array(m * d));
  normalizeRows(dirs, m, d);
  const rowRng = o.rowSeed === undefined ? rng : new Rng(`rows:${o.rowSeed}`);
  const x = new Float32Array(n * d);
  const pick = new Int32Array(m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) pick[j] = j;
    for (let t = 0; t < s; t++) {
      const r = t + rowRng.int(m - t);
      const tmp = pick[t];
      pick[t] = pick[r];
      pick[r] = tmp;
      const a = lo + (hi - lo) * rowRng.uniform();
      const j = pick[t];
      for (let q = 0; q < d; q++) x[i * d + q] += a * dirs[j * d + q];
    }
    for (let q = 0; q < d; q++) x[i * d + q] += noise * rowRng.normal();
    if (o.normalize ?? true) normalizeRows(x.subarray(i * d, (i + 1) * d), 1, d);
  }
  return { n, d, m, x, directions: dirs };
}

/**
 * Fraction of planted directions (m×d) whose best match among the learned rows (c×d) has
 * cosine ≥ `minCos` (float64; learned rows normalised here), and the per-direction best cosines.
 */
export function recoveredFraction(
  planted: Float32Array,
  m: number,
  learned: Float32Array,
  c: number,
  d: number,
  minCos = 0.9,
): { fraction: number; best: number[] } {
  const best: number[] = [];
  for (let j = 0; j < m; j++) {
    let top = -Infinity;
    for (let r = 0; r < c; r++) {
      let dot = 0;
      let nn = 0;
      for (let q = 0; q < d; q++) {
        dot += planted[j * d + q] * learned[r * d + q];
        nn += learned[r * d + q] ** 2;
      }
      const cos = nn > 0 ? dot / Math.sqrt(nn) : 0;
      if (cos > top) top = cos;
    }
    best.push(top);
  }
  return { fraction: best.filter((b) => b >= minCos).length / m, best };
}

/** Largest |row − planted sum| over a world without normalisation (noise must be 0). */
export function plantedDeviation(p: WorldParams, w: ReturnType<typeof generateWorld>): number {
  const { set, truth } = w;
  const d = set.d, g = truth.gapDirection!, c = truth.coneDirection!;
  const { rowPtr, index, value } = truth.rowActive;
  let worst = 0;
  for (let r = 0; r < set.n; r++) {
    const sign = set.modality[r] === "image" ? 0.5 : -0.5;
    for (let i = 0; i < d; i++) {
      let x = p.cone * c[i] + sign * p.gap * g[i];
      for (let k = rowPtr[r]; k < rowPtr[r + 1]; k++) {
        x += value[k] * truth.directions[index[k] * d + i];
      }
      worst = Math.max(worst, Math.abs(x - set.vectors[r * d + i]));
    }
  }
  return worst;
}
