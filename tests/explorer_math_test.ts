/**
 * Explorer math against independent references: per-concept activations, statistics and
 * histograms against dense float64 loops; nearest concepts against brute-force cosines; the PCA
 * map against planted axes; per-concept Bridge Score rows and pair examples against the dense
 * c×c matrix of method.md §7.
 */
import assert from "node:assert/strict";
import { Rng } from "../data/random.ts";
import { normalizeRows } from "../data/rows.ts";
import type { HostSparseCodes } from "../learn/learner.ts";
import { activationHistogram, conceptColumns, topActivations } from "../explorer/activations.ts";
import { conceptStatistics } from "../analysis/concept_stats.ts";
import { nearestConcepts } from "../explorer/nearest.ts";
import { pcaMap } from "../analysis/layout_pca.ts";
import { conceptBridgePartners, pairExamples, pairRows } from "../explorer/pairing.ts";

function randomCodes(rng: Rng, rows: number, cols: number, k: number): HostSparseCodes {
  const rowPtr = new Int32Array(rows + 1), index: number[] = [], value: number[] = [];
  for (let r = 0; r < rows; r++) {
    const js = [...rng.permutation(cols)].slice(0, k).sort((a, b) => a - b);
    for (const j of js) {
      index.push(j);
      value.push(Math.round(rng.uniform() * 1000) / 100);
    }
    rowPtr[r + 1] = index.length;
  }
  return { rows, cols, rowPtr, index: Int32Array.from(index), value: Float32Array.from(value) };
}

function dense(z: HostSparseCodes): Float64Array {
  const out = new Float64Array(z.rows * z.cols);
  for (let r = 0; r < z.rows; r++) {
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) out[r * z.cols + z.index[e]] = z.value[e];
  }
  return out;
}

function unitDict(rng: Rng, c: number, d: number): Float32Array {
  return normalizeRows(rng.fillNormal(new Float32Array(c * d)), c, d);
}

const close = (a: number, b: number, tol = 1e-6) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

Deno.test("explorer activations: statistics, top rows, histograms match dense float64", () => {
  const rng = new Rng(1);
  const rows = 60, c = 9;
  const z = randomCodes(rng, rows, c, 3);
  const Z = dense(z);
  const isImage = Uint8Array.from({ length: rows }, (_, r) => (r % 3 === 0 ? 1 : 0));
  const cols = conceptColumns(z);
  const s = conceptStatistics(z, isImage); // what explorer/run_data.ts shows without concepts
  const nI = isImage.reduce((a, b) => a + b, 0), nT = rows - nI;
  for (let j = 0; j < c; j++) {
    let ei = 0, et = 0, fi = 0, ft = 0;
    for (let r = 0; r < rows; r++) {
      const v = Z[r * c + j];
      if (isImage[r]) {
        ei += v;
        fi += v > 0 ? 1 : 0;
      } else {
        et += v;
        ft += v > 0 ? 1 : 0;
      }
    }
    close(s.energy[j], (ei + et) / rows);
    close(s.frequency[j], (fi + ft) / rows);
    close(s.energyImage[j], ei / nI);
    close(s.frequencyText[j], ft / nT);
    close(s.modalityScore[j], ei / nI / (ei / nI + et / nT));
    // Top activations per modality: the largest values of the dense column, descending.
    for (const image of [true, false]) {
      const ref = [...Array(rows).keys()]
        .filter((r) => (isImage[r] === 1) === image && Z[r * c + j] > 0)
        .map((r) => ({ row: r, value: Z[r * c + j] }))
        .sort((a, b) => b.value - a.value || a.row - b.row)
        .slice(0, 4);
      const got = topActivations(cols, j, isImage, image, 4);
      assert.deepEqual(got.map((a) => a.row), ref.map((a) => a.row));
      got.forEach((a, q) => close(a.value, ref[q].value));
    }
    const h = activationHistogram(cols, j, isImage, 5);
    const fired = h.image.reduce((a, b) => a + b, 0) + h.text.reduce((a, b) => a + b, 0);
    assert.equal(fired, fi + ft);
    assert.equal(h.zeroImage, nI - fi);
    assert.equal(h.zeroText, nT - ft);
    // Each value falls in the bin whose edges bracket it.
    let max = 0;
    for (let r = 0; r < rows; r++) max = Math.max(max, Z[r * c + j]);
    close(h.edges[5], max);
  }
});

Deno.test("explorer nearestConcepts equals brute-force cosine ranking", () => {
  const rng = new Rng(2);
  const c = 40, d = 7;
  const D = new Float32Array(c * d).map(() => rng.normal());
  const cos = (a: number, b: number) => {
    let s = 0, na = 0, nb = 0;
    for (let t = 0; t < d; t++) {
      s += D[a * d + t] * D[b * d + t];
      na += D[a * d + t] ** 2;
      nb += D[b * d + t] ** 2;
    }
    return s / Math.sqrt(na * nb);
  };
  for (const j of [0, 13, 39]) {
    const ref = [...Array(c).keys()].filter((q) => q !== j).map((q) => ({ q, v: cos(j, q) }))
      .sort((a, b) => b.v - a.v).slice(0, 5);
    const got = nearestConcepts(D, c, d, j, 5);
    assert.deepEqual(got.map((n) => n.concept), ref.map((r) => r.q));
    got.forEach((n, i) => close(n.cosine, ref[i].v, 1e-5));
  }
  assert.throws(() => nearestConcepts(D, c, d, c, 3), RangeError);
});

