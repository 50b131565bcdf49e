/**
 * The `evaluate` stage (method.md §3): reconstruction quality of one trained dictionary on the
 * eval split, pooled and per modality: r2 (per-dimension mean), r2_zero (scalar mean), ℓ0
 * (mean non-zero codes per row, as the encoder actually produces them — for BatchTopK the ℓ0
 * its inference threshold gives) and dead fraction over the pass. Inputs `train`, `encode`,
 * `dataset`. Writes `metrics.parquet` (one row per scope) and `metrics.json`.
 */
import { defineStage, type StageContext } from "../pipeline/stage.ts";
import { readEmbeddingsCached } from "./read_embeddings.ts";
import { readCodes } from "../data/codes_io.ts";
import { writeTable } from "../data/table_io.ts";
import { evaluateReconstruction } from "../learn/metrics.ts";
import { decodeAll, loadTrained } from "../learn/trained.ts";
import { openBackend } from "../learn/stage_backend.ts";
import { datasetFiles } from "./dataset.ts";
import { encodeFiles } from "./encode.ts";

/** Files of an evaluate key folder. */
export const evaluateFiles = {
  /** One row per scope (pooled, image, text). */
  metrics: "metrics.parquet",
  /** The same as {@link MetricsJson}. */
  metricsJson: "metrics.json",
} as const;

/** Input roles of the evaluate stage. */
const inputs = { train: "train", encode: "encode", dataset: "dataset|embed" } as const;

/** Shape of `metrics.json`. */
export interface MetricsJson {
  method: string;
  k: number;
  c: number;
  d: number;
  seed: number;
  diet: string;
  train_id: string;
  scopes: {
    scope: string;
    r2: number | null;
    r2_zero: number | null;
    l0: number | null;
    dead_fraction: number | null;
    n_rows: number;
  }[];
}

const finite = (v: number) => (Number.isFinite(v) ? v : null);

async function runEvaluate(ctx: StageContext<Record<string, never>, typeof inputs>): Promise<void> {
  const { train, encode, dataset } = ctx.inputs;
  const model = await loadTrained(train.dir);
  const path = `${dataset.dir}/${datasetFiles.embeddings}`;
  const set = await readEmbeddingsCached(path, {
    split: "eval",
    expectDim: model.d,
    source: false,
  });
  const z = await readCodes(`${encode.dir}/${encodeFiles.codes}`, set.n, model.c);
  const backend = await openBackend(ctx);
  let scopes;
  try {
    const xhat = await decodeAll(model, z, backend);
    scopes = evaluateReconstruction(set.vectors, xhat, z, set.n, model.d, set.modality);
  } finally {
    backend.close();
  }
  await writeTable(`${ctx.outDir}/${evaluateFiles.metrics}`, {
    scope: scopes.map((s) => s.scope),
    r2: Float64Array.from(scopes, (s) => s.r2),
    r2_zero: Float64Array.from(scopes, (s) => s.r2Zero),
    l0: Float64Array.from(scopes, (s) => s.l0),
    dead_fraction: Float64Array.from(scopes, (s) => s.deadFraction),
    n_rows: Int32Array.from(scopes, (s) => s.nRows),
  });
  const tp = train.params as Record<string, unknown>;
  const out: MetricsJson = {
    method: model.method,
    k: Number(tp.k),
    c: model.c,
    d: model.d,
    seed: Number(tp.seed ?? 0),
    diet: String(tp.diet ?? "natural"),
    train_id: train.id,
    scopes: scopes.map((s) => ({
      scope: s.scope,
      r2: finite(s.r2),
      r2_zero: finite(s.r2Zero),
      l0: finite(s.l0),
      dead_fraction: finite(s.deadFraction),
      n_rows: s.nRows,
    })),
  };
  await Deno.writeTextFile(
    `${ctx.outDir}/${evaluateFiles.metricsJson}`,
    JSON.stringify(out, null, 2) + "\n",
  );
  const pooled = scopes[0];
  for (const key of ["method", "k", "c", "seed", "diet"] as const) ctx.setMeta(key, out[key]);
  ctx.setMeta("r2", finite(pooled.r2));
  ctx.setMeta("r2_zero", finite(pooled.r2Zero));
  ctx.setMeta("l0", finite(pooled.l0));
  ctx.setMeta("dead_fraction", finite(pooled.deadFraction));
  ctx.log.info(
    `${model.method} k=${out.k}: r2=${pooled.r2.toFixed(4)} r2_zero=${
      pooled.r2Zero.toFixed(4)
    } l0=${pooled.l0.toFixed(2)} dead=${pooled.deadFraction.toFixed(3)}`,
  );
}

/** The `evaluate` stage (inputs `train`, `encode`, `dataset`; no parameters). */
export const evaluateStage = defineStage({
  name: "evaluate",
  version: 1,
  description: "R², R²(zero), ℓ0 and dead fraction on the eval split, pooled and per modality",
  inputs,
  outputs: Object.values(evaluateFiles),
  run: runEvaluate,
});
