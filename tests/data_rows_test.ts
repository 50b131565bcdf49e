/** Shared row math (data/rows.ts) against float64 references. */
import assert from "node:assert/strict";
import { Rng } from "../data/random.ts";
import { normalizedRows, normalizeRows } from "../data/rows.ts";

/** Float64 reference: row i divided by its norm, zero rows zero. */
function unitReference(x: ArrayLike<number>, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j] ** 2;
    for (let j = 0; j < d; j++) out[i * d + j] = s === 0 ? 0 : x[i * d + j] / Math.sqrt(s);
  }
  return out;
}

Deno.test("rows normalizeRows: matches float64 in place, zero rows stay zero", () => {
  const rng = new Rng(2);
  const n = 7, d = 13;
  const x = rng.fillNormal(new Float32Array(n * d));
  x.fill(0, 2 * d, 3 * d);
  const want = unitReference(x, n, d);
  assert.equal(normalizeRows(x, n, d), x);
  for (let e = 0; e < n * d; e++) assert.ok(Math.abs(x[e] - want[e]) < 1e-7, `entry ${e}`);
  for (let j = 0; j < d; j++) assert.equal(x[2 * d + j], 0);
  assert.throws(() => normalizeRows(x, n, d + 1), RangeError);
});

Deno.test("rows normalizedRows: a unit copy of the first n rows, the input untouched", () => {
  const rng = new Rng(3);
  const n = 5, d = 4;
  const x = rng.fillNormal(new Float32Array((n + 2) * d), 3);
  const before = x.slice();
  const y = normalizedRows(x, n, d);
  assert.deepEqual(x, before);
  assert.equal(y.length, n * d);
  const want = unitReference(x, n, d);
  for (let e = 0; e < n * d; e++) assert.ok(Math.abs(y[e] - want[e]) < 1e-7, `entry ${e}`);
});
