/**
 * The CPU backend reuses its column view (CSC) of sparse codes between the by-concept products
 * of a step. Each way of changing the pattern (top-k, threshold on the wasm threads, a host
 * write, a copy) must invalidate it: every product is checked against a float64 reference built
 * from the codes read back at that moment.
 */
import assert from "node:assert/strict";
import type { Backend, SparseCodes, Tensor } from "../kernels/backend.ts";
import { CpuBackend } from "../kernels/cpu_backend.ts";
import { createJsGemm } from "../kernels/js_gemm.ts";
import { Rng } from "../data/random.ts";

/** Zᵀ·G (c×d) in float64 from the codes as they are now (values = z.value). */
async function refTransposeProduct(
  be: Backend,
  z: SparseCodes,
  g: Float32Array,
  d: number,
): Promise<Float64Array> {
  const rowPtr = (await be.read(z.rowPtr)) as Int32Array;
  const index = (await be.read(z.index)) as Int32Array;
  const value = (await be.read(z.value)) as Float32Array;
  const out = new Float64Array(z.cols * d);
  for (let i = 0; i < z.rows; i++) {
    for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
      for (let t = 0; t < d; t++) out[index[e] * d + t] += value[e] * g[i * d + t];
    }
  }
  return out;
}

async function check(
  be: Backend,
  z: SparseCodes,
  g: Float32Array,
  G: Tensor,
  d: number,
  what: string,
) {
  const out = be.zeros([z.cols, d]);
  be.sparseTransposeProduct(z, null, G, out, 0);
  const got = (await be.read(out)) as Float32Array;
  const want = await refTransposeProduct(be, z, g, d);
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) {
      assert.fail(`${what}: element ${i}: got ${got[i]}, want ${want[i]}`);
    }
  }
  be.dispose(out);
}

Deno.test("cpu backend: the cached CSC view follows every change of the pattern", async () => {
  const be = new CpuBackend(createJsGemm());
  await be.ready();
  try {
    const rng = new Rng(5);
    const [n, d, c, k] = [131, 37, 520, 5];
    const g = rng.fillNormal(new Float32Array(n * d));
    const G = be.upload(g, [n, d]);
    const z = be.sparse(n, c, n * c);
    const pre1 = be.upload(rng.fillNormal(new Float32Array(n * c)), [n, c]);
    const pre2 = be.upload(rng.fillNormal(new Float32Array(n * c)), [n, c]);

    be.topkRows(pre1, k, z);
    await check(be, z, g, G, d, "topkRows #1");
    await check(be, z, g, G, d, "topkRows #1, reused view");
    be.topkRows(pre2, k, z);
    await check(be, z, g, G, d, "topkRows #2");
    // threshold with capacity n·c runs on the wasm threads (no host CSR hand-out)
    be.threshold(pre1, be.upload(new Float32Array([1.5]), [1]), z);
    await check(be, z, g, G, d, "threshold");
    // a host write of the column indices (same row pointers: shift every concept by one)
    const idx = (await be.read(z.index)) as Int32Array;
    const nnz = ((await be.read(z.rowPtr)) as Int32Array)[n];
    for (let e = 0; e < nnz; e++) idx[e] = (idx[e] + 1) % c;
    be.write(z.index, idx);
    await check(be, z, g, G, d, "write(index)");
    // a copy into the row pointers from another code holder's (an empty pattern)
    const empty = be.sparse(n, c, n * c);
    be.copy(empty.rowPtr, z.rowPtr);
    await check(be, z, g, G, d, "copy(rowPtr)");
    // two holders used in alternation
    be.topkRows(pre1, k, z);
    be.topkRows(pre2, k, empty);
    await check(be, z, g, G, d, "alternating A");
    await check(be, empty, g, G, d, "alternating B");
    await check(be, z, g, G, d, "alternating A again");
  } finally {
    be.close();
  }
});
