/**
 * Independent float64 reference of the tiny dual encoder (embed/testing/tiny_dual_encoder.ts):
 * tokenisation, preprocessing at native size and both towers, written from the network's
 * definition, sharing no code with embed/.
 */
import assert from "node:assert/strict";
import type { TinyDualEncoderWeights } from "../../embed/testing/tiny_dual_encoder.ts";

/** Reference tokenisation: lowercase, whitespace split, `<s> … </s>`, pad 0 to L. */
export function refTokens(
  w: TinyDualEncoderWeights,
  text: string,
  L: number,
): [number[], number[]] {
  const words = text.toLowerCase().split(/\s+/).filter((x) => x.length > 0);
  const ids = [2, ...words.map((x) => w.vocab[x] ?? 1), 3].slice(0, L);
  const mask = ids.map(() => 1);
  while (ids.length < L) {
    ids.push(0);
    mask.push(0);
  }
  return [ids, mask];
}

export function normalize(v: number[]): number[] {
  const s = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return v.map((x) => x / s);
}

/** Reference text tower in float64. */
export function refText(w: TinyDualEncoderWeights, text: string, L: number): number[] {
  const [ids, mask] = refTokens(w, text, L);
  const h = new Array(w.hidden).fill(0);
  for (let l = 0; l < L; l++) {
    const m = w.textUsesMask ? mask[l] : 1;
    for (let k = 0; k < w.hidden; k++) h[k] += m * w.emb[ids[l] * w.hidden + k];
  }
  const t = h.map(Math.tanh);
  const out = new Array(w.dim).fill(0);
  for (let k = 0; k < w.hidden; k++) {
    for (let j = 0; j < w.dim; j++) out[j] += t[k] * w.pt[k * w.dim + j];
  }
  return normalize(out);
}

/** Reference vision tower in float64 from HWC RGB bytes of an S×S image. */
export function refImage(w: TinyDualEncoderWeights, rgb: ArrayLike<number>): number[] {
  const S = w.imageSize;
  const x = new Array(3 * S * S);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < S * S; p++) {
      x[c * S * S + p] = (rgb[p * 3 + c] / 255 - w.imageMean[c]) / w.imageStd[c];
    }
  }
  const h = new Array(w.hidden).fill(0);
  for (let i = 0; i < 3 * S * S; i++) {
    for (let k = 0; k < w.hidden; k++) h[k] += x[i] * w.wv[i * w.hidden + k];
  }
  const t = h.map((v, k) => Math.tanh(v + w.bv[k]));
  const out = new Array(w.dim).fill(0);
  for (let k = 0; k < w.hidden; k++) {
    for (let j = 0; j < w.dim; j++) out[j] += t[k] * w.pv[k * w.dim + j];
  }
  return normalize(out);
}

export function assertClose(actual: Float32Array, row: number, expected: number[], tol: number) {
  const d = expected.length;
  for (let j = 0; j < d; j++) {
    const a = actual[row * d + j];
    assert.ok(
      Math.abs(a - expected[j]) <= tol,
      `row ${row} dim ${j}: got ${a}, expected ${expected[j]}`,
    );
  }
}
