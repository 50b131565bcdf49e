/**
 * The `train` stage: fit one dictionary (SAE variant or baseline) on the training rows of one
 * diet. Input `diet` (embeddings.parquet = the train rows). Writes `dictionary.parquet`,
 * `weights.safetensors` + `config.json` (loadable from Python, see scripts/load_weights.py) and
 * `log.parquet` (one row per epoch/iteration: epoch, loss, r2, l0, dead_fraction, extras).
 */
import type { z } from "zod";
import type { Stage, StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { writeDictionary } from "../data/dictionary_io.ts";
import { readSafetensors, writeSafetensors } from "../data/safetensors.ts";
import { writeTable } from "../data/table_io.ts";
import { type BackendKind, createBackend } from "../kernels/select.ts";
import type { Backend } from "../kernels/backend.ts";
import type { EpochLog, FittedDictionary, HostSparseCodes } from "../learn/learner.ts";
import { fitMethod, loadMethod, parseMethodOptions } from "../learn/registry.ts";
import { trainParamsSchema } from "./config/train.ts";

export { trainParamsSchema };
import { deadFraction, meanL0, reconstructionR2 } from "../learn/metrics.ts";

/** Validated train parameters. */
export type TrainParams = z.infer<typeof trainParamsSchema>;

/** Open the backend the command line asked for and record its name in the manifest. */
export async function openBackend(ctx: StageContext<unknown>): Promise<Backend> {
  const backend = await createBackend(ctx.backend as BackendKind, {
    log: (line) => ctx.log.info(line),
  });
  ctx.setMeta("backend", backend.name);
  return backend;
}

/** Concatenate CSR code blocks (same `cols`) into one. */
export function concatCodes(blocks: HostSparseCodes[], cols: number): HostSparseCodes {
  const rows = blocks.reduce((s, b) => s + b.rows, 0);
  const nnz = blocks.reduce((s, b) => s + b.rowPtr[b.rows], 0);
  const rowPtr = new Int32Array(rows + 1);
  const index = new Int32Array(nnz);
  const value = new Float32Array(nnz);
  let r = 0;
  let p = 0;
  for (const b of blocks) {
    const m = b.rowPtr[b.rows];
    index.set(b.index.subarray(0, m), p);
    value.set(b.value.subarray(0, m), p);
    for (let i = 1; i <= b.rows; i++) rowPtr[r + i] = p + b.rowPtr[i];
    r += b.rows;
    p += m;
  }
  return { rows, cols, rowPtr, index, value };
}

/** Rows per encode/decode block. */
export const CODE_BLOCK_ROWS = 4096;

/** Encode X (n×d) block by block. */
export async function encodeAll(
  model: FittedDictionary,
  x: Float32Array,
  n: number,
  backend: Backend,
  onBlock?: (rows: number) => void,
): Promise<HostSparseCodes> {
  const d = model.d;
  const blocks: HostSparseCodes[] = [];
  for (let s = 0; s < n; s += CODE_BLOCK_ROWS) {
    const m = Math.min(CODE_BLOCK_ROWS, n - s);
    blocks.push(await model.encode(x.subarray(s * d, (s + m) * d), m, backend));
    onBlock?.(m);
  }
  return concatCodes(blocks, model.c);
}

/** Decode CSR codes block by block into Â (rows×d). */
export async function decodeAll(
  model: FittedDictionary,
  z: HostSparseCodes,
  backend: Backend,
): Promise<Float32Array> {
  const d = model.d;
  const out = new Float32Array(z.rows * d);
  for (let s = 0; s < z.rows; s += CODE_BLOCK_ROWS) {
    const m = Math.min(CODE_BLOCK_ROWS, z.rows - s);
    const base = z.rowPtr[s];
    const rowPtr = new Int32Array(m + 1);
    for (let i = 0; i <= m; i++) rowPtr[i] = z.rowPtr[s + i] - base;
    const end = z.rowPtr[s + m];
    const block: HostSparseCodes = {
      rows: m,
      cols: z.cols,
      rowPtr,
      index: z.index.subarray(base, end),
      value: z.value.subarray(base, end),
    };
    out.set(await model.decode(block, backend), s * d);
  }
  return out;
}

/** Load a trained dictionary from a train key folder (config.json + weights.safetensors). */
export async function loadTrained(dir: string): Promise<FittedDictionary> {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  } catch {
    throw new UserError(`${dir}/config.json: missing or not JSON; re-run train (--force train)`);
  }
  const { tensors } = await readSafetensors(`${dir}/weights.safetensors`);
  return loadMethod(config, tensors);
}

