/**
 * CPU runtime reuse (kernels/wasm_runtime.ts reuseCpuRuntimes): a backend that takes over a closed
 * backend's runtime (memory dirtied with NaN) trains bit-identically to one on a fresh runtime,
 * and a tensor of the closed backend freed late, mid-training, does not free into the new heap.
 */
import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import { reuseCpuRuntimes } from "../kernels/wasm_runtime.ts";
import type { CpuBackend } from "../kernels/cpu_backend.ts";
import { fitSae } from "../learn/sae/mod.ts";
import { plantedWorld } from "./helpers/planted_world.ts";

async function trainOnce(
  onStep?: () => void,
): Promise<{ dict: Float32Array; runtime: unknown }> {
  const w = plantedWorld({ n: 2048, d: 32, m: 24, s: 3, seed: 4 });
  const be = await createBackend("cpu");
  try {
    const f = await fitSae(
      "batchtopk",
      w.x,
      w.n,
      w.d,
      {
        c: 64,
        k: 3,
        seed: 1,
        epochs: 2,
        batchSize: 256,
      },
      be,
      { onStep: (s) => s === 1 && onStep?.() },
    );
    return { dict: Float32Array.from(f.dictionary), runtime: (be as CpuBackend).rt };
  } finally {
    be.close();
  }
}

Deno.test("a reused CPU runtime trains bit-identically; a stale free does not reach its heap", async () => {
  const fresh = await trainOnce();
  reuseCpuRuntimes(true);
  try {
    // the first allocation of a backend sits where the next backend's first tensor will sit
    const a = await createBackend("cpu");
    const late = a.upload(new Float32Array(2048).fill(NaN), [2048]);
    a.upload(new Float32Array(100_000).fill(NaN), [100_000]);
    a.close();
    const reused = await trainOnce(() => a.dispose(late));
    assert.equal(reused.runtime, (a as CpuBackend).rt, "the backend took over the runtime");
    assert.deepEqual(reused.dict, fresh.dict);
    assert.deepEqual((await trainOnce()).dict, fresh.dict);
  } finally {
    reuseCpuRuntimes(false);
  }
});
