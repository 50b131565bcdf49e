/**
 * The `encode` stage: sparse codes of the EVAL split of the dataset under one trained
 * dictionary. Inputs `train` (weights) and `dataset` (embeddings.parquet, all rows). Writes
 * `codes.parquet`: `row` = 0-based position within the eval rows in table order.
 */
import { defineStage } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { readEmbeddingsCached } from "./read_embeddings.ts";
import { writeCodes } from "../data/codes_io.ts";
import { encodeAll, loadTrained } from "../learn/trained.ts";
import { openBackend } from "../learn/stage_backend.ts";
import { meanL0 } from "../learn/metrics.ts";
import { datasetFiles } from "./dataset.ts";

/** Files of an encode key folder. */
export const encodeFiles = {
  /** CSR codes of the eval rows (data/codes_io.ts). */
  codes: "codes.parquet",
} as const;

/** The `encode` stage (inputs `train`, `dataset`; no parameters). */
export const encodeStage = defineStage({
  name: "encode",
  version: 1,
  description: "sparse codes of the eval split under one trained dictionary",
  inputs: { train: "train", dataset: "dataset|embed" },
  outputs: [encodeFiles.codes],
  async run(ctx) {
    const model = await loadTrained(ctx.inputs.train.dir);
    const path = `${ctx.inputs.dataset.dir}/${datasetFiles.embeddings}`;
    const set = await readEmbeddingsCached(path, {
      split: "eval",
      expectDim: model.d,
      source: false,
    });
    if (set.n === 0) {
      throw new UserError(`${path}: column \`split\` has no eval rows; configure an eval split`);
    }
    const backend = await openBackend(ctx);
    try {
      const bar = ctx.log.progress(`encode ${model.method}`, set.n, "rows");
      const z = await encodeAll(model, set.vectors, set.n, backend, (m) => bar.tick(m));
      bar.done();
      await writeCodes(`${ctx.outDir}/${encodeFiles.codes}`, z);
      ctx.setMeta("split", "eval");
      ctx.setMeta("rows_input", "dataset");
      ctx.setMeta("rows", z.rows);
      ctx.setMeta("cols", z.cols);
      ctx.setMeta("entries", z.rowPtr[z.rows]);
      ctx.setMeta("l0", meanL0(z));
      ctx.setMeta("method", model.method);
    } finally {
      backend.close();
    }
  },
});
