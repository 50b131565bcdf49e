/**
 * The `encode` stage: sparse codes of the EVAL split of the dataset under one trained
 * dictionary. Inputs `train` (weights) and `dataset` (embeddings.parquet, all rows). Writes
 * `codes.parquet`: `row` = 0-based position within the eval rows in table order.
 */
import { z } from "zod";
import type { Stage, StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { writeCodes } from "../data/codes_io.ts";
import { encodeAll, loadTrained, openBackend } from "./train.ts";
import { meanL0 } from "../learn/metrics.ts";

/** The encode stage takes no parameters. */
export const encodeParamsSchema = z.strictObject({});

async function runEncode(ctx: StageContext<Record<string, never>>): Promise<void> {
  const { train, dataset } = ctx.inputs;
  if (!train || !dataset) throw new UserError("encode: needs the inputs `train` and `dataset`");
  const model = await loadTrained(train.dir);
  const path = `${dataset.dir}/embeddings.parquet`;
  const set = await readEmbeddings(path, { split: "eval", expectDim: model.d, source: false });
  if (set.n === 0) {
    throw new UserError(`${path}: column \`split\` has no eval rows; configure an eval split`);
  }
  const backend = await openBackend(ctx);
  try {
    const bar = ctx.log.progress(`encode ${model.method}`, set.n, "rows");
    const z = await encodeAll(model, set.vectors, set.n, backend, (m) => bar.tick(m));
    bar.done();
    await writeCodes(`${ctx.outDir}/codes.parquet`, z);
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
}

/** The `encode` stage (inputs `train`, `dataset`). */
export const encodeStage: Stage<Record<string, never>> = {
  name: "encode",
  version: 1,
  description: "sparse codes of the eval split under one trained dictionary",
  inputs: { train: "train", dataset: "dataset|embed" },
  params: encodeParamsSchema as unknown as z.ZodType<Record<string, never>>,
  outputs: ["codes.parquet"],
  run: runEncode,
};
