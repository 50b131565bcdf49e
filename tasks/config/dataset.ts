/**
 * The `dataset` section of the study configuration (see README "Configuration"): where the
 * embedding rows come from (the built-in synthetic world, `.npy`/`.npz` arrays with a pairs
 * table, or a Parquet embeddings table), how they are split and normalised.
 */
import { z } from "zod";
import { defaultWorldGenerator } from "../../data/synthetic_world.ts";

/**
 * Every knob of the synthetic VLM world (method.md §8; data/synthetic_world.ts). Defaults are
 * calibrated to the COCO-500 CLIP ViT-B/16 fixture (centroid distance 0.851, image→text top-1
 * retrieval 0.55 at 500 pairs; the default world gives 0.91 and 0.50) and sized so that the
 * whole default study runs in about three minutes on 2 cores while its SAEs recover the planted
 * world: d = 128, 160 planted directions (64 image/text twin pairs, 16 image-only, 16
 * text-only), about 7 active per row, 8000 images × 2 captions = 24000 rows, so every diet has
 * 7680 training rows and the rarest planted concept still occurs on ~100 of them.
 */
export const worldSection = z.strictObject({
  /** Embedding dimension. */
  d: z.number().int().min(4).default(128),
  /** Number of images (pairs). */
  images: z.number().int().min(1).default(8000),
  /**
   * Captions per image (COCO has about 5; 2 keeps a third of the natural diet images, so the
   * image directions get enough rows).
   */
  captionsPerImage: z.number().int().min(1).default(2),
  /** Planted cross-modal concepts (each an image direction and a text twin). */
  sharedConcepts: z.number().int().min(0).default(64),
  /** Planted image-only concepts. */
  imageConcepts: z.number().int().min(0).default(16),
  /** Planted text-only concepts. */
  textConcepts: z.number().int().min(0).default(16),
  /** Zipf exponent of concept frequencies: f_r = maxFrequency · r^(−zipf), r = 1, 2, … */
  zipf: z.number().min(0).default(0.4),
  /** Frequency of the most frequent concept of each kind (probability per row). */
  maxFrequency: z.number().gt(0).max(1).default(0.25),
  /** Mean cosine between the image and text directions of a shared concept. */
  twinCosine: z.number().min(-1).max(1).default(0.6),
  /** Twin cosines are uniform in twinCosine ± twinCosineSpread (clipped to [−1, 1]). */
  twinCosineSpread: z.number().min(0).max(1).default(0.2),
  /** Probability that a caption drops each shared concept of its image. */
  captionDropout: z.number().min(0).max(1).default(0.05),
  /** Concept coefficients are lognormal: exp(N(log(coefMean), coefSpread²)). */
  coefMean: z.number().gt(0).default(1),
  /** Log-scale spread of coefficients. */
  coefSpread: z.number().min(0).default(0.3),
  /** Relative jitter of a caption's coefficient around its image's: c·(1 + jitter·N(0,1)), ≥ 0. */
  captionJitter: z.number().min(0).default(0.05),
  /** Modality offset: image rows get +gap/2 along a planted gap direction, text rows −gap/2. */
  gap: z.number().min(0).default(3),
  /** Common offset of every row along a planted cone direction (anisotropy of real cones). */
  cone: z.number().min(0).default(1.5),
  /** Noise standard deviation per row (total, before normalisation). */
  noise: z.number().min(0).default(0.2),
  /** Noise spectrum decay: component i of a random basis has std ∝ (i+1)^(−noiseDecay). */
  noiseDecay: z.number().min(0).default(0.5),
  /** L2-normalise every row (as real VLM embeddings are). */
  normalise: z.boolean().default(true),
  /**
   * How rows are produced (data/synthetic_world.ts `WorldGenerator`): `float64` (the reference,
   * scalar JS: minutes at 600,000 × 768) or `gemm` (float32 blocks on the compute backend:
   * seconds). Unset: `float64` up to 10^10 noise multiply-adds (rows·d²), else `gemm` — filled in
   * when the config is resolved, so the choice is part of the stage key.
   */
  generator: z.enum(["float64", "gemm"]).optional(),
}).transform((w) =>
  w.generator !== undefined || defaultWorldGenerator(w) === "float64"
    ? w
    : { ...w, generator: "gemm" as const }
);

/** Validated world knobs. */
export type WorldSection = z.infer<typeof worldSection>;

/** Schema of the `dataset` section; every key has a default so an empty section is valid. */
export const datasetSection = z.strictObject({
  /** Where rows come from: the built-in synthetic world, `.npy`/`.npz` arrays, or Parquet. */
  kind: z.enum(["synthetic", "npy", "parquet"]).default("synthetic"),
  /** Seed of the synthetic world. */
  seed: z.number().int().default(0),
  /** Synthetic world knobs. */
  world: worldSection.default(() => worldSection.parse({})),
  /**
   * kind npy: a `.npy` (2-D n×d, or 3-D 2×n×d stacked [image, caption] as the COCO-500
   * fixture) or `.npz` file; kind parquet: an embeddings table (design.md schema).
   */
  path: z.string().default(""),
  /** kind npy: optional second `.npy` with the caption rows when `path` holds the image rows. */
  textPath: z.string().default(""),
  /** kind npy: the pairs table (`.json` or `.csv`) giving pair ids and display text. */
  pairs: z.string().default(""),
  /** kind npy with `.npz`: array name of image rows (or of the single stacked array). */
  imageArray: z.string().default(""),
  /** kind npy with `.npz`: array name of caption rows. */
  textArray: z.string().default(""),
  /** Pairs-table column of the pair (image) id; "" = auto (pair_id, image_id). */
  pairIdColumn: z.string().default(""),
  /** Pairs-table column of the caption text; "" = auto (caption, text). */
  captionColumn: z.string().default(""),
  /** Pairs-table column of the image path/url; "" = auto (image, image_path, file_name, coco_url, url). */
  imageColumn: z.string().default(""),
  /** Expected dimension (0 = any): a different one is an error. */
  expectDim: z.number().int().min(0).default(0),
  /** Fraction of pairs (an image with all its captions) put in the eval split. */
  evalFraction: z.number().gt(0).lt(1).default(0.2),
  /** Seed of the train/eval split. */
  splitSeed: z.number().int().default(0),
  /** kind parquet: keep the file's `split` column instead of assigning a new split. */
  keepSplit: z.boolean().default(false),
  /** L2-normalise imported rows (rows not of unit norm are normalised with a warning). */
  normalise: z.boolean().default(true),
  /** Subtract the mean of the train rows from every row (after normalisation). */
  centre: z.boolean().default(false),
});

/** Validated `dataset` section. */
export type DatasetSection = z.infer<typeof datasetSection>;