Deno.test("explorer pcaMap recovers planted principal axes and variances", () => {
  const rng = new Rng(3);
  const c = 300, d = 10;
  // Orthonormal planted axes u, v (rotated basis vectors), scores a ~ N(0, 9), b ~ N(0, 1).
  const u = new Float64Array(d), v = new Float64Array(d);
  u[0] = Math.SQRT1_2, u[1] = Math.SQRT1_2, v[0] = Math.SQRT1_2, v[1] = -Math.SQRT1_2;
  const a = new Float64Array(c), b = new Float64Array(c);
  const D = new Float32Array(c * d);
  for (let j = 0; j < c; j++) {
    a[j] = 3 * rng.normal();
    b[j] = rng.normal();
    for (let t = 0; t < d; t++) D[j * d + t] = 5 + a[j] * u[t] + b[j] * v[t] + 0.01 * rng.normal();
  }
  const centre = (x: Float64Array) => {
    const m = x.reduce((s, y) => s + y, 0) / x.length;
    return x.map((y) => y - m);
  };
  const ac = centre(a), bc = centre(b);
  const { xy, variance } = pcaMap(D, c, d);
  const corr = (x: Float64Array, y: Float64Array) => {
    let sxy = 0, sxx = 0, syy = 0;
    for (let i = 0; i < x.length; i++) {
      sxy += x[i] * y[i];
      sxx += x[i] ** 2;
      syy += y[i] ** 2;
    }
    return sxy / Math.sqrt(sxx * syy);
  };
  const px = Float64Array.from({ length: c }, (_, j) => xy[2 * j]);
  const py = Float64Array.from({ length: c }, (_, j) => xy[2 * j + 1]);
  assert.ok(Math.abs(corr(px, ac)) > 0.999, `PC1 ~ planted a: ${corr(px, ac)}`);
  assert.ok(Math.abs(corr(py, bc)) > 0.99, `PC2 ~ planted b: ${corr(py, bc)}`);
  // Eigenvalues = sample variances of the planted scores (the noise adds ~1e-4).
  const varOf = (x: Float64Array) => x.reduce((s, y) => s + y * y, 0) / x.length;
  close(variance[0], varOf(ac), 0.02);
  close(variance[1], varOf(bc), 0.05);
  close(px.reduce((s, y) => s + y * y, 0) / c, variance[0], 1e-6);
});

Deno.test("explorer conceptBridgePartners and pairExamples match the dense Bridge Score", () => {
  const rng = new Rng(4);
  const pairs = 25, caps = 2, c = 12, d = 6;
  const pairIds: string[] = [], isImage: number[] = [];
  for (let p = 0; p < pairs; p++) {
    pairIds.push(`p${p}`);
    isImage.push(1);
    for (let q = 0; q < caps; q++) {
      pairIds.push(`p${p}`);
      isImage.push(0);
    }
  }
  pairIds.push("orphan");
  isImage.push(0);
  const n = pairIds.length;
  const z = randomCodes(rng, n, c, 3);
  const Z = dense(z);
  const D = unitDict(rng, c, d);
  const cols = conceptColumns(z);
  const pairing = pairRows(pairIds, isImage);
  assert.equal(pairing.pairs, pairs * caps);
  // Dense reference: B_ij = mean over (image, caption) pairs of z_img,i z_txt,j · cos(D_i, D_j).
  const B = new Float64Array(c * c);
  for (let t = 0; t < n; t++) {
    if (isImage[t] || pairIds[t] === "orphan") continue;
    const r = pairIds.indexOf(pairIds[t]);
    for (let i = 0; i < c; i++) {
      for (let j = 0; j < c; j++) B[i * c + j] += Z[r * c + i] * Z[t * c + j];
    }
  }
  for (let i = 0; i < c; i++) {
    for (let j = 0; j < c; j++) {
      let cos = 0;
      for (let t = 0; t < d; t++) cos += D[i * d + t] * D[j * d + t];
      B[i * c + j] = (B[i * c + j] / (pairs * caps)) * cos;
    }
  }
  for (const j of [0, 5, 11]) {
    const img = conceptBridgePartners(z, cols, pairing, D, d, j, "image", c);
    for (const p of img) close(p.bridge, B[j * c + p.concept], 1e-5);
    const refImg = [...Array(c).keys()].filter((k) => B[j * c + k] !== 0)
      .sort((a, b) => Math.abs(B[j * c + b]) - Math.abs(B[j * c + a]));
    assert.deepEqual(img.map((p) => p.concept), refImg);
    const txt = conceptBridgePartners(z, cols, pairing, D, d, j, "text", 3);
    const refTxt = [...Array(c).keys()].filter((k) => B[k * c + j] !== 0)
      .sort((a, b) => Math.abs(B[b * c + j]) - Math.abs(B[a * c + j])).slice(0, 3);
    assert.deepEqual(txt.map((p) => p.concept), refTxt);
    for (const p of txt) close(p.bridge, B[p.concept * c + j], 1e-5);
  }
  // Examples of pair (i, j): products z_img,i · z_txt,j over actual pairs, descending.
  const i = 2, j = 7;
  const ex = pairExamples(z, cols, pairing, i, j, 50);
  const ref: number[] = [];
  for (let t = 0; t < n; t++) {
    if (isImage[t] || pairIds[t] === "orphan") continue;
    const r = pairIds.indexOf(pairIds[t]);
    const v = Z[r * c + i] * Z[t * c + j];
    if (v > 0) ref.push(v);
  }
  ref.sort((a, b) => b - a);
  assert.equal(ex.length, ref.length);
  ex.forEach((e, q) => {
    close(e.imageValue * e.textValue, ref[q], 1e-5);
    assert.equal(pairIds[e.imageRow], pairIds[e.textRow]);
    assert.equal(isImage[e.imageRow], 1);
  });
});
