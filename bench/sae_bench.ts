/**
 * Per-step training time of every SAE variant on the CPU backend (`train_step.<variant>.cpu`,
 * unit s, best step of a short run through `fitSae`, the trainer's real op sequence) at the SAE
 * issue's scale d = 512, c = 4096, B = 4096, k = 32, beside its floor: the encoder GEMM's FLOPs
 * at the best GEMM rate measured in the same run (before and after every variant's run, so that
 * on a shared machine the floor sees the load the steps saw). Group `sae.cpu.steps`
 * (`--filter sae`).
 *
 * Each figure also states the floor of the path the step took (`path`, `path_gemms`,
 * `path_floor`, `path_floor_ratio`): relu / jumprelu start at the target ℓ0 (option
 * `startAtTarget`, ≈ k of the c concepts per row) and take the sparse path like the top-k
 * variants — one GEMM of the encoder's size. The `.cpu_plain` figures
 * (`train_step.relu.cpu_plain`, `train_step.jumprelu.cpu_plain`) are the plain start
 * (`startAtTarget: false`), which codes half of all entries (`density` ≈ 0.5) so that the trainer
 * takes its dense path — five GEMMs of the encoder's size (encoder, decode Zd·D, ∂D = Zdᵀ·G,
 * G·Dᵀ, ∂W = Sᵀ·X), a floor ratio of 5 at the least against the encoder GEMM alone.
 */
import process from "node:process";
import { createBackend } from "../kernels/select.ts";
import { fitSae, type SaeMethod, saeMethods } from "../learn/sae/mod.ts";
import { Rng } from "../data/random.ts";
import {
  batchTopkStep,
  gemmGflops,
  loadAverage,
  newBatchTopkState,
  timedBackend,
} from "./kernels_bench.ts";
import { type Backend, encodeBatchTopkDense } from "../kernels/backend.ts";
import { disposeState } from "./train_bench.ts";
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
    let gflops = await gemmGflops(be, B, d, c, 2);
    type Run = [SaeMethod, string, Record<string, unknown>];
    const runs: Run[] = (saeMethods as readonly SaeMethod[]).map((m): Run => [m, "", {}]);
    for (const m of ["relu", "jumprelu"] as const) {
      runs.push([m, "_plain", { startAtTarget: false }]);
    }
    for (const [method, suffix, extra] of runs) {
      const times: number[] = [];
      let l0 = NaN;
      let last = performance.now();
      const o = { c, k, seed: 1, batchSize: B, epochs: 1, ...extra };
      await fitSae(method, x, n, d, o, be, {
        onStep() {
          const now = performance.now();
          times.push((now - last) / 1000);
          last = now;
        },
        onEpoch(e) {
          l0 = e.l0;
        },
      });
      const sec = Math.min(...times.slice(1));
      // the trainer's rule (learn/sae, option denseAbove 0.08): relu / jumprelu train dense
      // while the code density exceeds 8 %
      const dense = (method === "relu" || method === "jumprelu") && l0 / c > 0.08;
      const gemms = dense ? 5 : 1;
      gflops = Math.max(gflops, await gemmGflops(be, B, d, c, 1));
      out.push({
        name: `train_step.${method}.cpu${suffix}`,
        value: sec,
        unit: "s",
        backend: be.name,
        samples_per_s: B / sec,
        path: dense ? "dense" : "sparse",
        density: l0 / c,
        path_gemms: gemms,
        steps: times.length,
        shape: `d=${d} c=${c} B=${B} k=${k}`,
        load_average: loadAverage(),
      });
    }
    // floors at the best rate seen
    const floor = (2 * B * d * c) / (gflops * 1e9);
    for (const r of out) {
      const sec = r.value, gemms = r.path_gemms as number;
      Object.assign(r, {
        floor,
        floor_ratio: sec / floor,
        path_floor: gemms * floor,
        path_floor_ratio: sec / (gemms * floor),
        gemm_gflops: gflops,
      });
    }
  } finally {
    be.close();
  }
  return out;
}

