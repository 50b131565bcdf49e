/**
 * Kernel benchmarks: GEMM GFLOP/s per backend and one BatchTopK SAE training step at the
 * study's scale (d = 768, c = 6144, B = 4096, k = 32), with its floor (the encoder GEMM's
 * FLOPs at the best GEMM rate measured in the same run).
 */
import type { Backend, SparseCodes, Tensor } from "../kernels/backend.ts";
import { createBackend } from "../kernels/select.ts";
import type { CpuBackend } from "../kernels/cpu_backend.ts";
import type { ScreenStats } from "../kernels/native_sparse.ts";
import type { GemmKind } from "../kernels/gemm_provider.ts";
import { Rng } from "../data/random.ts";
import type { Benchmark, BenchResult } from "./types.ts";

/** GEMM rate measured on this machine by the issue (OpenBLAS, 4096×768×6144). */
export const REFERENCE_GEMM_GFLOPS = 195;
/** Dense PyTorch CPU TopK step at the study's scale on this machine (seconds). */
export const REFERENCE_TORCH_STEP_S = 1.6;

/** The tensors of one BatchTopK SAE being trained (encoder rows W c×d, b c; decoder D c×d). */
export interface BatchTopkState {
  d: number;
  c: number;
  B: number;
  k: number;
  X: Tensor;
  W: Tensor;
  b: Tensor;
  D: Tensor;
  pre: Tensor;
  z: SparseCodes;
  minKept: Tensor;
  xhat: Tensor;
  r: Tensor;
  vals: Tensor;
  gW: Tensor;
  gB: Tensor;
  gD: Tensor;
  mW: Tensor;
  vW: Tensor;
  mB: Tensor;
  vB: Tensor;
  mD: Tensor;
  vD: Tensor;
  sse: Tensor;
  ss: Tensor;
  f: Tensor;
}

/** Allocate a seeded BatchTopK SAE (D random unit rows, encoder rows W = D) and a random batch X. */
export function newBatchTopkState(
  be: Backend,
  d: number,
  c: number,
  B: number,
  k: number,
  seed = 1,
): BatchTopkState {
  const rng = new Rng(seed);
  const D = rng.fillNormal(new Float32Array(c * d));
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += D[j * d + t] ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let t = 0; t < d; t++) D[j * d + t] *= inv;
  }
  const X = rng.fillNormal(new Float32Array(B * d), 1 / Math.sqrt(d));
  return {
    d,
    c,
    B,
    k,
    X: be.upload(X, [B, d]),
    W: be.upload(D, [c, d]),
    b: be.zeros([c]),
    D: be.upload(D, [c, d]),
    pre: be.zeros([B, c]),
    z: be.sparse(B, c, B * k),
    minKept: be.zeros([1]),
    xhat: be.zeros([B, d]),
    r: be.zeros([B, d]),
    vals: be.zeros([B * k]),
    gW: be.zeros([c, d]),
    gB: be.zeros([c]),
    gD: be.zeros([c, d]),
    mW: be.zeros([c, d]),
    vW: be.zeros([c, d]),
    mB: be.zeros([c]),
    vB: be.zeros([c]),
    mD: be.zeros([c, d]),
    vD: be.zeros([c, d]),
    sse: be.zeros([1]),
    ss: be.zeros([1]),
    f: be.zeros([1]),
  };
}

/**
 * One BatchTopK training step from backend ops (the op sequence of learn/sae/): the fused
 * encoder and batch top-k (screened on a CPU with AMX, see Backend.encodeBatchTopk), fused sparse decode + residual + sample, sparse gradients (decoder, encoder, bias),
 * parallel-component removal, gradient clipping, AdamW, decoder renormalisation. Returns the
 * batch's sum of squared errors (the one scalar read per step).
 */
