/**
 * The synchronous matrix products the analyses take as injectable functions (null-dictionary
 * scores, Gram matrices, dictionary cosine blocks), backed by the shared host GEMM provider when
 * it is synchronous (OpenBLAS, JS); absent otherwise, so the analyses fall back to their JS loops.
 */
import { hostGemmProvider } from "../kernels/host_gemm.ts";
import type { ScoreBlockFn } from "./null_dictionary.ts";
import type { GramFn } from "./lda.ts";
import type { CosineBlockFn } from "./bridge.ts";

/** BLAS-backed synchronous products for the analyses, or none (JS defaults) without BLAS. */
export interface SyncProducts {
  /** S = X·Dᵀ (rows×c) of a row block X (rows×d) and a dictionary D (c×d). */
  scores?: ScoreBlockFn;
  /** G = XᵀX (d×d) of rows X (n×d). */
  gram?: GramFn;
  /** Rows start..start+count of D·Dᵀ (count×c). */
  cosineBlock?: CosineBlockFn;
  /** Provider name, for the log. */
  name: string;
}

/** Products through the shared host GEMM provider when it is synchronous (OpenBLAS, JS). */
export async function syncProducts(): Promise<SyncProducts> {
  const p = await hostGemmProvider();
  if (!p.sync) return { name: `${p.name} (async: JS loops used)` };
  const run = (
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
  ) => {
    const c = new Float32Array(m * n);
    p.sgemm({ transA, transB, m, n, k, alpha: 1, beta: 0, a, b, c });
    return c;
  };
  return {
    name: p.name,
    scores: (x, rows, d, dict, c) => run(false, true, rows, c, d, x, dict),
    gram: (x, n, d) => run(true, false, d, d, n, x, x),
    cosineBlock: (dict, c, d, start, count) =>
      run(false, true, count, c, d, dict.subarray(start * d, (start + count) * d), dict),
  };
}
