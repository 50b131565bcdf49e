/**
 * Per-step training time of every SAE variant on the CPU backend (`train_step.<variant>.cpu`,
 * unit s, best step of a short run through `fitSae`, the trainer's real op sequence) at the SAE
 * issue's scale d = 512, c = 4096, B = 4096, k = 32, beside its floor: the encoder GEMM's FLOPs
 * at the GEMM rate measured in the same run. Group `sae.cpu.steps` (`--filter sae`).
 */
import { createBackend } from "../kernels/select.ts";
import { fitSae, type SaeMethod, saeMethods } from "../learn/sae/mod.ts";
import { Rng } from "../data/random.ts";
import { gemmGflops, loadAverage } from "./kernels_bench.ts";
import type { Benchmark, BenchResult } from "./types.ts";

/** Steps per measured run (the first is a warm-up; the best of the others is reported). */
const STEPS = 4;

async function saeGroup(quick: boolean, log: (line: string) => void): Promise<BenchResult[]> {
  const [d, c, B, k] = quick ? [128, 1024, 1024, 16] : [512, 4096, 4096, 32];
  const n = B * STEPS;
  const x = new Rng(11).fillNormal(new Float32Array(n * d), 1 / Math.sqrt(d));
  const be = await createBackend("cpu", { log });
  const out: BenchResult[] = [];
  try {
    const gflops = await gemmGflops(be, B, d, c, 2);
    const floor = (2 * B * d * c) / (gflops * 1e9);
    for (const method of saeMethods as readonly SaeMethod[]) {
      const times: number[] = [];
      let last = performance.now();
      await fitSae(method, x, n, d, { c, k, seed: 1, batchSize: B, epochs: 1 }, be, {
        onStep() {
          const now = performance.now();
          times.push((now - last) / 1000);
          last = now;
        },
      });
      const sec = Math.min(...times.slice(1));
      out.push({
        name: `train_step.${method}.cpu`,
        value: sec,
        unit: "s",
        backend: be.name,
        samples_per_s: B / sec,
        floor,
        floor_ratio: sec / floor,
        steps: times.length,
        shape: `d=${d} c=${c} B=${B} k=${k}`,
        load_average: loadAverage(),
      });
    }
  } finally {
    be.close();
  }
  return out;
}

/** The SAE step benchmarks. */
export const benchmarks: Benchmark[] = [
  // not "train_step": `--filter train_step` must select only the study-scale kernel step
  // (bench/kernels_bench.ts), whose figure has the same name at d = 768, c = 6144
  { group: "sae.cpu.steps", run: ({ quick, log }) => saeGroup(quick, log) },
];