export async function batchTopkStep(be: Backend, s: BatchTopkState, t: number): Promise<number> {
  const { B } = s;
  be.encodeBatchTopk(s.X, s.W, s.b, s.k, s.z, s.minKept, s.pre);
  // G = ∂loss/∂x̂ = (2/B)·(Z·D − X), sse = ‖Z·D − X‖², vals = ⟨G_i, D_j⟩ (fused)
  be.sparseResidual(s.z, s.D, null, s.X, 2 / B, s.r, s.sse, false, s.vals);
  be.sparseTransposeProduct(s.z, null, s.r, s.gD, 0);
  be.sparseTransposeProduct(s.z, s.vals, s.X, s.gW, 0);
  be.sparseColumnSum(s.z, s.vals, s.gB, 0);
  be.removeParallelComponent(s.D, s.gD, s.ss, false); // and ‖∂D‖² after the removal
  be.sumSquares(s.gW, s.ss, true);
  be.sumSquares(s.gB, s.ss, true);
  be.clipFactor(s.ss, 1, s.f);
  const o = { lr: 5e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: t + 1, gradScale: s.f };
  be.adamw(s.W, s.gW, s.mW, s.vW, { ...o, weightDecay: 1e-5 });
  be.adamw(s.b, s.gB, s.mB, s.vB, { ...o, weightDecay: 0 });
  be.adamw(s.D, s.gD, s.mD, s.vD, { ...o, weightDecay: 1e-5, normalizeRows: true });
  return await be.readScalar(s.sse);
}

/** Best-of-`reps` seconds of `fn` after one warm-up call. */
async function bestOf(reps: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

/** GFLOP/s of C = A·B (m×k · k×n) on a backend, best of `reps`. */
export async function gemmGflops(
  be: Backend,
  m: number,
  k: number,
  n: number,
  reps: number,
): Promise<number> {
  const rng = new Rng(3);
  const A = be.upload(rng.fillNormal(new Float32Array(m * k)), [m, k]);
  const Bm = be.upload(rng.fillNormal(new Float32Array(k * n)), [k, n]);
  const C = be.zeros([m, n]);
  const s = await bestOf(reps, async () => {
    be.gemm(A, Bm, C);
    await be.readScalar(C);
  });
  for (const x of [A, Bm, C]) be.dispose(x);
  return (2 * m * k * n) / s / 1e9;
}

interface Sizes {
  d: number;
  c: number;
  B: number;
  k: number;
}

const FULL: Sizes = { d: 768, c: 6144, B: 4096, k: 32 };
const QUICK: Sizes = { d: 256, c: 2048, B: 1024, k: 32 };
const GPU_SMALL: Sizes = { d: 128, c: 1024, B: 256, k: 16 };

async function cpuGroup(
  quick: boolean,
  log: (line: string) => void,
): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const sz = quick ? QUICK : FULL;
  const reps = quick ? 2 : 3;
  let best = 0;
  const rates: Record<string, number> = {};
  for (const gemm of ["openblas", "ort", "js"] as GemmKind[]) {
    let be: Backend;
    try {
      be = await createBackend("cpu", { gemm, log });
    } catch {
      log(`gemm ${gemm}: unavailable`);
      continue;
    }
    try {
      // JS loops are ~1 GFLOP/s: measure them at a small size only.
      const [m, k, n] = gemm === "js" ? [256, sz.d, 512] : [sz.B, sz.d, sz.c];
      const g = await gemmGflops(be, m, k, n, gemm === "js" ? 1 : reps);
      rates[gemm] = g;
      best = Math.max(best, g);
      out.push({
        name: gemm === "openblas" ? "gemm.cpu.gflops" : `gemm.cpu_${gemm}.gflops`,
        value: g,
        unit: "GFLOP/s",
        backend: be.name,
        shape: `${m}x${k}x${n}`,
        reference: REFERENCE_GEMM_GFLOPS,
      });
    } finally {
      be.close();
    }
  }
  return out;
}