/**
 * The float32 BatchTopK step pass by pass against its floor (`--filter passes`):
 * `train_step.batchtopk.cpu.pass.<op>` (unit ms, best of 5 steps; `floor_fraction` = the pass
 * over the floor) for the isolated step of bench/kernels_bench.ts at the study scale (d = 768,
 * c = 6144, B = 4096, k = 32), with the fused encoder split into its float32 passes — the GEMM
 * into the pre-activations (`gemm`) and the batch top-k selection over them (`batchTopk`), the
 * path of a CPU without AMX — and `…pass.total` (`floor_ratio`: the step over the floor, the
 * encoder GEMM at the best GEMM rate measured around it). Each pass also states its process CPU
 * time (`cpu_ms`, every thread) over the GEMM's (`cpu_fraction_of_gemm`; the total's
 * `cpu_ratio_to_gemm`), which a shared machine's load distorts less than wall time.
 * `--quick`: d = 256, c = 2048, B = 1024.
 */
async function batchTopkPassesGroup(
  quick: boolean,
  log: (line: string) => void,
): Promise<BenchResult[]> {
  const [d, c, B, k] = quick ? [256, 2048, 1024, 32] : [768, 6144, 4096, 32];
  const reps = quick ? 2 : 5;
  const base = await createBackend("cpu", { log });
  const out: BenchResult[] = [];
  try {
    let gflops = await gemmGflops(base, B, d, c, 2);
    const s = newBatchTopkState(base, d, c, B, k);
    const { be: timed, totals } = timedBackend(base);
    // process CPU time per op as well (every thread): less sensitive to a shared machine's load
    const cpu = new Map<string, number>();
    const cpuTimed = new Proxy(timed, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== "function" || typeof prop !== "string") return v;
        return (...a: unknown[]) => {
          const c0 = process.cpuUsage();
          const r = v.apply(target, a);
          const u = process.cpuUsage(c0);
          cpu.set(prop, (cpu.get(prop) ?? 0) + (u.user + u.system) / 1000);
          return r;
        };
      },
    });
    // the float32 path, pass by pass (encodeBatchTopkDense over the timed backend)
    const split = new Proxy(cpuTimed, {
      get(target, prop, receiver) {
        if (prop !== "encodeBatchTopk") return Reflect.get(target, prop, receiver);
        return (...a: Parameters<Backend["encodeBatchTopk"]>) =>
          encodeBatchTopkDense(cpuTimed, ...a);
      },
    }) as Backend;
    const best = new Map<string, number>(), bestCpu = new Map<string, number>();
    let bestStep = Infinity;
    for (let t = 0; t <= reps; t++) {
      totals.clear();
      cpu.clear();
      const t0 = performance.now();
      await batchTopkStep(split, s, t);
      const ms = performance.now() - t0;
      if (t === 0) continue; // warm-up
      bestStep = Math.min(bestStep, ms);
      for (const [op, v] of totals) best.set(op, Math.min(best.get(op) ?? Infinity, v));
      for (const [op, v] of cpu) bestCpu.set(op, Math.min(bestCpu.get(op) ?? Infinity, v));
    }
    disposeState(base, s);
    const gemmCpu = bestCpu.get("gemm") ?? NaN;
    gflops = Math.max(gflops, await gemmGflops(base, B, d, c, 2));
    const floorMs = (2 * B * d * c) / (gflops * 1e6);
    const common = {
      unit: "ms",
      backend: base.name,
      floor_ms: floorMs,
      gemm_gflops: gflops,
      shape: `d=${d} c=${c} B=${B} k=${k}`,
      load_average: loadAverage(),
    };
    for (const [op, v] of [...best].sort((a, b) => b[1] - a[1])) {
      out.push({
        name: `train_step.batchtopk.cpu.pass.${op}`,
        value: v,
        floor_fraction: v / floorMs,
        cpu_ms: bestCpu.get(op),
        cpu_fraction_of_gemm: (bestCpu.get(op) ?? NaN) / gemmCpu,
        ...common,
      });
    }
    out.push({
      name: "train_step.batchtopk.cpu.pass.total",
      value: bestStep,
      floor_ratio: bestStep / floorMs,
      cpu_ratio_to_gemm: [...bestCpu.values()].reduce((a, b) => a + b, 0) / gemmCpu,
      target_floor_ratio: 1.25,
      ...common,
    });
  } finally {
    base.close();
  }
  return out;
}

/** The SAE step benchmarks. */
export const benchmarks: Benchmark[] = [
  // not "train_step": `--filter train_step` must select only the study-scale kernel step
  // (bench/kernels_bench.ts), whose figure has the same name at d = 768, c = 6144
  { group: "sae.cpu.steps", run: ({ quick, log }) => saeGroup(quick, log) },
  {
    group: "sae.cpu.batchtopk_passes",
    run: ({ quick, log }) => batchTopkPassesGroup(quick, log),
  },
];
