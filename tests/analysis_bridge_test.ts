import assert from "node:assert/strict";
import { Rng } from "../data/random.ts";
import type { Modality } from "../data/embeddings.ts";
import type { HostSparseCodes } from "../learn/learner.ts";
import {
  type BridgeNormalisation,
  bridgeScores,
  pairCodes,
  type PairedCodes,
} from "../analysis/bridge.ts";
import { encodeTopK, randomDictionary } from "../analysis/null_dictionary.ts";

/** Random sparse codes: `k` distinct concepts per row among `c`, values in (0, 1]. */
function randomCodes(
  rows: number,
  c: number,
  k: number,
  rng: Rng,
  pool?: number[],
): HostSparseCodes {
  const rowPtr = new Int32Array(rows + 1);
  const index: number[] = [];
  const value: number[] = [];
  for (let r = 0; r < rows; r++) {
    const chosen = new Set<number>();
    while (chosen.size < k) chosen.add(pool ? pool[rng.int(pool.length)] : rng.int(c));
    for (const j of chosen) {
      index.push(j);
      value.push(rng.uniform() + 0.01);
    }
    rowPtr[r + 1] = index.length;
  }
  return { rows, cols: c, rowPtr, index: Int32Array.from(index), value: Float32Array.from(value) };
}

function dense(z: HostSparseCodes): Float64Array {
  const out = new Float64Array(z.rows * z.cols);
  for (let r = 0; r < z.rows; r++) {
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) out[r * z.cols + z.index[e]] += z.value[e];
  }
  return out;
}

/** Dense float64 reference of B (c×c) for every normalisation. */
function denseBridge(
  paired: PairedCodes,
  dict: Float32Array,
  c: number,
  d: number,
  norm: BridgeNormalisation,
): Float64Array {
  const P = paired.image.rows;
  const zi = dense(paired.image), zt = dense(paired.text);
  const b = new Float64Array(c * c);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j < c; j++) {
      let co = 0, mi = 0, nj = 0, ei = 0, ej = 0;
      for (let p = 0; p < P; p++) {
        co += zi[p * c + i] * zt[p * c + j];
        mi += zi[p * c + i];
        nj += zt[p * c + j];
        ei += zi[p * c + i] ** 2;
        ej += zt[p * c + j] ** 2;
      }
      co /= P, mi /= P, nj /= P, ei /= P, ej /= P;
      let cos = 0;
      for (let t = 0; t < d; t++) cos += dict[i * d + t] * dict[j * d + t];
      if (norm === "raw") b[i * c + j] = co * cos;
      else if (norm === "centred") b[i * c + j] = (co - mi * nj) * cos;
      else b[i * c + j] = ei * ej > 0 ? (co * cos) / Math.sqrt(ei * ej) : 0;
    }
  }
  return b;
}

for (const signed of [false, true]) {
  Deno.test(`sparse bridge equals a dense float64 reference for every normalisation${signed ? " (signed codes, cone-shaped dictionary)" : ""}`, () => {
    const rng = new Rng(signed ? 8 : 1);
    const c = 24, d = 6, P = 40;
    const dict = randomDictionary(c, d, 3);
    if (signed) {
      // Every direction shares a common component: most cosines are positive.
      for (let j = 0; j < c; j++) {
        dict[j * d] += 1.5;
        const nn = Math.hypot(...dict.subarray(j * d, (j + 1) * d));
        for (let t = 0; t < d; t++) dict[j * d + t] /= nn;
      }
    }
    const paired: PairedCodes = {
      image: randomCodes(P, c, 3, rng),
      text: randomCodes(P, c, 4, rng),
    };
    if (signed) {
      for (const z of [paired.image, paired.text]) {
        for (let e = 0; e < z.value.length; e++) if (rng.uniform() < 0.4) z.value[e] *= -1;
      }
    }
    const m = Array.from({ length: c }, (_, j) => (j % 3 === 0 ? NaN : j / c));
    for (const norm of ["raw", "correlation", "centred"] as const) {
      const ref = denseBridge(paired, dict, c, d, norm);
      const got = bridgeScores(paired, dict, c, d, {
        normalisation: norm,
        modalityScore: m,
        topN: 15,
        imageMin: 0.4,
        textMax: 0.6,
        block: 5,
      });
      for (let i = 0; i < c; i++) {
        assert.ok(Math.abs(got.selfBridge[i] - ref[i * c + i]) < 1e-6, `${norm} self ${i}`);
        let rowMass = 0, colMass = 0;
        for (let j = 0; j < c; j++) {
          rowMass += Math.abs(ref[i * c + j]);
          colMass += Math.abs(ref[j * c + i]);
        }
        assert.ok(Math.abs(got.massImage[i] - rowMass) < 1e-6, `${norm} mass_image ${i}`);
        assert.ok(Math.abs(got.massText[i] - colMass) < 1e-6, `${norm} mass_text ${i}`);
      }
      // Top pairs: the 15 largest positive B_ij with m_i > 0.4, m_j < 0.6, i ≠ j.
      const cand: { i: number; j: number; v: number }[] = [];
      for (let i = 0; i < c; i++) {
        for (let j = 0; j < c; j++) {
          const v = ref[i * c + j];
          if (i !== j && v > 0 && m[i] > 0.4 && m[j] < 0.6) cand.push({ i, j, v });
        }
      }
      cand.sort((a, b) => b.v - a.v);
      const want = cand.slice(0, 15);
      assert.equal(got.top.length, want.length, `${norm} top length`);
      got.top.forEach((p, r) => {
        assert.ok(Math.abs(p.value - want[r].v) < 1e-6, `${norm} top ${r} value`);
        assert.ok(Math.abs(ref[p.i * c + p.j] - p.value) < 1e-6, `${norm} top ${r} entry`);
      });
      if (norm === "centred" && !signed) assert.ok(got.top.some((p) => p.coactivation === 0));
    }
  });
}

