/**
 * The bench's BatchTopK training step agrees across backends (cpu providers with native and wasm
 * sparse kernels, webgpu).
 */
import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import type { Backend } from "../kernels/backend.ts";
import { batchTopkStep, newBatchTopkState } from "../bench/kernels_bench.ts";
import { missing } from "./helpers/prerequisites.ts";

async function run(be: Backend): Promise<{ sse: number[]; D: Float32Array }> {
  const s = newBatchTopkState(be, 24, 96, 37, 4, 5);
  const sse: number[] = [];
  for (let t = 0; t < 3; t++) sse.push(await batchTopkStep(be, s, t));
  return { sse, D: (await be.read(s.D)) as Float32Array };
}

Deno.test("BatchTopK step: cpu:js, cpu:openblas/ort (native and wasm sparse kernels) and webgpu agree", async () => {
  const js = await createBackend("cpu", { gemm: "js" });
  const ref = await run(js);
  js.close();
  assert.ok(ref.sse[0] > 0);
  const others: Backend[] = [
    await createBackend("cpu"),
    await createBackend("cpu", { sparse: "wasm" }),
  ];
  // Without an adapter the cpu backends only (a failure where CONCEPT_ATLAS_REQUIRE has webgpu).
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!missing("webgpu", !!(gpu && (await gpu.requestAdapter())))) {
    others.push(await createBackend("webgpu"));
  } else console.warn("webgpu: no adapter, compared cpu only");
  for (const be of others) {
    const r = await run(be);
    be.close();
    for (let t = 0; t < 3; t++) {
      assert.ok(Math.abs(r.sse[t] - ref.sse[t]) <= 1e-4 * ref.sse[t], `${be.name} sse step ${t}`);
    }
    let md = 0;
    for (let i = 0; i < r.D.length; i++) md = Math.max(md, Math.abs(r.D[i] - ref.D[i]));
    assert.ok(md < 1e-4, `${be.name} decoder max diff ${md}`);
  }
});
