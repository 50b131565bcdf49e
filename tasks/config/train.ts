/** The `train` section of the study configuration (see README "Configuration"). */
import { z } from "zod";
import { allMethods, methodUsesK } from "../../learn/registry.ts";

const positiveInt = z.number().int().positive();

/**
 * Schema of the `train` section; every key has a default so an empty section is valid.
 * The study trains every method × k × seed (× diet, from the `diets` section); k-means ignores k
 * and is trained once per seed (at the smallest k). SAE methods receive `epochs`, `batchSize`,
 * `lr` plus `options.<method>`; baselines receive `options.<method>` only.
 */
export const trainSection = z.strictObject({
  /** Methods to train (SAE variants and baselines). */
  methods: z.array(z.enum(allMethods)).min(1).default([
    "relu",
    "topk",
    "batchtopk",
    "jumprelu",
    "matryoshka",
    "pca",
    "kmeans",
    "seminmf",
    "omp",
  ]),
  /** Sparsity sweep: target ℓ0 (codes per row) of each run. */
  k: z.array(positiveInt).min(1).default([4, 8, 16, 32, 64]),
  /** Seeds: one run per seed. */
  seeds: z.array(z.number().int().nonnegative()).min(1).default([0]),
  /** Concepts per embedding dimension: c = round(expansionFactor · d). */
  expansionFactor: z.number().positive().default(8),
  /** Fixed number of concepts (overrides expansionFactor when set). */
  c: positiveInt.nullable().default(null),
  /**
   * SAE epochs. method.md's defaults (20 epochs, batch 4096, lr 5e-4) are for ~600k rows; the
   * default synthetic world's natural diet has ~2k training rows, so the study defaults take
   * more, smaller steps: 40 epochs of 256 rows at lr 2e-3 (~300 steps, a few seconds per run).
   */
  epochs: positiveInt.default(40),
  /** SAE rows per batch (capped at the training rows; a final partial batch is dropped). */
  batchSize: positiveInt.default(256),
  /** SAE peak learning rate. */
  lr: z.number().positive().default(2e-3),
  /**
   * Per-method options, e.g. `{ topk: { weightDecay: 0 }, pca: { width: "c" }, omp: { iterations: 5 } }`;
   * validated by each method (learn/registry.ts, learn/sae/options.ts).
   */
  options: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
});

/** Validated `train` section. */
export type TrainSection = z.infer<typeof trainSection>;

/** Parameters of one `train` stage instance (see tasks/train.ts `trainParamsSchema`). */
export interface TrainRunParams {
  method: string;
  k: number;
  c: number | null;
  expansionFactor: number;
  seed: number;
  diet: string;
  options: Record<string, unknown>;
}

const saeLike = new Set(["relu", "topk", "batchtopk", "jumprelu", "matryoshka"]);

/**
 * Expand the section into train-stage parameter sets for one diet label: methods × k × seeds
 * (one k for methods that ignore it).
 */
export function trainGrid(section: TrainSection, diet = "natural"): TrainRunParams[] {
  const out: TrainRunParams[] = [];
  const ks = [...new Set(section.k)].sort((a, b) => a - b);
  for (const method of section.methods) {
    const methodKs = methodUsesK(method) ? ks : [ks[0]];
    const options = {
      ...(saeLike.has(method)
        ? { epochs: section.epochs, batchSize: section.batchSize, lr: section.lr }
        : {}),
      ...(section.options[method] ?? {}),
    };
    for (const k of methodKs) {
      for (const seed of section.seeds) {
        out.push({
          method,
          k,
          c: section.c,
          expansionFactor: section.expansionFactor,
          seed,
          diet,
          options,
        });
      }
    }
  }
  return out;
}