Deno.test("pairCodes: caption-level pairs and per-image caption averaging", () => {
  const z: HostSparseCodes = {
    rows: 5,
    cols: 4,
    rowPtr: Int32Array.from([0, 1, 2, 3, 4, 5]),
    index: Int32Array.from([0, 1, 2, 1, 3]),
    value: Float32Array.from([1, 2, 4, 1, 9]),
  };
  const pairIds = ["a", "a", "a", "b", "z"]; // row 4: caption without image
  const mod: Modality[] = ["image", "text", "text", "image", "text"];
  const cap = pairCodes(z, pairIds, mod, "caption");
  assert.equal(cap.image.rows, 2);
  assert.deepEqual(Array.from(cap.text.index), [1, 2]);
  const img = pairCodes(z, pairIds, mod, "image");
  assert.equal(img.image.rows, 1);
  assert.deepEqual(Array.from(img.text.index), [1, 2]);
  assert.deepEqual(Array.from(img.text.value), [1, 2]);
});

Deno.test("bridge on a planted world ranks planted twins with precision@N ≥ 0.9", () => {
  // 12 twin concepts: an image direction and a text direction (cos 0.3) each, plus 8 image-only
  // and 8 text-only distractors that fire independently. Codes come from top-k encoding of the
  // synthetic embeddings with the planted dictionary.
  const d = 64, twins = 12, solo = 8, nImg = 400, captions = 2;
  const rng = new Rng(5);
  const base = randomDictionary(2 * twins + 2 * solo, d, 17);
  const c = 2 * twins + 2 * solo;
  const dict = new Float32Array(c * d);
  // Twin t: image direction row t, text direction row twins + t, cos ≈ 0.3.
  for (let t = 0; t < twins; t++) {
    for (let q = 0; q < d; q++) {
      dict[t * d + q] = base[t * d + q];
      dict[(twins + t) * d + q] = 0.3 * base[t * d + q] + 0.954 * base[(twins + t) * d + q];
    }
  }
  dict.set(base.subarray(2 * twins * d), 2 * twins * d);
  for (let j = 0; j < c; j++) {
    let nn = 0;
    for (let q = 0; q < d; q++) nn += dict[j * d + q] ** 2;
    for (let q = 0; q < d; q++) dict[j * d + q] /= Math.sqrt(nn);
  }
  const rows: Float32Array[] = [];
  const pairIds: string[] = [];
  const mod: Modality[] = [];
  const emit = (dirs: number[]) => {
    const v = new Float32Array(d);
    for (const j of dirs) {
      for (let q = 0; q < d; q++) v[q] += (0.5 + rng.uniform()) * dict[j * d + q];
    }
    for (let q = 0; q < d; q++) v[q] += 0.05 * rng.normal();
    return v;
  };
  for (let p = 0; p < nImg; p++) {
    const t1 = rng.int(twins), t2 = (t1 + 1 + rng.int(twins - 1)) % twins;
    rows.push(emit([t1, t2, 2 * twins + rng.int(solo)]));
    pairIds.push(`img${p}`);
    mod.push("image");
    for (let k = 0; k < captions; k++) {
      rows.push(emit([twins + t1, twins + t2, 2 * twins + solo + rng.int(solo)]));
      pairIds.push(`img${p}`);
      mod.push("text");
    }
  }
  const n = rows.length;
  const x = new Float32Array(n * d);
  rows.forEach((r, i) => x.set(r, i * d));
  const codes = encodeTopK(x, n, d, dict, c, 3);
  const m = new Float64Array(c);
  for (let j = 0; j < c; j++) m[j] = j < twins || (j >= 2 * twins && j < 2 * twins + solo) ? 1 : 0;
  const N = 12;
  for (const norm of ["raw", "correlation", "centred"] as const) {
    const r = bridgeScores(pairCodes(codes, pairIds, mod), dict, c, d, {
      normalisation: norm,
      modalityScore: m,
      topN: N,
    });
    const hits = r.top.filter((p) => p.j === p.i + twins).length;
    assert.ok(hits / N >= 0.9, `${norm}: precision@${N} = ${hits / N}`);
  }
});