/** The BatchTopK step on the fastest CPU backend, with its floor measured in the same run. */
async function cpuStepGroup(
  quick: boolean,
  log: (line: string) => void,
): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const sz = quick ? QUICK : FULL;
  const reps = quick ? 2 : 5;
  // the default (native kernels where a C compiler exists, the screened encoder where the CPU
  // has AMX), the float32 encoder with native kernels, then the wasm kernels
  for (const variant of ["", "_f32enc", "_wasm"] as const) {
    const sparse = variant === "_wasm" ? "wasm" : undefined;
    // without native kernels the default run already was the wasm one
    if (variant !== "" && out[0]?.sparse_kernels === "wasm") break;
    const be = await createBackend("cpu", { log, sparse });
    const cpu = be as CpuBackend;
    if (variant === "_f32enc" && !cpu.native?.screen) continue; // the default run was this one
    if (variant !== "") cpu.screenMinWork = Infinity;
    try {
      const r = await cpuStep(be, cpu.native ? "native" : "wasm", sz, reps, variant);
      out.push(r);
      if (variant === "" && r.screen_gemm_ms) {
        out.push({
          name: "gemm.cpu_amx_bf16.gflops",
          value: (2 * sz.B * sz.d * sz.c) / (r.screen_gemm_ms as number) / 1e6,
          unit: "GFLOP/s",
          backend: be.name,
          shape: `${sz.B}x${sz.d}x${sz.c}`,
          note: "the bfloat16 tile GEMM inside the screened encoder (its step's time)",
        });
      }
    } finally {
      be.close();
    }
  }
  return out;
}

/**
 * One CPU step figure: `train_step.batchtopk.cpu` (default backend), `.cpu_f32enc` (the float32
 * encoder GEMM), `.cpu_wasm` (the wasm kernels).
 */
async function cpuStep(
  be: Backend,
  kernels: "native" | "wasm",
  sz: { d: number; c: number; B: number; k: number },
  reps: number,
  suffix: "" | "_f32enc" | "_wasm",
): Promise<BenchResult> {
  // GEMM and step timed in alternation (best of each), so that on a shared machine the floor
  // and the step see the same load
  const s = newBatchTopkState(be, sz.d, sz.c, sz.B, sz.k);
  let t = 0;
  let best = 0, sec = Infinity;
  let screen: Readonly<ScreenStats> | null | undefined = null;
  for (let r = 0; r < reps; r++) {
    best = Math.max(best, await gemmGflops(be, sz.B, sz.d, sz.c, 1));
    const step = await bestOf(1, () => batchTopkStep(be, s, t++));
    if (step < sec) [sec, screen] = [step, (be as CpuBackend).screenStats];
  }
  const floor = (2 * sz.B * sz.d * sz.c) / (best * 1e9);
  return {
    name: `train_step.batchtopk.cpu${suffix}`,
    value: sec,
    unit: "s",
    backend: be.name,
    sparse_kernels: kernels,
    encoder: screen ? "bf16 AMX screen + float32 candidates" : "float32 GEMM",
    samples_per_s: sz.B / sec,
    floor,
    floor_ratio: sec / floor,
    target_ratio: 1.25,
    reference: REFERENCE_TORCH_STEP_S,
    speedup_vs_reference: REFERENCE_TORCH_STEP_S / sec,
    shape: `d=${sz.d} c=${sz.c} B=${sz.B} k=${sz.k}`,
    gemm_gflops: best,
    ...(screen
      ? {
        screen_candidates_per_kept: screen.candidates / screen.K,
        screen_passes: screen.passes,
        screen_ms: screen.ms.reduce((a, b) => a + b, 0),
        screen_gemm_ms: screen.ms[1],
        screen_phase_ms: screen.ms.map((v) => Math.round(v * 100) / 100).join(" "),
      }
      : {}),
    load_average: loadAverage(),
  };
}

/**
 * A view of `be` that times every op call (CPU ops run synchronously, so the wall time of a
 * call is the op's time). `totals` maps op name → milliseconds accumulated since the last reset.
 */
export function timedBackend(be: Backend): { be: Backend; totals: Map<string, number> } {
  const totals = new Map<string, number>();
  const proxy = new Proxy(be, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function" || typeof prop !== "string") return v;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const r = v.apply(target, args);
        totals.set(prop, (totals.get(prop) ?? 0) + performance.now() - t0);
        return r;
      };
    },
  });
  return { be: proxy, totals };
}

/**
 * Per-op profile of the CPU BatchTopK step (`deno task bench --json --filter step_profile`):
 * one figure `train_step.batchtopk.cpu.op.<op>` (unit ms, the op's total time within one step,
 * the best of `reps` steps) per backend op, plus the step total.
 */
