/**
 * OpenBLAS (or any CBLAS) `cblas_sgemm` through Deno FFI: the fastest CPU GEMM on this machine
 * (about 195 GFLOP/s for 4096×768×6144 on 2 cores).
 */
import type { GemmCall, GemmProvider } from "./gemm_provider.ts";

const CBLAS_ROW_MAJOR = 101;
const CBLAS_NO_TRANS = 111;
const CBLAS_TRANS = 112;

/** Library names tried in order (Debian's libopenblas0 first, then generic CBLAS). */
const BLAS_CANDIDATES: readonly string[] = [
  "libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "/usr/local/lib/libopenblas.so.0",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libopenblas.so",
  "libcblas.so.3",
  "libblas.so.3",
  "/usr/lib/x86_64-linux-gnu/libblas.so.3",
  "/usr/lib/x86_64-linux-gnu/libcblas.so.3",
];

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  /** Σ x·y of float32 vectors accumulated in float64; optional (not every CBLAS has it). */
  cblas_dsdot: {
    parameters: ["i32", "buffer", "i32", "buffer", "i32"],
    result: "f64",
    optional: true,
  },
} as const;

/**
 * Open the first CBLAS library that exports `cblas_sgemm` (`paths` overrides the search list;
 * the environment variable `CONCEPT_ATLAS_BLAS` is tried first). Returns null when none loads
 * (including when FFI permission is missing).
 */
export function loadOpenBlas(paths: readonly string[] = BLAS_CANDIDATES): GemmProvider | null {
  let env: string | undefined;
  try {
    env = Deno.env.get("CONCEPT_ATLAS_BLAS");
  } catch { /* no env permission */ }
  const list = env ? [env, ...paths] : paths;
  // OpenBLAS's threads spin for a while after each call, taking a core from the kernels that
  // follow a GEMM; a short timeout (read when the library loads) lets them sleep soon.
  try {
    if (Deno.env.get("OPENBLAS_THREAD_TIMEOUT") === undefined) {
      Deno.env.set("OPENBLAS_THREAD_TIMEOUT", "4");
    }
  } catch { /* no env permission */ }
  for (const path of list) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(path, SYMBOLS);
    } catch {
      continue;
    }
    const f = lib.symbols.cblas_sgemm;
    const dsdot = lib.symbols.cblas_dsdot;
    return {
      name: "openblas",
      detail: path,
      sync: true,
      ...(dsdot
        ? {
          sumSquares(x: Float32Array): number {
            // chunks below 2^31 elements (i32 length argument)
            let s = 0;
            for (let i = 0; i < x.length; i += 1 << 30) {
              const part = x.subarray(i, Math.min(x.length, i + (1 << 30)));
              s += dsdot(part.length, part, 1, part, 1) as number;
            }
            return s;
          },
        }
        : {}),
      sgemm(call: GemmCall): void {
        const { transA, transB, m, n, k } = call;
        if (m === 0 || n === 0) return;
        if (k === 0) {
          const c = call.c;
          for (let i = 0; i < m * n; i++) c[i] = call.beta === 0 ? 0 : call.beta * c[i];
          return;
        }
        const lda = transA ? m : k;
        const ldb = transB ? k : n;
        f(
          CBLAS_ROW_MAJOR,
          transA ? CBLAS_TRANS : CBLAS_NO_TRANS,
          transB ? CBLAS_TRANS : CBLAS_NO_TRANS,
          m,
          n,
          k,
          call.alpha,
          call.a,
          Math.max(1, lda),
          call.b,
          Math.max(1, ldb),
          call.beta,
          call.c,
          Math.max(1, n),
        );
      },
      close() {
        lib.close();
      },
    };
  }
  return null;
}
