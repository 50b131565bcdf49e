/**
 * The fused encoder ops of the CPU backend (`--filter encoder`): `Backend.encodeTopkRows` (TopK's
 * encoder) and `Backend.encodeBatchTopk` (BatchTopK's), each alone and with AuxK's selection
 * (the top 2k of every row among the dead concepts: here 40% of the columns, spread over all of
 * them), at d = 768, c = 6144, k = 32 and B = 512 (the study's batch) and 4096 (method.md's).
 * `encoder.<op>.cpu.b<B>` is the op as the trainer runs it (screened from a bfloat16 product where
 * the CPU has the AMX tile unit, see kernels/native/encoder_screen.c); `…_f32` the float32 path
 * of the same op on the same backend (the encoder GEMM, then the selections: what it costs
 * without the screen). Each is the median of 10 calls in alternation, beside its floor: the
 * encoder GEMM's 2·B·d·c FLOPs at the best rate measured in the same run. `--quick`: d 256,
 * c 2048.
 */
import type { CpuBackend } from "../kernels/cpu_backend.ts";
import { createBackend } from "../kernels/select.ts";
import { Rng } from "../data/random.ts";
import { median } from "../analysis/claims.ts";
import { gemmGflops, loadAverage } from "./kernels_bench.ts";
import type { Benchmark, BenchResult } from "./types.ts";

async function encoderGroup(quick: boolean, log: (line: string) => void): Promise<BenchResult[]> {
  const [d, c, k] = quick ? [256, 2048, 32] : [768, 6144, 32];
  const be = (await createBackend("cpu", { log })) as CpuBackend;
  const screens = be.native?.screen != null;
  const out: BenchResult[] = [];
  try {
    for (const B of [512, 4096]) {
      const rng = new Rng(3);
      const x = be.upload(rng.fillNormal(new Float32Array(B * d), 1 / Math.sqrt(d)), [B, d]);
      const w = be.upload(rng.fillNormal(new Float32Array(c * d), 1 / Math.sqrt(d)), [c, d]);
      const bias = be.upload(rng.fillNormal(new Float32Array(c), 0.05), [c]);
      const pre = be.zeros([B, c]), minKept = be.zeros([1]);
      const z = be.sparse(B, c, B * k);
      const allowed = Float32Array.from({ length: c }, (_, j) => (j % 5 < 2 ? 0 : -1e4));
      const aux = {
        k: 2 * k,
        mask: be.upload(allowed, [1, c]),
        ones: be.upload(new Float32Array(B).fill(1), [B, 1]),
        z: be.sparse(B, c, B * 2 * k),
      };
      const ops: Record<string, () => void> = {
        topk_rows: () => be.encodeTopkRows(x, w, bias, k, z, pre),
        topk_rows_auxk: () => be.encodeTopkRows(x, w, bias, k, z, pre, aux),
        batch_topk: () => be.encodeBatchTopk(x, w, bias, k, z, minKept, pre),
        batch_topk_auxk: () => be.encodeBatchTopk(x, w, bias, k, z, minKept, pre, aux),
      };
      const gflops = await gemmGflops(be, B, d, c, 3);
      const times = new Map<string, number[]>();
      const minWork = be.screenMinWork;
      for (let r = 0; r < 12; r++) {
        for (const [name, op] of Object.entries(ops)) {
          for (const path of ["", "_f32"]) {
            be.screenMinWork = path ? Infinity : minWork;
            const t0 = performance.now();
            op();
            await be.readScalar(minKept);
            if (r >= 2) {
              const key = `${name}${path}`;
              times.set(key, [...(times.get(key) ?? []), (performance.now() - t0) / 1000]);
            }
          }
        }
      }
      be.screenMinWork = minWork;
      const floor = (2 * B * d * c) / (Math.max(gflops, await gemmGflops(be, B, d, c, 3)) * 1e9);
      for (const [key, t] of times) {
        const sec = median(t);
        out.push({
          name: `encoder.${key.replace("_f32", "")}.cpu${key.endsWith("_f32") ? "_f32" : ""}.b${B}`,
          value: sec,
          unit: "s",
          backend: be.name,
          screened: !key.endsWith("_f32") && screens,
          samples_per_s: B / sec,
          floor,
          floor_ratio: sec / floor,
          shape: `d=${d} c=${c} B=${B} k=${k} auxK=${2 * k}`,
          load_average: loadAverage(),
        });
      }
      for (const t of [x, w, bias, pre, minKept, aux.mask, aux.ones]) be.dispose(t);
      be.disposeSparse(z);
      be.disposeSparse(aux.z);
      log(`  encoder ops at B=${B} measured`);
    }
  } finally {
    be.close();
  }
  return out;
}

/** The fused encoder ops (screened and float32), `--filter encoder`. */
export const benchmarks: Benchmark[] = [
  { group: "encoder.cpu", run: ({ quick, log }) => encoderGroup(quick, log) },
];
