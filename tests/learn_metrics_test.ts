import assert from "node:assert/strict";
import { Rng } from "../data/random.ts";
import type { Modality } from "../data/embeddings.ts";
import type { HostSparseCodes } from "../learn/learner.ts";
import {
  deadFraction,
  evaluateReconstruction,
  meanL0,
  reconstructionR2,
} from "../learn/metrics.ts";

/** Direct float64 formulas of method.md §3 over the listed rows. */
function directR2(a: Float32Array, ahat: Float32Array, d: number, rows: number[]) {
  const m = rows.length;
  let sse = 0;
  const mean = new Array(d).fill(0);
  let all = 0;
  for (const i of rows) {
    for (let t = 0; t < d; t++) {
      sse += (a[i * d + t] - ahat[i * d + t]) ** 2;
      mean[t] += a[i * d + t] / m;
      all += a[i * d + t] / (m * d);
    }
  }
  let s1 = 0;
  let s2 = 0;
  for (const i of rows) {
    for (let t = 0; t < d; t++) {
      s1 += (a[i * d + t] - mean[t]) ** 2;
      s2 += (a[i * d + t] - all) ** 2;
    }
  }
  return { r2: 1 - sse / s1, r2Zero: 1 - sse / s2 };
}

function data(n: number, d: number, seed: number) {
  const rng = new Rng(seed);
  const a = new Float32Array(n * d);
  const ahat = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) {
      a[i * d + t] = rng.normal() + 0.7 + 0.1 * t; // non-zero, dimension-dependent mean
      ahat[i * d + t] = a[i * d + t] + 0.3 * rng.normal();
    }
  }
  return { a, ahat };
}

Deno.test("r2 and r2_zero match the direct float64 formulas, pooled and on a row subset", () => {
  const n = 97;
  const d = 13;
  const { a, ahat } = data(n, d, 1);
  const all = Array.from({ length: n }, (_, i) => i);
  const got = reconstructionR2(a, ahat, n, d);
  const ref = directR2(a, ahat, d, all);
  assert.ok(Math.abs(got.r2 - ref.r2) < 1e-12);
  assert.ok(Math.abs(got.r2Zero - ref.r2Zero) < 1e-12);
  assert.ok(got.r2Zero > got.r2, "the scalar mean explains less variance, so r2_zero > r2");
  const sub = all.filter((i) => i % 3 === 1);
  const gs = reconstructionR2(a, ahat, n, d, sub);
  const rs = directR2(a, ahat, d, sub);
  assert.equal(gs.n, sub.length);
  assert.ok(Math.abs(gs.r2 - rs.r2) < 1e-12);
  assert.ok(Math.abs(gs.r2Zero - rs.r2Zero) < 1e-12);
  // perfect reconstruction: 1; predicting the per-dimension mean: 0
  assert.equal(reconstructionR2(a, a, n, d).r2, 1);
  const meanRows = new Float32Array(n * d);
  for (let t = 0; t < d; t++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[i * d + t];
    for (let i = 0; i < n; i++) meanRows[i * d + t] = s / n;
  }
  assert.ok(Math.abs(reconstructionR2(a, meanRows, n, d).r2) < 1e-6);
  assert.ok(Number.isNaN(reconstructionR2(a, ahat, n, d, []).r2));
});

const codes: HostSparseCodes = {
  rows: 4,
  cols: 6,
  rowPtr: Int32Array.of(0, 2, 2, 5, 6),
  index: Int32Array.of(0, 3, 1, 3, 4, 0),
  value: Float32Array.of(1, 0.5, 0, 2, 1, 3), // one stored zero (row 2, concept 1)
};

Deno.test("ℓ0 counts non-zero codes per row; dead fraction over the pass", () => {
  assert.equal(meanL0(codes), (2 + 0 + 2 + 1) / 4);
  assert.equal(meanL0(codes, [0, 1]), 1);
  // alive: 0, 3, 4 (1 holds a stored zero) → dead 1, 2, 5
  assert.equal(deadFraction(codes), 3 / 6);
  assert.equal(deadFraction(codes, [3]), 5 / 6);
});

Deno.test("evaluateReconstruction: pooled, image and text scopes with their own means", () => {
  const n = 4;
  const d = 3;
  const { a, ahat } = data(n, d, 2);
  const modality: Modality[] = ["image", "text", "image", "text"];
  const s = evaluateReconstruction(a, ahat, codes, n, d, modality);
  assert.deepEqual(s.map((x) => x.scope), ["pooled", "image", "text"]);
  const img = directR2(a, ahat, d, [0, 2]);
  assert.ok(Math.abs(s[1].r2 - img.r2) < 1e-12);
  assert.ok(Math.abs(s[1].r2Zero - img.r2Zero) < 1e-12);
  assert.equal(s[1].l0, 2);
  assert.equal(s[2].l0, 0.5);
  assert.equal(s[1].nRows, 2);
  assert.equal(s[0].deadFraction, 0.5);
  assert.equal(s[2].deadFraction, 5 / 6);
});
