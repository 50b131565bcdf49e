/**
 * Every SAE variant trains alike on every backend: a short `fitSae` run (the trainer's real op
 * sequence, sparse paths, JumpReLU's straight-through band, AuxK on dead concepts) on the CPU
 * backend's providers and on WebGPU ends with the same weights (encoder, biases, decoder, JumpReLU's
 * thresholds) as on the plain-JS CPU backend, to float32 rounding (≤ 2e-7 measured; an empty
 * JumpReLU band on WebGPU moves them by 2e-4 to 3e-3).
 */
import assert from "node:assert/strict";
import { createBackend } from "../kernels/select.ts";
import type { Backend } from "../kernels/backend.ts";
import { fitSae, type SaeMethod, saeMethods } from "../learn/sae/mod.ts";
import { Rng } from "../data/random.ts";
import { missing } from "./helpers/prerequisites.ts";

const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
const noGpu = !(gpu && (await gpu.requestAdapter()));

async function dictionary(be: Backend, method: SaeMethod, x: Float32Array, n: number, d: number) {
  const f = await fitSae(method, x, n, d, {
    c: 128,
    k: 2, // ReLU / JumpReLU code 1.6% of the entries: the sparse path (below denseAbove 8%)
    seed: 5,
    batchSize: 32,
    epochs: 3,
    jumpThetaInit: 0.05,
    jumpBandwidth: 0.05,
    // a concept counts dead after 64 rows without firing: AuxK runs on most steps
    deadAfterRows: 64,
    // AdamW's ε well above rounding noise: a gradient that is 0 up to rounding (a dead concept's
    // encoder row) must not become a ±lr step whose sign the backend's rounding picks
    eps: 1e-4,
  }, be);
  return {
    tensors: f.exportWeights().tensors,
    r2: f.log.at(-1)!.r2,
    dead: Math.max(...f.log.map((e) => e.deadFraction)),
  };
}

for (const method of saeMethods as readonly SaeMethod[]) {
  Deno.test({
    name: `sae ${method}: cpu (native and wasm sparse kernels) and webgpu train like cpu:js`,
    ignore: missing("webgpu", !noGpu),
    async fn() {
      const n = 128, d = 16;
      const x = new Rng(9).fillNormal(new Float32Array(n * d), 1 / Math.sqrt(d));
      const js = await createBackend("cpu", { gemm: "js" });
      const ref = await dictionary(js, method, x, n, d).finally(() => js.close());
      assert.ok(ref.dead > 0, `${method}: no concept died, AuxK untested`);
      const others = [
        await createBackend("cpu"),
        await createBackend("cpu", { sparse: "wasm" }),
        await createBackend("webgpu"),
      ];
      for (const be of others) {
        const got = await dictionary(be, method, x, n, d).finally(() => be.close());
        // every trained tensor: encoder, biases, decoder, JumpReLU's thresholds
        for (const [name, want] of Object.entries(ref.tensors)) {
          const a = got.tensors[name].data, b = want.data;
          let md = 0;
          for (let i = 0; i < b.length; i++) md = Math.max(md, Math.abs(a[i] - b[i]));
          assert.ok(md < 1e-5, `${method} on ${be.name}: ${name} differs by ${md}`);
        }
        assert.ok(Math.abs(got.r2 - ref.r2) < 1e-5, `${method} on ${be.name}: R² ${got.r2}`);
      }
    },
  });
}
