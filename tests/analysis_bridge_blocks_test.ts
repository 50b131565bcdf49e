import assert from "node:assert/strict";
import { Rng } from "../data/random.ts";
import type { CsrCodes } from "../data/csr_codes.ts";
import { bridgeScores, type CosineBlockFn, type PairedCodes } from "../analysis/bridge.ts";
import { randomDictionary } from "../analysis/null_dictionary.ts";
import { syncProducts } from "../analysis/sync_products.ts";

/** Random CSR codes: k distinct concepts per row drawn from the first `pool` concepts. */
function codes(rows: number, c: number, k: number, pool: number, rng: Rng): CsrCodes {
  const rowPtr = new Int32Array(rows + 1);
  const index: number[] = [], value: number[] = [];
  for (let r = 0; r < rows; r++) {
    const set = new Set<number>();
    while (set.size < k) set.add(rng.int(pool));
    for (const j of [...set].sort((a, b) => a - b)) {
      index.push(j);
      value.push(rng.uniform() + 0.01);
    }
    rowPtr[r + 1] = index.length;
  }
  return { rows, cols: c, rowPtr, index: Int32Array.from(index), value: Float32Array.from(value) };
}

/** Float64 reference of B_ij = E_p[z_img,i·z_txt,j]·cos_ij (raw) as a dense c×c array. */
function rawReference(paired: PairedCodes, dict: Float32Array, c: number, d: number) {
  const P = paired.image.rows;
  const co = new Float64Array(c * c);
  for (let p = 0; p < P; p++) {
    const zi = paired.image, zt = paired.text;
    for (let a = zi.rowPtr[p]; a < zi.rowPtr[p + 1]; a++) {
      for (let b = zt.rowPtr[p]; b < zt.rowPtr[p + 1]; b++) {
        co[zi.index[a] * c + zt.index[b]] += zi.value[a] * zt.value[b];
      }
    }
  }
  const b = new Float64Array(c * c);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j < c; j++) {
      let cos = 0;
      for (let t = 0; t < d; t++) cos += dict[i * d + t] * dict[j * d + t];
      b[i * c + j] = (co[i * c + j] / P) * cos;
    }
  }
  return b;
}

/** A float32 cosine block (what a BLAS sgemm returns), for when no BLAS is loaded. */
const float32Cosines: CosineBlockFn = (dict, c, d, start, count) => {
  const out = new Float32Array(count * c);
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < c; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) {
        s = Math.fround(s + Math.fround(dict[(start + r) * d + t] * dict[j * d + t]));
      }
      out[r * c + j] = s;
    }
  }
  return out;
};

Deno.test("bridge by blocks: every block size gives the same bytes; float32 cosine blocks agree with float64", async () => {
  const rng = new Rng(5);
  const c = 96, d = 12, P = 400;
  const dict = randomDictionary(c, d, 2);
  // Dense enough (pool 40 of 96) that blocks take the cosine product, sparse elsewhere.
  const paired: PairedCodes = { image: codes(P, c, 6, 40, rng), text: codes(P, c, 5, c, rng) };
  const m = Array.from({ length: c }, (_, j) => (j % 2 ? 0.8 : 0.2));
  const ref = rawReference(paired, dict, c, d);
  const products = await syncProducts();
  const runs = [1, 7, 32, c].flatMap((block) => [
    { block, r: bridgeScores(paired, dict, c, d, { modalityScore: m, topN: 20, block }) },
    {
      block,
      r: bridgeScores(paired, dict, c, d, {
        modalityScore: m,
        topN: 20,
        block,
        cosineBlock: products.cosineBlock ?? float32Cosines,
      }),
    },
  ]);
  const plain = runs.filter((_, q) => q % 2 === 0).map((x) => x.r);
  for (const r of plain.slice(1)) {
    assert.deepEqual(r.massImage, plain[0].massImage);
    assert.deepEqual(r.massText, plain[0].massText);
    assert.deepEqual(r.top, plain[0].top);
    assert.equal(r.coactivePairs, plain[0].coactivePairs);
  }
  for (const { block, r } of runs) {
    for (let i = 0; i < c; i++) {
      let row = 0, col = 0;
      for (let j = 0; j < c; j++) {
        row += Math.abs(ref[i * c + j]);
        col += Math.abs(ref[j * c + i]);
      }
      assert.ok(
        Math.abs(r.massImage[i] - row) <= 1e-6 * Math.max(1, row),
        `block ${block} mass ${i}`,
      );
      assert.ok(
        Math.abs(r.massText[i] - col) <= 1e-6 * Math.max(1, col),
        `block ${block} text ${i}`,
      );
      assert.ok(Math.abs(r.selfBridge[i] - ref[i * c + i]) <= 1e-6, `block ${block} self ${i}`);
    }
    for (const p of r.top) {
      assert.ok(Math.abs(p.value - ref[p.i * c + p.j]) <= 1e-6, `block ${block} top ${p.i},${p.j}`);
      assert.ok(m[p.i] > 0.5 && m[p.j] < 0.5 && p.i !== p.j);
    }
    // The 20 largest admissible reference values are the ones reported (to tolerance).
    const want: number[] = [];
    for (let i = 0; i < c; i++) {
      for (let j = 0; j < c; j++) {
        if (i !== j && m[i] > 0.5 && m[j] < 0.5 && ref[i * c + j] > 0) want.push(ref[i * c + j]);
      }
    }
    want.sort((a, b) => b - a);
    r.top.forEach((p, q) =>
      assert.ok(Math.abs(p.value - want[q]) <= 1e-6, `block ${block} rank ${q}`)
    );
  }
});
