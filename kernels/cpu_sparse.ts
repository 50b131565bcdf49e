/**
 * Sparse products on host arrays (CSR codes Z, n×c, with dictionary D, c×d): decode, gradient
 * sampling and scatters. Each touches only the active entries: O(nnz·d) work.
 */
import type { CsrCodes } from "./host_sparse.ts";

/** out (n×d) = Z·D (+ bias, length d, when given). */
export function sparseDecodeHost(
  z: CsrCodes,
  dict: Float32Array,
  d: number,
  bias: Float32Array | null,
  out: Float32Array,
): void {
  const { rowPtr, index, value } = z;
  for (let i = 0; i < z.rows; i++) {
    const o = i * d;
    if (bias) out.set(bias, o);
    else out.fill(0, o, o + d);
    const e1 = rowPtr[i + 1];
    let e = rowPtr[i];
    // two entries at a time: halves the passes over the output row
    for (; e + 1 < e1; e += 2) {
      const v0 = value[e], v1 = value[e + 1];
      const b0 = index[e] * d, b1 = index[e + 1] * d;
      let t = 0;
      for (; t + 4 <= d; t += 4) {
        out[o + t] += v0 * dict[b0 + t] + v1 * dict[b1 + t];
        out[o + t + 1] += v0 * dict[b0 + t + 1] + v1 * dict[b1 + t + 1];
        out[o + t + 2] += v0 * dict[b0 + t + 2] + v1 * dict[b1 + t + 2];
        out[o + t + 3] += v0 * dict[b0 + t + 3] + v1 * dict[b1 + t + 3];
      }
      for (; t < d; t++) out[o + t] += v0 * dict[b0 + t] + v1 * dict[b1 + t];
    }
    if (e < e1) {
      const v0 = value[e];
      const b0 = index[e] * d;
      for (let t = 0; t < d; t++) out[o + t] += v0 * dict[b0 + t];
    }
  }
}

/** vals[e] = ⟨G_row(e), D_index(e)⟩ for every entry e of Z (G n×d, D c×d). */
export function sparseSampleHost(
  g: Float32Array,
  dict: Float32Array,
  d: number,
  z: CsrCodes,
  vals: Float32Array,
): void {
  const { rowPtr, index } = z;
  for (let i = 0; i < z.rows; i++) {
    const gi = i * d;
    for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
      const b = index[e] * d;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let t = 0;
      for (; t + 4 <= d; t += 4) {
        s0 += g[gi + t] * dict[b + t];
        s1 += g[gi + t + 1] * dict[b + t + 1];
        s2 += g[gi + t + 2] * dict[b + t + 2];
        s3 += g[gi + t + 3] * dict[b + t + 3];
      }
      for (; t < d; t++) s0 += g[gi + t] * dict[b + t];
      vals[e] = s0 + s1 + s2 + s3;
    }
  }
}

/** Scale `out` by beta (beta 0 clears it, even of NaN). */
function scaleInPlace(out: Float32Array, beta: number): void {
  if (beta === 0) out.fill(0);
  else if (beta !== 1) { for (let i = 0; i < out.length; i++) out[i] *= beta; }
}

/**
 * out (c×d) = beta·out + Σ_e vals[e]·G_row(e) added to row index(e) (Zᵀ·G with Z's pattern;
 * `vals` null uses z.value).
 */
export function sparseTransposeProductHost(
  z: CsrCodes,
  vals: Float32Array | null,
  g: Float32Array,
  d: number,
  out: Float32Array,
  beta: number,
): void {
  scaleInPlace(out, beta);
  const { rowPtr, index } = z;
  const v = vals ?? z.value;
  for (let i = 0; i < z.rows; i++) {
    const gi = i * d;
    for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
      const s = v[e];
      if (s === 0) continue;
      const o = index[e] * d;
      let t = 0;
      for (; t + 4 <= d; t += 4) {
        out[o + t] += s * g[gi + t];
        out[o + t + 1] += s * g[gi + t + 1];
        out[o + t + 2] += s * g[gi + t + 2];
        out[o + t + 3] += s * g[gi + t + 3];
      }
      for (; t < d; t++) out[o + t] += s * g[gi + t];
    }
  }
}

/** out (c) = beta·out + column sums of S (Z's pattern, values `vals`). */
export function sparseColumnSumHost(
  z: CsrCodes,
  vals: Float32Array,
  out: Float32Array,
  beta: number,
): void {
  scaleInPlace(out, beta);
  const nnz = z.rowPtr[z.rows];
  const { index } = z;
  for (let e = 0; e < nnz; e++) out[index[e]] += vals[e];
}
