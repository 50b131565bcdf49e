/**
 * The SAE trainer itself at paper scale (issue #16): `train.paper_scale` is `fitSae` (the
 * trainer's real loop: batch gathering, host syncs, dead-concept tracking and AuxK, logs) on
 * 480,000 × 768 rows of a planted world, batchtopk with c = 6144, k = 32 and the study's own
 * defaults for everything else (batch 512, lr 5e-3, weight decay 1), reported as samples/s
 * (the median step) and as a ratio to its floor: the encoder GEMM of the samples processed at the
 * best GEMM rate measured in the same run. Beside it, the isolated step (`batchTopkStep` of
 * bench/kernels_bench.ts, the op sequence alone on one resident random batch, median of 7) at
 * the same batch size (`train_step.batchtopk.cpu.b<B>`), and the same pair at method.md's batch
 * 4096 (`.b4096`). Both carry a per-op profile (ms per step). `train.paper_scale.auxk` is the
 * trainer at the study's batch with a dead-concept window of 8 batches, so that AuxK runs on
 * every measured step (as late in a long run, once concepts have died).
 *
 * The world is the study's default shape at d = 768, as in the run: 160 planted unit
 * directions (Zipf frequencies), 7 per row, so most of the 6144 concepts have nothing to learn,
 * die, and AuxK runs on the steps after the tracker is armed, as in real training at this scale.
 * Steps: the trainer runs until the dead-concept tracker has seen `deadAfterRows` (the study's
 * 5,000) rows, is timed over the next `MEASURED_ROWS` rows (about 98 steps at 512, 12 at 4096:
 * about 200 and 25 steps in all, fewer than an epoch, 937 steps at 512), then stopped.
 * `--quick`: 48,000 rows at d = 256, c = 2048. The planted rows are generated here (a cheap
 * sampler: Zipf-frequent directions, coefficients 0.5 + U[0, 1)², pooled noise, rows
 * L2-normalised) rather than by data/synthetic_world.ts, which takes minutes at this size.
 *
 * Backend: the CPU backend by default. `CONCEPT_ATLAS_BENCH_BACKEND=webgpu` runs the group on
 * WebGPU instead (`createBackend("webgpu")`, an error without an adapter): the figures are then
 * named `train.paper_scale.webgpu`, `train.paper_scale.auxk.webgpu`,
 * `train.paper_scale.b4096.webgpu` and `train_step.batchtopk.webgpu.b<B>`, and their floor is the
 * GEMM rate measured on that backend. `cpu` (or unset) keeps the CPU figures and names.
 *
 * `train.default_study.<method>.k<k>` (below) times whole runs at the default study's small
 * size, where a step is mostly the fixed cost of its ops rather than FLOPs.
 */
import type { Backend, SparseCodes, Tensor } from "../kernels/backend.ts";
import { createBackend } from "../kernels/select.ts";
import { fitSae, saeMethods } from "../learn/sae/mod.ts";
import { Rng } from "../data/random.ts";
import { normalizeRows } from "../data/rows.ts";
import { studyMethodOptions, type TrainSection, trainSection } from "../tasks/config/train.ts";
import {
  type BatchTopkState,
  batchTopkStep,
  gemmGflops,
  loadAverage,
  newBatchTopkState,
  timedBackend,
} from "./kernels_bench.ts";
import type { Benchmark, BenchResult } from "./types.ts";

/** Rows timed after the dead-concept tracker is armed. */
const MEASURED_ROWS = 50_000;

/** Median of a non-empty list. */
function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Thrown from the step hook to end a timed run early. */
class StopRun extends Error {}

/**
 * A planted world: n rows (n×d), each the sum of `active` of m unit directions drawn with Zipf
 * frequencies (exponent 0.6, with repeats merged), coefficients 0.5 + U[0, 1)², plus one of 1024
 * pooled noise vectors (norm ≈ 0.2), L2-normalised. Deterministic for a seed.
 */
