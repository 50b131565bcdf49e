/** The `embed` section of the study configuration (see README "Configuration", docs/models.md). */
import { z } from "zod";

/** Image preprocessing overrides (preprocessor_config.json vocabulary; win over the file). */
export const imageOverridesSchema = z.strictObject({
  size: z.strictObject({
    shortest_edge: z.number().int().positive().optional(),
    height: z.number().int().positive().optional(),
    width: z.number().int().positive().optional(),
  }).optional(),
  do_center_crop: z.boolean().optional(),
  crop_size: z.strictObject({
    height: z.number().int().positive(),
    width: z.number().int().positive(),
  }).optional(),
  image_mean: z.array(z.number()).length(3).optional(),
  image_std: z.array(z.number().positive()).length(3).optional(),
  resample: z.number().int().min(0).max(5).optional(),
  do_resize: z.boolean().optional(),
  do_rescale: z.boolean().optional(),
  rescale_factor: z.number().positive().optional(),
  do_normalize: z.boolean().optional(),
  do_convert_rgb: z.boolean().optional(),
});

/**
 * One model to embed with: a local folder (transformers.js layout) or a repository of the Hugging
 * Face hub in that layout (`hub: ORG/NAME`, optional `revision`), plus preset overrides.
 */
export const embedModelSchema = z.strictObject({
  /** Short name used in stage ids, e.g. `clip-b32`. */
  name: z.string().regex(/^[A-Za-z0-9._-]+$/),
  /** Local model folder (config.json, tokenizer.json, preprocessor_config.json, onnx/…). */
  path: z.string().min(1).optional(),
  /** Hub repository id, e.g. `Xenova/clip-vit-base-patch16` (downloaded into the model cache). */
  hub: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9._-]+$/, {
    message: "expected a hub repository id ORG/NAME, e.g. Xenova/clip-vit-base-patch16",
  }).optional(),
  /** Hub revision: a branch, tag or commit (default `main`); only with `hub`. */
  revision: z.string().min(1).optional(),
  /** Family preset; default read from config.json `model_type`. */
  family: z.enum(["clip", "siglip", "siglip2", "aimv2"]).optional(),
  /** Caption length in tokens (default: clip/aimv2 77, siglip/siglip2 64). */
  maxLength: z.number().int().min(2).optional(),
  padding: z.enum(["max_length", "longest"]).optional(),
  lowercase: z.boolean().optional(),
  /** L2-normalise the vectors (default true). */
  normalize: z.boolean().optional(),
  /** ONNX output names (split layout `image`/`text`, combined model.onnx `combined*`). */
  outputs: z.strictObject({
    image: z.string().optional(),
    text: z.string().optional(),
    combinedImage: z.string().optional(),
    combinedText: z.string().optional(),
  }).optional(),
  image: imageOverridesSchema.optional(),
  /** Quantised ONNX variant suffix, e.g. `quantized` → onnx/vision_model_quantized.onnx. */
  variant: z.string().optional(),
  /**
   * Per-space `train.expansionFactor` of this model's space (study level: not part of the embed
   * instance's parameters, so its key does not change).
   */
  expansionFactor: z.number().positive().optional(),
  /** Per-space fixed `train.c` of this model's space (study level, as `expansionFactor`). */
  c: z.number().int().positive().optional(),
}).check((ctx) => {
  const m = ctx.value;
  if ((m.path === undefined) === (m.hub === undefined)) {
    ctx.issues.push({
      code: "custom",
      input: m,
      path: m.path === undefined ? ["path"] : ["hub"],
      message: m.path === undefined
        ? "give the model as path (a local folder) or hub (ORG/NAME)"
        : "give path or hub, not both",
    });
  }
  if (m.revision !== undefined && m.hub === undefined) {
    ctx.issues.push({
      code: "custom",
      input: m,
      path: ["revision"],
      message: "revision applies to hub models only; remove it or set hub",
    });
  }
});

/** The image–caption dataset to embed. */
export const embedSourceSchema = z.strictObject({
  format: z.enum(["coco", "csv", "parquet"]),
  /** COCO captions JSON, or CSV / Parquet of (image path, caption) rows. */
  path: z.string().min(1),
  /** Folder image paths are relative to (default: the folder of `path`). */
  images: z.string().optional(),
  imageColumn: z.string().default("image"),
  captionColumn: z.string().default("caption"),
  /** Keep only the first N images (and their captions). */
  maxImages: z.number().int().positive().optional(),
});

/**
 * Run options shared by the `embed` section and each embed stage instance (tasks/embed.ts):
 * a zod shape, spread into both schemas; every key has a default.
 */
export const embedRunOptionsShape = {
  /** Images per ORT run. */
  imageBatch: z.number().int().positive().default(32),
  /** Captions per ORT run. */
  textBatch: z.number().int().positive().default(256),
  /** Items per resumable shard. */
  shardSize: z.number().int().positive().default(2048),
  /** ORT intra-op threads (0: all cores). */
  threads: z.number().int().min(0).default(0),
  /** Fraction of pairs (images with their captions) in the eval split. */
  evalFraction: z.number().gt(0).lt(1).default(0.2),
  /** Seed of the train/eval split. */
  seed: z.number().int().default(0),
};

/** Schema of the `embed` section; every key has a default so an empty section is valid. */
export const embedSection = z.strictObject({
  /** Models to embed with (none: the study runs on the synthetic world). */
  models: z.array(embedModelSchema).default([]),
  /** The dataset (required when `models` is not empty). */
  source: embedSourceSchema.optional(),
  ...embedRunOptionsShape,
});

/** Validated `embed` section. */
export type EmbedSection = z.infer<typeof embedSection>;