/** The per-epoch log as columns (extras become extra float64 columns, NaN where absent). */
function logColumns(log: EpochLog[]) {
  const extras = [...new Set(log.flatMap((e) => Object.keys(e.extra ?? {})))].sort();
  const cols: Record<string, Int32Array | Float64Array> = {
    epoch: Int32Array.from(log, (e) => e.epoch),
    loss: Float64Array.from(log, (e) => e.loss),
    r2: Float64Array.from(log, (e) => e.r2),
    l0: Float64Array.from(log, (e) => e.l0),
    dead_fraction: Float64Array.from(log, (e) => e.deadFraction),
  };
  for (const k of extras) {
    if (k in cols) continue;
    cols[k] = Float64Array.from(log, (e) => e.extra?.[k] ?? NaN);
  }
  return cols;
}

async function runTrain(ctx: StageContext<TrainParams>): Promise<void> {
  const p = ctx.params;
  const diet = ctx.inputs.diet;
  if (!diet) throw new UserError("train: needs the input `diet` (the training rows)");
  const path = `${diet.dir}/embeddings.parquet`;
  const set = await readEmbeddings(path, { source: false });
  const { n, d } = set;
  if (n === 0) throw new UserError(`${path}: no training rows; check the diet configuration`);
  const c = p.c ?? Math.max(1, Math.round(p.expansionFactor * d));
  const options = parseMethodOptions(p.method, p.options);
  const backend = await openBackend(ctx);
  try {
    ctx.log.info(`fitting ${p.method} (c=${c}, k=${p.k}, seed=${p.seed}) on ${n}×${d} rows`);
    let bar: ReturnType<typeof ctx.log.progress> | null = null;
    const t0 = performance.now();
    const model = await fitMethod(set.vectors, n, d, {
      method: p.method,
      c,
      k: p.k,
      seed: p.seed,
      options,
      onStep: (_step, total) => {
        bar ??= ctx.log.progress(`train ${p.method}`, total, "steps");
        bar.tick(1);
      },
    }, backend);
    (bar as ReturnType<typeof ctx.log.progress> | null)?.done();
    const seconds = (performance.now() - t0) / 1000;
    let log = model.log;
    if (log.length === 0) {
      // closed-form fit: one record of its training-set quality
      const z = await encodeAll(model, set.vectors, n, backend);
      const xhat = await decodeAll(model, z, backend);
      const r = reconstructionR2(set.vectors, xhat, n, d);
      let sse = 0;
      for (let e = 0; e < n * d; e++) sse += (set.vectors[e] - xhat[e]) ** 2;
      log = [{ epoch: 0, loss: sse / n, r2: r.r2, l0: meanL0(z), deadFraction: deadFraction(z) }];
    }
    const exported = model.exportWeights();
    const config = {
      ...exported.config,
      method: model.method,
      c: model.c,
      d: model.d,
      k: exported.config.k ?? p.k,
      seed: p.seed,
      diet: p.diet,
      train_rows: n,
      backend: backend.name,
      options,
    };
    await writeDictionary(`${ctx.outDir}/dictionary.parquet`, model.dictionary, model.c, model.d);
    await writeSafetensors(`${ctx.outDir}/weights.safetensors`, exported.tensors, {
      format: "pt",
      method: model.method,
      producer: "concept-atlas",
    });
    await Deno.writeTextFile(`${ctx.outDir}/config.json`, JSON.stringify(config, null, 2) + "\n");
    await writeTable(`${ctx.outDir}/log.parquet`, logColumns(log));
    const last = log[log.length - 1];
    ctx.setMeta("method", model.method);
    ctx.setMeta("c", model.c);
    ctx.setMeta("d", model.d);
    ctx.setMeta("k", p.k);
    ctx.setMeta("seed", p.seed);
    ctx.setMeta("diet", p.diet);
    ctx.setMeta("train_rows", n);
    ctx.setMeta("fit_seconds", Math.round(seconds * 1000) / 1000);
    ctx.setMeta("final", { r2: last.r2, l0: last.l0, dead_fraction: last.deadFraction });
    ctx.log.info(
      `${p.method}: r2=${last.r2.toFixed(4)} l0=${last.l0.toFixed(2)} dead=${
        last.deadFraction.toFixed(3)
      } in ${seconds.toFixed(1)} s`,
    );
  } finally {
    backend.close();
  }
}

/** The `train` stage (input `diet`). */
export const trainStage: Stage<TrainParams> = {
  name: "train",
  // 2: encoder as c×d rows, native sparse kernels; 3: fused optimiser passes (last bits);
  // 4: batch top-k through the fused (screened) encoder
  version: 4,
  description: "fit one dictionary (SAE variant or baseline) on the training rows of a diet",
  inputs: { diet: "diet" },
  params: trainParamsSchema,
  outputs: ["dictionary.parquet", "weights.safetensors", "config.json", "log.parquet"],
  run: runTrain,
};
