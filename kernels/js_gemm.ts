/**
 * GEMM in TypeScript loops (about 1–2 GFLOP/s): the last-resort provider, and the one used for
 * work that is small by construction.
 */
import type { GemmCall, GemmProvider } from "./gemm_provider.ts";

/**
 * C (m×n) = alpha·op(A)·op(B) + beta·C on contiguous row-major arrays (see {@link GemmCall}).
 * Transposed operands are first copied to row-major op(A) / op(B); the product is an i-k-j loop
 * blocked over k so that a row of C stays in cache.
 */
function jsSgemm(call: GemmCall): void {
  const { m, n, k, alpha, beta, c } = call;
  const a = call.transA ? transpose(call.a, k, m) : call.a; // m×k
  const b = call.transB ? transpose(call.b, n, k) : call.b; // k×n
  if (beta === 0) c.fill(0, 0, m * n);
  else if (beta !== 1) { for (let i = 0; i < m * n; i++) c[i] *= beta; }
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const s = alpha * a[i * k + p];
      if (s === 0) continue;
      const bp = p * n;
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        c[ci + j] += s * b[bp + j];
        c[ci + j + 1] += s * b[bp + j + 1];
        c[ci + j + 2] += s * b[bp + j + 2];
        c[ci + j + 3] += s * b[bp + j + 3];
      }
      for (; j < n; j++) c[ci + j] += s * b[bp + j];
    }
  }
}

/** Transpose of a row-major rows×cols matrix (returns cols×rows). */
export function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) out[j * rows + i] = x[i * cols + j];
      }
    }
  }
  return out;
}

/** The TypeScript-loop provider. */
export function createJsGemm(): GemmProvider {
  return {
    name: "js",
    detail: "TypeScript loops",
    sync: true,
    sgemm: jsSgemm,
    close() {},
  };
}