Deno.test("bridge at c = 16,384 stays sparse and matches direct sums on sampled entries", () => {
  const c = 16384, d = 16, P = 3000, k = 8;
  const rng = new Rng(9);
  const dict = randomDictionary(c, d, 4);
  const paired: PairedCodes = { image: randomCodes(P, c, k, rng), text: randomCodes(P, c, k, rng) };
  const m = new Float64Array(c).map((_, j) => (j % 2 ? 0.9 : 0.1));
  for (const norm of ["raw", "correlation"] as const) {
    const r = bridgeScores(paired, dict, c, d, { normalisation: norm, modalityScore: m, topN: 50 });
    assert.ok(r.coactivePairs <= P * k * k);
    assert.equal(r.top.length, 50);
    // Check the top entries against a direct sum over pairs.
    for (const p of r.top.slice(0, 5)) {
      let co = 0, ei = 0, ej = 0;
      for (let q = 0; q < P; q++) {
        let a = 0, b = 0;
        for (let e = paired.image.rowPtr[q]; e < paired.image.rowPtr[q + 1]; e++) {
          if (paired.image.index[e] === p.i) a = paired.image.value[e];
        }
        for (let e = paired.text.rowPtr[q]; e < paired.text.rowPtr[q + 1]; e++) {
          if (paired.text.index[e] === p.j) b = paired.text.value[e];
        }
        co += a * b;
        ei += a * a;
        ej += b * b;
      }
      let cos = 0;
      for (let t = 0; t < d; t++) cos += dict[p.i * d + t] * dict[p.j * d + t];
      const want = norm === "raw"
        ? (co / P) * cos
        : (co / P) * cos / Math.sqrt((ei / P) * (ej / P));
      assert.ok(Math.abs(p.value - want) < 1e-9 + 1e-6 * Math.abs(want), `${norm} ${p.i},${p.j}`);
      assert.ok(m[p.i] > 0.5 && m[p.j] < 0.5);
    }
  }
});

Deno.test("bridge: bad inputs throw one-line UserErrors naming the parameter", () => {
  const rng = new Rng(2);
  const c = 6, d = 3;
  const dict = randomDictionary(c, d, 1);
  const paired = { image: randomCodes(4, c, 2, rng), text: randomCodes(4, c, 2, rng) };
  const m = new Float64Array(c).fill(0.5);
  assert.throws(
    () =>
      bridgeScores(paired, dict, c, d, {
        modalityScore: m,
        normalisation: "cosine" as unknown as "raw",
      }),
    (e: Error) => e.name === "UserError" && e.message.includes("analysis.bridge.normalisation"),
  );
  assert.throws(
    () => bridgeScores(paired, dict, c, d, { modalityScore: new Float64Array(c - 1) }),
    (e: Error) => e.name === "UserError" && !e.message.includes("\n"),
  );
  assert.throws(
    () => pairCodes(paired.image, ["a"], ["image"]),
    (e: Error) => e.name === "UserError" && e.message.includes("encode the same rows"),
  );
  assert.throws(
    () => encodeTopK(new Float32Array(6), 2, 3, dict, c, 0),
    (e: Error) => e.name === "UserError" && e.message.includes("analysis.null.k"),
  );
});
