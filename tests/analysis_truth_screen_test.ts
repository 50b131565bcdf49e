/**
 * bestMatches with a float32 GEMM screen gives exactly the float64 loops' answer: same index
 * (ties to the lower index) and the same float64 cosine, also for near-ties below float32
 * resolution and with a screen whose float32 error is as large as the bound allows.
 */
import assert from "node:assert/strict";
import { bestMatches, type CosineScreen } from "../analysis/truth_checks.ts";
import { randomUnitRows } from "../data/rows.ts";
import { syncProducts } from "../analysis/sync_products.ts";
import { Rng } from "../data/random.ts";

/** A float32 screen (JS) whose every entry is off by up to the documented error bound. */
function noisyScreen(seed: number): CosineScreen {
  const rng = new Rng(seed);
  return (a, rows, d, b, nb) => {
    const out = new Float32Array(rows * nb);
    const gamma = 2 * (d + 2) * 2 ** -24;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < nb; j++) {
        let s = 0, na = 0, nbb = 0;
        for (let t = 0; t < d; t++) {
          s += a[i * d + t] * b[j * d + t];
          na += a[i * d + t] ** 2;
          nbb += b[j * d + t] ** 2;
        }
        // the adversary: push each score anywhere inside ±0.99·γ‖a‖‖b‖
        out[i * nb + j] = s + (2 * rng.uniform() - 1) * 0.99 * gamma * Math.sqrt(na * nbb);
      }
    }
    return out;
  };
}

/** Rows of b: random unit rows, exact duplicates and near-duplicates of a's rows. */
function nearTies(d: number) {
  const na = 40, nb = 300;
  const a = randomUnitRows(na, d, 3);
  const b = randomUnitRows(nb, d, 4);
  for (let i = 0; i < na; i++) {
    // b[2i] and b[2i+1] both equal a_i up to a change far below float32 dot resolution
    b.set(a.subarray(i * d, (i + 1) * d), (2 * i) * d);
    b.set(a.subarray(i * d, (i + 1) * d), (2 * i + 1) * d);
    if (i % 2 === 0) b[(2 * i + 1) * d + (i % d)] *= 1 + 2 ** -20;
  }
  // an exact duplicate at a higher index: the lower index must win
  b.set(b.subarray(0, d), (nb - 1) * d);
  return { a, na, b, nb };
}

Deno.test("bestMatches: a float32 screen gives the float64 loops' result exactly", async () => {
  const d = 96;
  const { a, na, b, nb } = nearTies(d);
  const exact = bestMatches(a, na, b, nb, d);
  const screens: CosineScreen[] = [noisyScreen(1), noisyScreen(2)];
  const blas = (await syncProducts()).scores;
  if (blas) screens.push(blas);
  for (const screen of screens) {
    const got = bestMatches(a, na, b, nb, d, screen);
    assert.deepEqual(Array.from(got.index), Array.from(exact.index));
    assert.deepEqual(Array.from(got.cosine), Array.from(exact.cosine));
  }
  // sanity: the exact answer picks the lower of exact duplicates
  assert.equal(exact.index[1], 2);
});

Deno.test("bestMatches: a screen that leaves the bound would be caught (the test can fail)", () => {
  const d = 96;
  const { a, na, b, nb } = nearTies(d);
  const exact = bestMatches(a, na, b, nb, d);
  // a screen that prefers the higher of each near-tie by far more than float32 error
  const biased: CosineScreen = (x, rows, dd, y, m) => {
    const out = new Float32Array(rows * m);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let t = 0; t < dd; t++) s += x[i * dd + t] * y[j * dd + t];
        out[i * m + j] = s + (j % 2 === 1 ? 1e-3 : 0);
      }
    }
    return out;
  };
  const got = bestMatches(a, na, b, nb, d, biased);
  assert.notDeepEqual(Array.from(got.index), Array.from(exact.index));
});

Deno.test("bestMatches: NaN rows score exactly (no match) with or without a screen", () => {
  const d = 8;
  const a = randomUnitRows(3, d, 1);
  a[d] = NaN;
  const b = randomUnitRows(5, d, 2);
  const exact = bestMatches(a, 3, b, 5, d);
  const got = bestMatches(a, 3, b, 5, d, noisyScreen(3));
  assert.equal(exact.index[1], -1);
  assert.deepEqual(Array.from(got.index), Array.from(exact.index));
});
