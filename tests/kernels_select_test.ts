/** createBackend / hostGemm: provider selection, log line, and hostGemm against float64. */
import assert from "node:assert/strict";
import {
  AUTO_GPU_MIN_FLOPS,
  autoMayUseGpu,
  createBackend,
  isSoftwareAdapter,
} from "../kernels/select.ts";
import { hostGemm } from "../kernels/host_gemm.ts";
import { loadOpenBlas } from "../kernels/openblas.ts";
import { refGemm } from "../kernels/reference_f64.ts";
import { gemmModelBytes } from "../kernels/onnx_gemm_model.ts";
import { Rng } from "../data/random.ts";
import { UserError } from "../pipeline/errors.ts";

Deno.test("createBackend cpu logs the implementation that runs", async () => {
  const lines: string[] = [];
  const be = await createBackend("cpu", { log: (l) => lines.push(l) });
  try {
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^backend: cpu:(openblas|ort|js) \(.+\)$/);
    if (loadOpenBlas()) assert.equal(be.name, "cpu:openblas");
  } finally {
    be.close();
  }
});

Deno.test("createBackend auto never picks a software WebGPU adapter", async () => {
  const lines: string[] = [];
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  const be = await createBackend("auto", { log: (l) => lines.push(l) });
  try {
    if (!adapter || isSoftwareAdapter(adapter.info)) assert.ok(be.name.startsWith("cpu:"));
    else assert.ok(be.name.startsWith("webgpu"));
  } finally {
    be.close();
  }
});

Deno.test("auto keeps work below AUTO_GPU_MIN_FLOPS on the CPU", async () => {
  // the default study's training step (d 128, c 512, B 512) and the paper-scale one (d 768,
  // c 6144, B 512)
  assert.equal(autoMayUseGpu(2 * 512 * 128 * 512), false);
  assert.equal(autoMayUseGpu(2 * 512 * 768 * 6144), true);
  assert.equal(autoMayUseGpu(AUTO_GPU_MIN_FLOPS), true);
  assert.equal(autoMayUseGpu(undefined), true);
  // with small work auto opens the CPU backend, GPU or not
  const lines: string[] = [];
  const be = await createBackend("auto", { workFlops: 1e6, log: (l) => lines.push(l) });
  try {
    assert.ok(be.name.startsWith("cpu"), be.name);
  } finally {
    be.close();
  }
});

Deno.test("createBackend rejects an unknown kind with a UserError", async () => {
  // deno-lint-ignore no-explicit-any
  await assert.rejects(() => createBackend("tpu" as any), UserError);
});

Deno.test("isSoftwareAdapter recognises llvmpipe and hardware names", () => {
  const info = (description: string, vendor = "") =>
    ({ vendor, architecture: "", device: "", description }) as GPUAdapterInfo;
  assert.equal(isSoftwareAdapter(info("llvmpipe (LLVM 15.0.6, 256 bits)")), true);
  assert.equal(isSoftwareAdapter(info("SwiftShader Device")), true);
  assert.equal(isSoftwareAdapter(info("NVIDIA H100 80GB HBM3", "nvidia")), false);
  assert.equal(isSoftwareAdapter(info("NVIDIA H100"), true), true);
});

Deno.test("hostGemm matches float64 on every provider and transpose", async () => {
  const rng = new Rng(7);
  for (const gemm of [undefined, "ort", "js"] as const) {
    for (const [m, k, n] of [[1, 1, 1], [19, 33, 7], [64, 100, 130]]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const a = rng.fillNormal(new Float32Array(m * k));
          const b = rng.fillNormal(new Float32Array(k * n));
          const c = await hostGemm(a, b, m, k, n, { transA, transB, gemm });
          const r = refGemm(a, b, null, m, n, k, transA, transB, 1, 0);
          for (let i = 0; i < m * n; i++) {
            assert.ok(
              Math.abs(c[i] - r.value[i]) <= 4 * k * 2 ** -24 * r.absSum[i] + 1e-30,
              `${gemm} ${m}x${k}x${n} element ${i}`,
            );
          }
        }
      }
    }
  }
  await assert.rejects(() => hostGemm(new Float32Array(3), new Float32Array(4), 2, 2, 2));
});

Deno.test("the generated ONNX Gemm model starts with ir_version 8", () => {
  const bytes = gemmModelBytes(true, false, 2);
  assert.deepEqual([...bytes.subarray(0, 2)], [0x08, 0x08]);
  assert.ok(new TextDecoder().decode(bytes).includes("Gemm"));
});
