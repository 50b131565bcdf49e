/**
 * GEMM of host arrays for analyses (projections, Gram matrices, scores), through the fastest
 * provider available (OpenBLAS FFI, else onnxruntime-node, else TS loops), loaded once.
 */
import type { GemmKind, GemmProvider } from "./gemm_provider.ts";
import { createGemmProvider } from "./select.ts";

let shared: Promise<GemmProvider> | null = null;

/** The provider {@link hostGemm} uses (created on first use, kept for the process). */
export function hostGemmProvider(): Promise<GemmProvider> {
  shared ??= createGemmProvider();
  return shared;
}

/** Options of {@link hostGemm}. */
export interface HostGemmOptions {
  /** A is stored k×m (use Aᵀ). */
  transA?: boolean;
  /** B is stored n×k (use Bᵀ). */
  transB?: boolean;
  /** Force a provider (tests); default: the shared fastest one. */
  gemm?: GemmKind;
}

/**
 * C (m×n) = op(A)·op(B) for row-major float32 host arrays: op(A) is m×k (A stored k×m when
 * `transA`), op(B) is k×n (B stored n×k when `transB`). Returns a new Float32Array of m·n.
 * Async because the ONNX Runtime fallback is.
 */
export async function hostGemm(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  opts: HostGemmOptions = {},
): Promise<Float32Array> {
  if (a.length !== m * k) {
    throw new RangeError(`hostGemm: A has ${a.length} elements, expected ${m}·${k}`);
  }
  if (b.length !== k * n) {
    throw new RangeError(`hostGemm: B has ${b.length} elements, expected ${k}·${n}`);
  }
  const c = new Float32Array(m * n);
  const provider = opts.gemm ? await createGemmProvider(opts.gemm) : await hostGemmProvider();
  try {
    await provider.sgemm({
      transA: !!opts.transA,
      transB: !!opts.transB,
      m,
      n,
      k,
      alpha: 1,
      beta: 0,
      a,
      b,
      c,
    });
  } finally {
    if (opts.gemm) provider.close();
  }
  return c;
}