async function cpuStepProfileGroup(
  quick: boolean,
  log: (line: string) => void,
): Promise<BenchResult[]> {
  const sz = quick ? QUICK : FULL;
  const reps = quick ? 2 : 5;
  const base = await createBackend("cpu", { log });
  const out: BenchResult[] = [];
  try {
    const { be, totals } = timedBackend(base);
    const s = newBatchTopkState(base, sz.d, sz.c, sz.B, sz.k);
    const best = new Map<string, number>();
    let bestStep = Infinity;
    for (let t = 0; t <= reps; t++) {
      totals.clear();
      const t0 = performance.now();
      await batchTopkStep(be, s, t);
      const ms = performance.now() - t0;
      if (t === 0) continue; // warm-up
      bestStep = Math.min(bestStep, ms);
      for (const [op, v] of totals) best.set(op, Math.min(best.get(op) ?? Infinity, v));
    }
    const load = loadAverage();
    const shape = `d=${sz.d} c=${sz.c} B=${sz.B} k=${sz.k}`;
    for (const [op, v] of [...best].sort((a, b) => b[1] - a[1])) {
      out.push({
        name: `train_step.batchtopk.cpu.op.${op}`,
        value: v,
        unit: "ms",
        backend: base.name,
        shape,
        load_average: load,
      });
    }
    out.push({
      name: "train_step.batchtopk.cpu.op.total",
      value: bestStep,
      unit: "ms",
      backend: base.name,
      shape,
      load_average: load,
    });
  } finally {
    base.close();
  }
  return out;
}

/** The 1-minute load average (Linux), or null: timings on a shared machine need it. */
export function loadAverage(): number | null {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return null;
  }
}

async function webgpuGroup(
  quick: boolean,
  log: (line: string) => void,
): Promise<BenchResult[]> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  if (!adapter) {
    log("webgpu: no adapter, skipped");
    return [];
  }
  const { isSoftwareAdapter } = await import("../kernels/select.ts");
  const software = isSoftwareAdapter(adapter.info);
  // On a software adapter (llvmpipe) the study's scale takes minutes: use small sizes.
  const sz = software || quick ? GPU_SMALL : FULL;
  const be = await createBackend("webgpu", { log });
  const out: BenchResult[] = [];
  try {
    const [m, k, n] = [sz.B, sz.d, sz.c];
    const reps = software ? 2 : 5;
    const g = await gemmGflops(be, m, k, n, reps);
    out.push({
      name: "gemm.webgpu.gflops",
      value: g,
      unit: "GFLOP/s",
      backend: be.name,
      shape: `${m}x${k}x${n}`,
      software_adapter: software,
      reference: REFERENCE_GEMM_GFLOPS,
    });
    const s = newBatchTopkState(be, sz.d, sz.c, sz.B, sz.k);
    let t = 0;
    const sec = await bestOf(reps, () => batchTopkStep(be, s, t++));
    const floor = (2 * sz.B * sz.d * sz.c) / (g * 1e9);
    out.push({
      name: "train_step.batchtopk.webgpu",
      value: sec,
      unit: "s",
      backend: be.name,
      samples_per_s: sz.B / sec,
      floor,
      floor_ratio: sec / floor,
      reference: REFERENCE_TORCH_STEP_S,
      shape: `d=${sz.d} c=${sz.c} B=${sz.B} k=${sz.k}`,
      software_adapter: software,
    });
  } finally {
    be.close();
  }
  return out;
}

/** The kernel benchmarks (CPU, then WebGPU when an adapter exists). */
export const benchmarks: Benchmark[] = [
  { group: "kernels.cpu", run: ({ quick, log }) => cpuGroup(quick, log) },
  { group: "kernels.cpu.train_step", run: ({ quick, log }) => cpuStepGroup(quick, log) },
  { group: "kernels.cpu.step_profile", run: ({ quick, log }) => cpuStepProfileGroup(quick, log) },
  { group: "kernels.webgpu", run: ({ quick, log }) => webgpuGroup(quick, log) },
];
