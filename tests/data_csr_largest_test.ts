/**
 * largestPerRow: the per-row top-k of per-row top-K null codes equals encoding at k directly
 * (analysis/null_dictionary.ts encodeTopK), ties included; so one encoding serves every k.
 */
import assert from "node:assert/strict";
import { largestPerRow } from "../data/csr_codes.ts";
import { encodeTopK, randomDictionary } from "../analysis/null_dictionary.ts";
import { randomUnitRows } from "../data/rows.ts";

Deno.test("largestPerRow of top-K codes equals the top-k encoding, for every k ≤ K", () => {
  const n = 300, d = 24, c = 64, K = 12;
  const x = randomUnitRows(n, d, 5);
  const dict = randomDictionary(c, d, 6);
  // exact ties: duplicate dictionary rows 1 → 40 and 2 → 41 (equal scores, lower index wins)
  dict.set(dict.subarray(d, 3 * d), 40 * d);
  const top = encodeTopK(x, n, d, dict, c, K);
  let tiesSeen = 0;
  for (let k = 1; k <= K; k++) {
    const want = encodeTopK(x, n, d, dict, c, k);
    const got = largestPerRow(top, k);
    assert.deepEqual(Array.from(got.rowPtr), Array.from(want.rowPtr), `rowPtr at k=${k}`);
    const nnz = want.rowPtr[n];
    assert.deepEqual(
      Array.from(got.index.subarray(0, nnz)),
      Array.from(want.index.subarray(0, nnz)),
    );
    assert.deepEqual(
      Array.from(got.value.subarray(0, nnz)),
      Array.from(want.value.subarray(0, nnz)),
    );
    for (let e = 0; e < nnz; e++) if (want.index[e] === 1 || want.index[e] === 2) tiesSeen++;
  }
  assert.ok(tiesSeen > 0, "the tie columns were exercised");
});

Deno.test("largestPerRow keeps concept order and handles k = 0 and short rows", () => {
  const codes = {
    rows: 2,
    cols: 5,
    rowPtr: Int32Array.from([0, 3, 4]),
    index: Int32Array.from([4, 0, 2, 3]),
    value: Float32Array.from([0.5, 0.9, 0.5, 0.1]),
  };
  const two = largestPerRow(codes, 2);
  assert.deepEqual(Array.from(two.rowPtr), [0, 2, 3]);
  assert.deepEqual(Array.from(two.index), [0, 2, 3]); // 0.5 tie: column 2 before column 4
  assert.deepEqual(Array.from(largestPerRow(codes, 0).rowPtr), [0, 0, 0]);
});
