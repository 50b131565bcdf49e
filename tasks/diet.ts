/**
 * The `diet` stage (input role `dataset`: a `dataset` or an `embed` instance, both write
 * `embeddings.parquet` with a split): the train rows of one data diet (method.md §1) —
 * a seeded sub-sample of the train split at a target image:text ratio with the total number of
 * rows held fixed — written as `embeddings.parquet` (table order of the dataset kept).
 */
import { join } from "node:path";
import { z } from "zod";
import { defineStage } from "../pipeline/stage.ts";
import { datasetFiles } from "./dataset.ts";
import { DEFAULT_DIET_RATIOS, dietRatio, type DietsSection } from "./config/diets.ts";
import type { EmbeddingSet } from "../data/embeddings.ts";
import { writeEmbeddings } from "../data/embeddings_io.ts";
import { readEmbeddingsShown } from "./read_embeddings.ts";
import { withProgress } from "../pipeline/progress.ts";
import { selectDiet } from "../data/diets.ts";

/** Parameters of one diet instance. */
export const dietParams = z.strictObject({
  /** `natural` or `a:b` image:text. */
  ratio: dietRatio.default("natural"),
  /** Sub-sampling seed. */
  seed: z.number().int().default(0),
  /** Rows of the diet; 0 = the largest total that every ratio of `autoRatios` allows. */
  total: z.number().int().min(0).default(0),
  /** The ratios that share the fixed total when `total` is 0 (the study's diet grid). */
  autoRatios: z.array(dietRatio).default(() => [...DEFAULT_DIET_RATIOS]),
});

/** Validated diet parameters. */
export type DietParams = z.infer<typeof dietParams>;

/** The parameters of the diet instance of `ratio` and `seed` under a `diets` config section. */
export function dietInstanceParams(section: DietsSection, ratio: string, seed: number): DietParams {
  return { ratio, seed, total: section.total, autoRatios: [...section.ratios] };
}

/**
 * Keep rows `rows` (ascending indices) of `set`, compacting its vectors in place (no second copy
 * of the table: at 480,000 × 768 that is 1.5 GB); `set.vectors` is left reordered.
 */
function subset(set: EmbeddingSet, rows: Int32Array): EmbeddingSet {
  const d = set.d;
  const v = set.vectors;
  rows.forEach((r, i) => {
    if (r !== i) v.copyWithin(i * d, r * d, (r + 1) * d);
  });
  const pick = <T>(a: T[]) => Array.from(rows, (r) => a[r]);
  return {
    n: rows.length,
    d,
    vectors: v.subarray(0, rows.length * d),
    ids: pick(set.ids),
    pairIds: pick(set.pairIds),
    modality: pick(set.modality),
    split: pick(set.split),
    ...(set.source ? { source: pick(set.source) } : {}),
  };
}

/** The `diet` stage. */
export const dietStage = defineStage({
  name: "diet",
  version: 1,
  description: "train rows of one data diet (image:text ratio, fixed total, seeded sub-sample)",
  inputs: { dataset: "dataset|embed" },
  params: dietParams,
  outputs: [datasetFiles.embeddings],
  async run(ctx) {
    const p = ctx.params;
    const src = join(ctx.inputs.dataset.dir, datasetFiles.embeddings);
    const train = await readEmbeddingsShown(ctx.log, "read train rows", src, { split: "train" });
    const sel = selectDiet(train.modality, p.ratio, p.total, p.seed, p.autoRatios);
    const available = {
      image: train.modality.filter((m) => m === "image").length,
      text: train.modality.filter((m) => m === "text").length,
    };
    const out = subset(train, sel.rows);
    await withProgress(
      ctx.log,
      `write ${datasetFiles.embeddings}`,
      out.n,
      "rows",
      (advance) =>
        writeEmbeddings(join(ctx.outDir, datasetFiles.embeddings), out, { onProgress: advance }),
    );
    ctx.setMeta("n", out.n);
    ctx.setMeta("d", out.d);
    ctx.setMeta("images", sel.images);
    ctx.setMeta("texts", sel.texts);
    ctx.setMeta("image_fraction", sel.total > 0 ? sel.images / sel.total : NaN);
    ctx.setMeta("train_available", available);
    ctx.log.info(
      `diet ${p.ratio} seed ${p.seed}: ${sel.images} images + ${sel.texts} captions = ${sel.total} rows`,
    );
  },
});