export function plantedRows(
  n: number,
  d: number,
  m: number,
  active: number,
  seed: number,
): { x: Float32Array; directions: Float32Array } {
  const rng = new Rng(seed);
  const dirs = normalizeRows(rng.fillNormal(new Float32Array(m * d)), m, d);
  const pool = 1024;
  const noise = rng.fillNormal(new Float32Array(pool * d), 0.2 / Math.sqrt(d));
  const cdf = new Float64Array(m);
  let s = 0;
  for (let j = 0; j < m; j++) cdf[j] = s += (j + 1) ** -0.6;
  for (let j = 0; j < m; j++) cdf[j] /= s;
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * d, (i + 1) * d);
    const p = rng.int(pool);
    row.set(noise.subarray(p * d, (p + 1) * d));
    for (let a = 0; a < active; a++) {
      const u = rng.uniform();
      let lo = 0, hi = m - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
      }
      const coef = 0.5 + rng.uniform() ** 2;
      const dir = dirs.subarray(lo * d, (lo + 1) * d);
      for (let q = 0; q < d; q++) row[q] += coef * dir[q];
    }
  }
  normalizeRows(x, n, d);
  return { x, directions: dirs };
}

/** Release the tensors of an isolated-step state. */
export function disposeState(be: Backend, s: BatchTopkState): void {
  for (const v of Object.values(s)) {
    if (typeof v !== "object" || v === null) continue;
    if ("capacity" in v) be.disposeSparse(v as SparseCodes);
    else be.dispose(v as Tensor);
  }
}

interface Scale {
  n: number;
  d: number;
  c: number;
  k: number;
  /** Planted directions and directions per row. */
  m: number;
  active: number;
}

const FULL: Scale = { n: 480_000, d: 768, c: 6144, k: 32, m: 160, active: 7 };
const QUICK: Scale = { n: 48_000, d: 256, c: 2048, k: 32, m: 160, active: 7 };

/** What one timed trainer run measured. */
interface TrainerRun {
  /** Median seconds per measured step. */
  sec: number;
  /** Mean seconds per measured step. */
  mean: number;
  steps: number;
  auxSteps: number;
  /** Milliseconds per measured step, per backend op. */
  ops: Record<string, number>;
}

/** Time `fitSae` over the rows after the dead tracker is armed (see module doc). */
async function timeTrainer(
  be: Backend,
  x: Float32Array,
  sc: Scale,
  B: number,
  study: TrainSection,
  deadAfterRows?: number,
): Promise<TrainerRun> {
  const { be: timed, totals } = timedBackend(be);
  const options = {
    ...studyMethodOptions(study, "batchtopk"),
    ...(deadAfterRows ? { deadAfterRows } : {}),
  };
  const window = (options.deadAfterRows as number | null | undefined) ?? Math.min(sc.n, 50_000);
  const armed = Math.ceil(window / B) + 2;
  const measured = Math.max(8, Math.round(MEASURED_ROWS / B));
  let t0 = 0, aux0 = 0, last = 0;
  const times: number[] = [];
  let result: TrainerRun | null = null;
  const auxCalls = () => totals.get("sparseDecode") ?? 0;
  let auxCount = 0;
  // sparseDecode (of the aux codes) is AuxK's only op in a batchtopk step: count the steps that
  // called it (its selection is made inside encodeBatchTopk, from the encoder's own product)
  let lastAux = 0;
  try {
    await fitSae(
      "batchtopk",
      x,
      sc.n,
      sc.d,
      { ...options, c: sc.c, k: sc.k, seed: 0, batchSize: B },
      timed,
      {
        onStep(step) {
          const now = performance.now();
          if (step > armed) times.push((now - last) / 1000);
          last = now;
          const a = auxCalls();
          if (a !== lastAux) auxCount++;
          lastAux = a;
          if (step === armed) {
            t0 = performance.now();
            aux0 = auxCount;
            totals.clear();
            lastAux = 0;
          }
          if (step === armed + measured) {
            const mean = (performance.now() - t0) / 1000 / measured;
            const ops: Record<string, number> = {};
            for (const [op, ms] of totals) ops[op] = Math.round(ms / measured * 100) / 100;
            result = { sec: median(times), mean, steps: measured, auxSteps: auxCount - aux0, ops };
            throw new StopRun();
          }
        },
      },
    );
  } catch (e) {
    if (!(e instanceof StopRun)) throw e;
  }
  if (!result) throw new Error("train bench: the run ended before the measured steps");
  return result;
}

