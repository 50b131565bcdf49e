import assert from "node:assert/strict";
import { auroc, AurocColumns } from "../analysis/auroc.ts";
import { Rng } from "../data/random.ts";
import { UserError } from "../pipeline/errors.ts";

/** Direct O(n²) Mann–Whitney count in float64 (the definition). */
function pairCount(s: ArrayLike<number>, y: ArrayLike<number>): number {
  let u = 0, np = 0, nn = 0;
  for (let a = 0; a < s.length; a++) {
    if (y[a]) np++;
    else nn++;
    if (!y[a]) continue;
    for (let b = 0; b < s.length; b++) {
      if (y[b]) continue;
      u += s[a] > s[b] ? 1 : s[a] === s[b] ? 0.5 : 0;
    }
  }
  return u / (np * nn);
}

Deno.test("AurocColumns equals auroc bit for bit: ties, ±0, ±∞, strided columns", () => {
  const rng = new Rng(11);
  const special = [0, -0, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, -3.4e38];
  for (let trial = 0; trial < 30; trial++) {
    const n = 2 + rng.int(400), cols = 1 + rng.int(5);
    const y = Array.from({ length: n }, () => (rng.uniform() < 0.3 ? 1 : 0));
    y[0] = 1;
    y[1] = 0;
    const block = new Float32Array(n * cols);
    for (let t = 0; t < block.length; t++) {
      const r = rng.uniform();
      block[t] = r < 0.2 ? special[rng.int(special.length)] : r < 0.6
        ? rng.int(7) - 3 // many ties, negatives
        : rng.normal() * 10 ** (rng.int(9) - 4);
    }
    const cols32 = new AurocColumns(y);
    for (let q = 0; q < cols; q++) {
      const col = Array.from({ length: n }, (_, i) => block[i * cols + q]);
      const want = auroc(col, y);
      assert.ok(Object.is(cols32.column(block, q, cols), want), `trial ${trial} column ${q}`);
      assert.ok(Math.abs(want - pairCount(col, y)) < 1e-12);
    }
  }
});

Deno.test("AurocColumns: one class → NaN, a NaN score → UserError", () => {
  assert.ok(Number.isNaN(new AurocColumns([1, 1, 1]).column(Float32Array.of(1, 2, 3))));
  assert.throws(() => new AurocColumns([1, 0]).column(Float32Array.of(1, NaN)), UserError);
  assert.equal(new AurocColumns([0, 1, 0, 1]).column(Float32Array.of(-0, 0, 2, 2)), 0.5);
});
