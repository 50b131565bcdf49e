/**
 * conceptCaptionRows against a plain reference (every firing row of a concept sorted by value
 * descending, row ascending; the first N kept), on codes with many exact value ties, concepts
 * longer and shorter than N, image-dominant and caption-only concepts.
 */
import assert from "node:assert/strict";
import { conceptCaptionRows, pairCaptionRows } from "../analysis/labels_select.ts";
import type { CsrCodes } from "../data/csr_codes.ts";
import { Rng } from "../data/random.ts";

/** The selection rule of method.md §10 written as directly as possible. */
function reference(
  z: CsrCodes,
  isImage: Uint8Array,
  pairCaptions: number[][],
  top: number,
  minCaptions: number,
  share: number,
) {
  const caps: { row: number; v: number }[][] = Array.from({ length: z.cols }, () => []);
  const imgs: { row: number; v: number }[][] = Array.from({ length: z.cols }, () => []);
  for (let r = 0; r < z.rows; r++) {
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) {
      if (z.value[e] > 0) (isImage[r] ? imgs : caps)[z.index[e]].push({ row: r, v: z.value[e] });
    }
  }
  const best = (xs: { row: number; v: number }[]) =>
    [...xs].sort((a, b) => b.v - a.v || a.row - b.row).slice(0, top).map((x) => x.row);
  return caps.map((own, j) => {
    if (
      (own.length >= minCaptions && own.length >= share * imgs[j].length) ||
      (own.length > 0 && imgs[j].length === 0)
    ) {
      return { rows: best(own), source: "captions", firingCaptions: own.length };
    }
    const rows = best(imgs[j]).flatMap((r) => pairCaptions[r] ?? []);
    if (imgs[j].length > 0 && rows.length > 0) {
      return { rows, source: "image pairs", firingCaptions: own.length };
    }
    return { rows: [], source: "none", firingCaptions: own.length };
  });
}

Deno.test("conceptCaptionRows equals the sort-everything reference, ties included", () => {
  const rng = new Rng(11);
  const n = 3000, c = 40;
  const isImage = Uint8Array.from({ length: n }, (_, r) => (r % 3 === 0 ? 1 : 0));
  const pairIds = Array.from({ length: n }, (_, r) => `p${Math.floor(r / 3)}`);
  const rowPtr = new Int32Array(n + 1), index: number[] = [], value: number[] = [];
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < c; j++) {
      // concept j fires with a rate that spans short and long columns; image-heavy for j % 5 == 0
      const rate = (j + 1) / (4 * c) * (j % 5 === 0 && !isImage[r] ? 0.1 : 1);
      if (rng.uniform() < rate) {
        index.push(j);
        value.push(rng.uniform() < 0.5 ? Math.ceil(rng.uniform() * 4) / 4 : -0.5); // ties, negatives
      }
    }
    rowPtr[r + 1] = index.length;
  }
  const z = {
    rows: n,
    cols: c,
    rowPtr,
    index: Int32Array.from(index),
    value: Float32Array.from(value),
  };
  const pairs = pairCaptionRows(pairIds, isImage);
  for (const top of [1, 7, 50]) {
    const got = conceptCaptionRows(z, isImage, pairs, { top });
    const want = reference(z, isImage, pairs.map((p) => [...p]), top, 5, 0.25);
    assert.deepEqual(got, want);
    assert.ok(
      got.some((g) => g.source === "image pairs") && got.some((g) => g.source === "captions"),
    );
  }
});