/** The backend of `train.paper_scale`: `CONCEPT_ATLAS_BENCH_BACKEND` (cpu, the default; webgpu). */
export function paperScaleBackend(
  env: string | undefined = Deno.env.get("CONCEPT_ATLAS_BENCH_BACKEND"),
): "cpu" | "webgpu" {
  const kind = env?.trim() || "cpu";
  if (kind !== "cpu" && kind !== "webgpu") {
    throw new Error(`CONCEPT_ATLAS_BENCH_BACKEND=${env}: unknown backend; use cpu or webgpu`);
  }
  return kind;
}

async function paperScaleGroup(
  quick: boolean,
  log: (line: string) => void,
): Promise<BenchResult[]> {
  const kind = paperScaleBackend();
  // CPU figures keep their names; the others carry their backend
  const tag = kind === "cpu" ? "" : `.${kind}`;
  const sc = quick ? QUICK : FULL;
  const study = trainSection.parse({});
  const t0 = performance.now();
  log(`train.paper_scale: generating ${sc.n}×${sc.d} planted rows …`);
  const { x } = plantedRows(sc.n, sc.d, sc.m, sc.active, 5);
  log(`  ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const be = await createBackend(kind, { log });
  const out: BenchResult[] = [];
  try {
    let gflops = 0;
    const batches = [...new Set([study.batchSize, 4096])];
    for (const B of batches) {
      // floor and isolated step in alternation with the trainer, so that they see the same load
      gflops = Math.max(gflops, await gemmGflops(be, 4096, sc.d, sc.c, 2));
      const s = newBatchTopkState(be, sc.d, sc.c, B, sc.k);
      const { be: timed, totals } = timedBackend(be);
      const isoTimes: number[] = [];
      const isoTotals = new Map<string, number>();
      for (let t = 0; t < 8; t++) {
        totals.clear();
        const a = performance.now();
        await batchTopkStep(timed, s, t);
        if (t === 0) continue; // warm-up
        isoTimes.push((performance.now() - a) / 1000);
        for (const [op, ms] of totals) isoTotals.set(op, (isoTotals.get(op) ?? 0) + ms);
      }
      const iso = median(isoTimes);
      const isoOps = Object.fromEntries(
        [...isoTotals].map(([op, ms]) => [op, Math.round(ms / isoTimes.length * 100) / 100]),
      );
      disposeState(be, s);
      log(`  isolated step at B=${B}: ${(iso * 1000).toFixed(1)} ms`);
      // The study's own dead-concept window, and (at the study's batch) a short one (8 batches)
      // so that AuxK runs on every measured step, as late in a long run where concepts have died.
      const windows: (number | undefined)[] = B === study.batchSize
        ? [undefined, 8 * B]
        : [undefined];
      const runs = [];
      for (const w of windows) {
        const run = await timeTrainer(be, x, sc, B, study, w);
        log(`  trainer at B=${B}: ${(run.sec * 1000).toFixed(1)} ms/step (${run.auxSteps} AuxK)`);
        runs.push({ run, suffix: w === undefined ? "" : ".auxk" });
      }
      gflops = Math.max(gflops, await gemmGflops(be, 4096, sc.d, sc.c, 2));
      const floor = (2 * B * sc.d * sc.c) / (gflops * 1e9);
      const shape = `n=${sc.n} d=${sc.d} c=${sc.c} k=${sc.k} B=${B}`;
      for (const { run, suffix: aux } of runs) {
        const suffix = (B === study.batchSize ? "" : `.b${B}`) + aux;
        out.push({
          name: `train.paper_scale${suffix}${tag}`,
          value: run.sec,
          unit: "s",
          backend: be.name,
          samples_per_s: B / run.sec,
          mean_samples_per_s: B / run.mean,
          floor,
          floor_ratio: run.sec / floor,
          isolated_step_s: iso,
          isolated_samples_per_s: B / iso,
          ratio_to_isolated: run.sec / iso,
          target_ratio_to_isolated: 1.3,
          measured_steps: run.steps,
          auxk_steps: run.auxSteps,
          gemm_gflops: gflops,
          shape,
          op_ms_per_step: JSON.stringify(run.ops),
          isolated_op_ms: JSON.stringify(isoOps),
          load_average: loadAverage(),
        });
      }
      out.push({
        name: `train_step.batchtopk.${kind}.b${B}`,
        value: iso,
        unit: "s",
        backend: be.name,
        samples_per_s: B / iso,
        floor,
        floor_ratio: iso / floor,
        shape: `d=${sc.d} c=${sc.c} B=${B} k=${sc.k}`,
        load_average: loadAverage(),
      });
    }
  } finally {
    be.close();
  }
  return out;
}

/**
 * `be` counting its dense-path ops (`thresholdDense`, one a dense step) in `denseOps()`, and
 * handing every `read` result to `onRead`.
 */
function denseCounted(
  be: Backend,
  onRead?: (t: Tensor, r: Float32Array | Int32Array) => void,
): { be: Backend; denseOps: () => number } {
  let dense = 0;
  const counted = new Proxy(be, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      if (prop === "thresholdDense") return (...a: unknown[]) => (dense++, v.apply(target, a));
      if (prop === "read" && onRead) {
        return async (t: Tensor) => {
          const r = await v.apply(target, [t]);
          onRead(t, r);
          return r;
        };
      }
      return v.bind(target);
    },
  }) as Backend;
  return { be: counted, denseOps: () => dense };
}

/**
 * The penalised variants over the first part of a real run (`train.run.<method>`, unit s: the mean
 * step): `fitSae` from initialisation with the study's defaults (batch 512, lr 5e-3, 30 epochs,
 * so the warm-up and the controller's first moves fall inside) on a planted world at the SAE
 * issue's d = 512, c = 4096, k = 32, stopped after `RUN_STEPS` steps. It reports the fraction of
 * those steps that took the dense path (`dense_fraction`, from the backend's dense-code op), the
 * ℓ0 of the last sync window (`last_window_l0`) and the ratio to the floor (the encoder GEMM of the batch at the best
 * GEMM rate measured in the same run). `.plain` is the same run with `startAtTarget: false`, the
 * plain start (b_enc = 0, half of all entries coded) for comparison. `--quick`: d = 128, c = 1024.
 */
async function penalisedRunGroup(
  quick: boolean,
  log: (line: string) => void,
): Promise<BenchResult[]> {
  const [d, c, k, steps] = quick ? [128, 1024, 16, 40] : [512, 4096, 32, RUN_STEPS];
  const study = trainSection.parse({});
  const B = study.batchSize, n = B * 200; // more rows than steps: no epoch end inside
  const { x } = plantedRows(n, d, 160, 7, 9);
  const be = await createBackend("cpu", { log });
  const out: BenchResult[] = [];
  try {
    let gflops = await gemmGflops(be, B, d, c, 2);
    for (const method of ["relu", "jumprelu"] as const) {
      for (const startAtTarget of [true, false]) {
        let last = performance.now(), l0 = NaN;
        const times: number[] = [];
        // the sync's read of the window's fire counts ([c]): ℓ0 of the window
        const { be: counted, denseOps } = denseCounted(be, (t, r) => {
          if (t.shape.length !== 1 || t.shape[0] !== c) return;
          let s = 0;
          for (const q of r as Float32Array) s += q;
          l0 = s / (2 * B); // the default syncEvery: 2 batches a window
        });
        log(`  ${method}${startAtTarget ? "" : " (plain start)"}: ${steps} steps …`);
        try {
          await fitSae(
            method,
            x,
            n,
            d,
            { ...studyMethodOptions(study, method), c, k, seed: 0, batchSize: B, startAtTarget },
            counted,
            {
              onStep(step) {
                const now = performance.now();
                times.push((now - last) / 1000);
                last = now;
                if (step === steps) throw new StopRun();
              },
            },
          );
        } catch (e) {
          if (!(e instanceof StopRun)) throw e;
        }
        gflops = Math.max(gflops, await gemmGflops(be, B, d, c, 1));
        const floor = (2 * B * d * c) / (gflops * 1e9);
        const mean = times.reduce((a, b) => a + b, 0) / times.length;
        out.push({
          name: `train.run.${method}${startAtTarget ? "" : ".plain"}`,
          value: mean,
          unit: "s",
          backend: be.name,
          samples_per_s: B / mean,
          median_step_s: median(times),
          dense_fraction: denseOps() / times.length,
          last_window_l0: l0,
          floor,
          floor_ratio: mean / floor,
          gemm_gflops: gflops,
          steps: times.length,
          shape: `n=${n} d=${d} c=${c} k=${k} B=${B}`,
          load_average: loadAverage(),
        });
      }
    }
  } finally {
    be.close();
  }
  return out;
}

/** Steps of each `train.run.<method>` figure. */
const RUN_STEPS = 150;

/**
 * The default study's SAE runs (`train.default_study.<method>.k<k>`, unit s: the mean step of a
 * whole run): `fitSae` with the study's defaults (c = 4·d = 512, batch 512, lr 5e-3, 30 epochs
 * = 450 steps, every option at its default, AuxK included) on a planted world of the default
 * world's shape (7680 training rows at d = 128, 160 directions, 7 per row), at the primary
 * k = 8 and the sweep's largest k = 32. The floor is the step's three dense B×d×c products
 * (encoder, decoder, encoder gradient) at the best GEMM rate of that shape measured in the same
 * run: at this size most of a step is the fixed cost of its ops, which these figures track.
 * Also `run_s` (the whole fit), `dense_fraction` (steps on the dense path: relu / jumprelu) and
 * the final training R². `--quick`: 3 epochs, k = 8.
 */
async function defaultStudyGroup(
  quick: boolean,
  log: (line: string) => void,
): Promise<BenchResult[]> {
  const study = trainSection.parse({});
  const [n, d, c] = [7680, 128, 4 * 128];
  const B = study.batchSize;
  const epochs = quick ? 3 : study.epochs;
  const ks = quick ? [8] : [8, 32];
  const { x } = plantedRows(n, d, 160, 7, 11);
  const be = await createBackend("cpu", { log });
  const out: BenchResult[] = [];
  try {
    let gflops = await gemmGflops(be, B, d, c, 5);
    for (const method of saeMethods) {
      for (const k of ks) {
        const { be: counted, denseOps } = denseCounted(be);
        let steps = 0;
        const t0 = performance.now();
        const fit = await fitSae(
          method,
          x,
          n,
          d,
          { ...studyMethodOptions(study, method), c, k, seed: 0, batchSize: B, epochs },
          counted,
          { onStep: (step) => void (steps = step) },
        );
        const run = (performance.now() - t0) / 1000;
        gflops = Math.max(gflops, await gemmGflops(be, B, d, c, 3));
        const floor = (3 * 2 * B * d * c) / (gflops * 1e9);
        const mean = run / steps;
        log(`  ${method} k=${k}: ${(mean * 1000).toFixed(2)} ms/step, ${run.toFixed(2)} s`);
        out.push({
          name: `train.default_study.${method}.k${k}`,
          value: mean,
          unit: "s",
          backend: be.name,
          run_s: run,
          steps,
          floor,
          floor_ratio: mean / floor,
          dense_fraction: denseOps() / steps,
          r2: fit.log[fit.log.length - 1]?.r2 ?? NaN,
          gemm_gflops: gflops,
          shape: `n=${n} d=${d} c=${c} k=${k} B=${B} epochs=${epochs}`,
          load_average: loadAverage(),
        });
      }
    }
  } finally {
    be.close();
  }
  return out;
}

/**
 * The trainer benchmarks: at paper scale (`--filter paper_scale`), the penalised variants'
 * run from initialisation (`--filter train.run`) and the default study's runs
 * (`--filter default_study`).
 */
export const benchmarks: Benchmark[] = [
  { group: "train.paper_scale", run: ({ quick, log }) => paperScaleGroup(quick, log) },
  { group: "train.run", run: ({ quick, log }) => penalisedRunGroup(quick, log) },
  { group: "train.default_study", run: ({ quick, log }) => defaultStudyGroup(quick, log) },
];
