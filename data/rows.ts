/**
 * Row-wise math on row-major float32 matrices shared by every layer (embed, analysis, explorer,
 * tasks): unit-norm rows. Pure; norms are accumulated in float64 and each row is multiplied by
 * 1/‖row‖ (so every caller gets the same bits); seeded random unit rows.
 */
import { Rng } from "./random.ts";

/**
 * Scale every row of `x` (row-major n×d) to unit L2 norm, in place; a zero row stays zero.
 * @param x n×d values (length exactly n·d)
 * @returns `x`
 * @throws RangeError when x.length ≠ n·d
 */
export function normalizeRows(x: Float32Array, n: number, d: number): Float32Array {
  if (x.length !== n * d) {
    throw new RangeError(`normalizeRows: length ${x.length} is not ${n}·${d}`);
  }
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let s = 0;
    for (let t = 0; t < d; t++) s += x[o + t] * x[o + t];
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let t = 0; t < d; t++) x[o + t] *= inv;
  }
  return x;
}

/**
 * A copy of the first n rows of `x` (row-major, d columns) with unit L2 norm; zero rows stay zero.
 * @param x at least n·d values
 * @returns a new n×d array
 */
export function normalizedRows(x: Float32Array, n: number, d: number): Float32Array {
  return normalizeRows(x.slice(0, n * d), n, d);
}

/**
 * `count` seeded directions uniform on the unit sphere of R^d: each row drawn i.i.d. standard
 * normal in float64 (redrawn in the measure-zero case of all zeros), then scaled to unit norm.
 * @returns row-major count×d float32 (empty when count = 0)
 */
export function randomUnitRows(count: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(count * d);
  const v = new Float64Array(d);
  for (let j = 0; j < count; j++) {
    let nn = 0;
    while (nn === 0) {
      nn = 0;
      for (let t = 0; t < d; t++) {
        v[t] = rng.normal();
        nn += v[t] * v[t];
      }
    }
    const inv = 1 / Math.sqrt(nn);
    for (let t = 0; t < d; t++) out[j * d + t] = v[t] * inv;
  }
  return out;
}
