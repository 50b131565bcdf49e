/**
 * GEMM through onnxruntime-node sessions of one-node ONNX models generated in code
 * (about 140 GFLOP/s here): the CPU fallback when no system BLAS is found.
 */
import type { GemmCall, GemmProvider } from "./gemm_provider.ts";
import { gemmModelBytes } from "./onnx_gemm_model.ts";

// deno-lint-ignore no-explicit-any
type Ort = any;

/**
 * Load onnxruntime-node and return a provider (sessions cached per transA/transB/alpha), or null
 * when the package cannot be loaded.
 */
export async function loadOrtGemm(): Promise<GemmProvider | null> {
  let ort: Ort;
  try {
    ort = await import("onnxruntime-node");
  } catch {
    return null;
  }
  // deno-lint-ignore no-explicit-any
  const sessions = new Map<string, Promise<any>>();
  const session = (tA: boolean, tB: boolean, alpha: number) => {
    const key = `${tA}|${tB}|${alpha}`;
    let s = sessions.get(key);
    if (!s) {
      s = ort.InferenceSession.create(gemmModelBytes(tA, tB, alpha), {
        graphOptimizationLevel: "all",
        executionMode: "sequential",
      });
      sessions.set(key, s!);
    }
    return s!;
  };
  try {
    await session(false, false, 1);
  } catch {
    return null;
  }
  return {
    name: "ort",
    detail: `onnxruntime-node ${ort.env?.versions?.common ?? ""}`.trim(),
    sync: false,
    async sgemm(call: GemmCall): Promise<void> {
      const { transA, transB, m, n, k, alpha, beta, c } = call;
      if (m === 0 || n === 0) return;
      if (k === 0 || alpha === 0) {
        for (let i = 0; i < m * n; i++) c[i] = beta === 0 ? 0 : beta * c[i];
        return;
      }
      const s = await session(transA, transB, alpha);
      // onnxruntime-node rejects views of shared memory (the CPU backend's wasm heap): copy
      const own = (x: Float32Array) => x.buffer instanceof SharedArrayBuffer ? x.slice() : x;
      const A = new ort.Tensor("float32", own(call.a), transA ? [k, m] : [m, k]);
      const B = new ort.Tensor("float32", own(call.b), transB ? [n, k] : [k, n]);
      const out = await s.run({ A, B });
      const y = out.Y.data as Float32Array;
      if (beta === 0) c.set(y.subarray(0, m * n));
      else for (let i = 0; i < m * n; i++) c[i] = y[i] + beta * c[i];
      out.Y.dispose?.();
    },
    close() {
      for (const s of sessions.values()) s.then((x) => x.release?.()).catch(() => {});
      sessions.clear();
    },
  };
}
