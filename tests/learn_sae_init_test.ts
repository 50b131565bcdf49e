/**
 * The SAE's initial dictionary (learn/sae/init.ts): `initRows: 1` starts every dictionary row at
 * a distinct training row minus the training mean (checked in float64 against the seeded
 * permutation), falls back to Gaussian directions for rows that centre to zero and beyond the n
 * rows; `initRows: 0` is exactly the Gaussian start; a fraction interleaves the two so that every
 * prefix holds its share; a fit starts its encoder and decoder at the same rows and is
 * bit-identical for a seed.
 */
import assert from "node:assert/strict";
import { Rng } from "../data/random.ts";
import { normalizeRows } from "../data/rows.ts";
import { initialDictionary, startsAtRow } from "../learn/sae/init.ts";
import { fitSae } from "../learn/sae/mod.ts";
import { createBackend } from "../kernels/select.ts";

/** n×d Gaussian rows with a common offset (like a VLM cone) and their float64 mean. */
function table(n: number, d: number): { x: Float32Array; mean: Float64Array } {
  const x = new Rng(11).fillNormal(new Float32Array(n * d));
  for (let i = 0; i < n * d; i++) x[i] = x[i] * 0.3 + (i % d) * 0.01;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t];
  for (let t = 0; t < d; t++) mean[t] /= n;
  return { x, mean };
}

Deno.test("initialDictionary initRows 1: each row is a distinct training row minus the mean, unit norm", () => {
  const n = 40, d = 9, c = 25;
  const { x, mean } = table(n, d);
  const D0 = initialDictionary(1, x, n, d, c, mean, new Rng(7));
  const perm = new Rng(7).permutation(n);
  for (let j = 0; j < c; j++) {
    const r = perm[j];
    const ref = new Float64Array(d);
    let s = 0;
    for (let t = 0; t < d; t++) {
      ref[t] = Math.fround(x[r * d + t] - mean[t]);
      s += ref[t] * ref[t];
    }
    let norm = 0;
    for (let t = 0; t < d; t++) norm += D0[j * d + t] ** 2;
    assert.ok(Math.abs(norm - 1) < 1e-6, `row ${j}: norm² ${norm}`);
    for (let t = 0; t < d; t++) {
      assert.ok(
        Math.abs(D0[j * d + t] - ref[t] / Math.sqrt(s)) < 1e-6,
        `row ${j} (training row ${r}), dim ${t}: ${D0[j * d + t]} vs ${ref[t] / Math.sqrt(s)}`,
      );
    }
  }
});

Deno.test("initialDictionary initRows 1: rows at the mean and rows beyond n get the Gaussian directions", () => {
  // ± pairs and two zero rows: the mean is exactly 0, so the zero rows centre to exactly 0
  const n = 12, d = 6, c = 20, zeroRows = [4, 9];
  const x = new Float32Array(n * d);
  const g = new Rng(13).fillNormal(new Float32Array(5 * d));
  let pair = 0;
  for (let i = 0; i < n; i++) {
    if (zeroRows.includes(i)) continue;
    const p = Math.floor(pair / 2), sign = pair % 2 === 0 ? 1 : -1;
    for (let t = 0; t < d; t++) x[i * d + t] = sign * g[p * d + t];
    pair++;
  }
  const mean = new Float64Array(d);
  const D0 = initialDictionary(1, x, n, d, c, mean, new Rng(2));
  const rng = new Rng(2);
  const perm = rng.permutation(n);
  const gauss = normalizeRows(rng.fillNormal(new Float32Array(c * d)), c, d);
  for (let j = 0; j < c; j++) {
    const fallback = j >= n || zeroRows.includes(perm[j]);
    const want = fallback
      ? gauss.subarray(j * d, j * d + d)
      : normalizeRows(x.slice(perm[j] * d, perm[j] * d + d), 1, d);
    assert.deepEqual(D0.subarray(j * d, j * d + d), want, `row ${j} (fallback ${fallback})`);
  }
});

Deno.test("initialDictionary initRows 0: the Gaussian start, bit for bit", () => {
  const n = 10, d = 7, c = 16;
  const { x, mean } = table(n, d);
  const D0 = initialDictionary(0, x, n, d, c, mean, new Rng(9));
  assert.deepEqual(D0, normalizeRows(new Rng(9).fillNormal(new Float32Array(c * d)), c, d));
});

Deno.test("initialDictionary initRows f: ⌊L·f⌋ row starts in every prefix of L, the rest the Gaussian draws", () => {
  const n = 30, d = 5, c = 24;
  const { x, mean } = table(n, d);
  for (const f of [0.5, 0.25, 1 / 3, 0.9]) {
    const D0 = initialDictionary(f, x, n, d, c, mean, new Rng(5));
    const rng = new Rng(5);
    const perm = rng.permutation(n);
    const gauss = normalizeRows(rng.fillNormal(new Float32Array(c * d)), c, d);
    let fromRows = 0;
    for (let j = 0; j < c; j++) {
      const row = D0.subarray(j * d, j * d + d);
      if (startsAtRow(j, f)) {
        fromRows++;
        const ref = new Float64Array(d);
        let s = 0;
        for (let t = 0; t < d; t++) {
          ref[t] = Math.fround(x[perm[j] * d + t] - mean[t]);
          s += ref[t] * ref[t];
        }
        for (let t = 0; t < d; t++) {
          assert.ok(Math.abs(row[t] - ref[t] / Math.sqrt(s)) < 1e-6, `f ${f} row ${j} dim ${t}`);
        }
      } else {
        assert.deepEqual(row, gauss.subarray(j * d, j * d + d), `f ${f} row ${j}: Gaussian`);
      }
      assert.equal(
        fromRows,
        Math.floor((j + 1) * f),
        `f ${f}: row starts among the first ${j + 1}`,
      );
    }
  }
});

Deno.test("sae initRows 1: a fit at a negligible lr stays at its start: W and D at the same rows; same seed, same bits", async () => {
  const n = 512, d = 16, c = 64, k = 4;
  const x = normalizeRows(new Rng(3).fillNormal(new Float32Array(n * d)), n, d);
  const be = await createBackend("cpu");
  try {
    const o = { c, k, seed: 4, batchSize: 256, epochs: 1, lr: 1e-9, initRows: 1 };
    const a = await fitSae("batchtopk", x, n, d, o, be);
    const b = await fitSae("batchtopk", x, n, d, o, be);
    assert.deepEqual(a.dictionary, b.dictionary);
    // lr 1e-9: D and W stay (to ~1e-6) at the initial rows: decoder rows are centred training rows
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t];
    for (let t = 0; t < d; t++) mean[t] /= n;
    const D0 = initialDictionary(1, x, n, d, c, mean, new Rng(4));
    const wEnc = a.exportWeights().tensors.W_enc.data; // d×c: column j is encoder row j
    for (let j = 0; j < c; j++) {
      for (let t = 0; t < d; t++) {
        const i = j * d + t;
        assert.ok(
          Math.abs(a.dictionary[i] - D0[i]) < 1e-5,
          `D[${j},${t}] ${a.dictionary[i]} vs ${D0[i]}`,
        );
        assert.ok(
          Math.abs(wEnc[t * c + j] - D0[i]) < 1e-5,
          `W[${j},${t}] ${wEnc[t * c + j]} vs ${D0[i]}`,
        );
      }
    }
  } finally {
    be.close();
  }
});
