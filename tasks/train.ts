/**
 * The `train` stage: fit one dictionary (SAE variant or baseline) on the training rows of one
 * diet. Input `diet` (embeddings.parquet = the train rows). Writes `dictionary.parquet`,
 * `weights.safetensors` + `config.json` (loadable from Python, see scripts/load_weights.py) and
 * `log.parquet` (one row per epoch/iteration: epoch, loss, r2, l0, dead_fraction, extras).
 */
import type { z } from "zod";
import { defineStage, type StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { writeDictionary } from "../data/dictionary_io.ts";
import { writeSafetensors } from "../data/safetensors.ts";
import { writeTable } from "../data/table_io.ts";
import type { EpochLog } from "../learn/learner.ts";
import { fitMethod, parseMethodOptions } from "../learn/registry.ts";
import { deadFraction, meanL0, reconstructionR2 } from "../learn/metrics.ts";
import { decodeAll, encodeAll, trainedFiles } from "../learn/trained.ts";
import { openBackend } from "../learn/stage_backend.ts";
import { datasetFiles } from "./dataset.ts";
import { trainParamsSchema } from "./config/train.ts";

export { trainParamsSchema };

/** Validated train parameters. */
export type TrainParams = z.infer<typeof trainParamsSchema>;

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

/** Input roles of the train stage. */
const inputs = { diet: "diet" } as const;

async function runTrain(ctx: StageContext<TrainParams, typeof inputs>): Promise<void> {
  const p = ctx.params;
  const path = `${ctx.inputs.diet.dir}/${datasetFiles.embeddings}`;
  const set = await readEmbeddings(path, { source: false });
  const { n, d } = set;
  if (n === 0) throw new UserError(`${path}: no training rows; check the diet configuration`);
  const c = p.c ?? Math.max(1, Math.round(p.expansionFactor * d));
  const options = parseMethodOptions(p.method, p.options);
  // a step's encoder GEMM (2·B·d·c): `auto` keeps small steps on the CPU
  const batch = Math.min(n, (options as { batchSize?: number }).batchSize ?? n);
  const backend = await openBackend(ctx, 2 * batch * d * c);
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
    const out = (file: string) => `${ctx.outDir}/${file}`;
    await writeDictionary(out(trainedFiles.dictionary), model.dictionary, model.c, model.d);
    await writeSafetensors(out(trainedFiles.weights), exported.tensors, {
      format: "pt",
      method: model.method,
      producer: "concept-atlas",
    });
    await Deno.writeTextFile(out(trainedFiles.config), JSON.stringify(config, null, 2) + "\n");
    await writeTable(out(trainedFiles.log), logColumns(log));
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

/** The `train` stage (input `diet`); its files are {@link trainedFiles} (learn/trained.ts). */
export const trainStage = defineStage({
  name: "train",
  // 2: encoder as c×d rows, native sparse kernels; 3: fused optimiser passes (last bits);
  // 4: batch top-k through the fused (screened) encoder; 5: relu / jumprelu start at the
  // target ℓ0 (learn/sae/controller.ts `startAtTarget`); 6: AuxK's encoder gradient straight
  // through the ReLU (dead concepts with no positive pre-activation revive); 7: relu / jumprelu
  // sparse up to 8% code density (denseAbove 0.08, was 0.02: same gradients, other bits);
  // 8: jumprelu's θ gradient sums its band's entries, which the threshold op collects in its
  // pass (was the difference of two thresholded sums: same gradient, other bits)
  version: 8,
  description: "fit one dictionary (SAE variant or baseline) on the training rows of a diet",
  inputs,
  params: trainParamsSchema,
  outputs: Object.values(trainedFiles),
  run: runTrain,
});
