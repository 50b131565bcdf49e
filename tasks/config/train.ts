/** The `train` section of the study configuration (see README "Configuration"). */
import { z } from "zod";
import { sweep } from "../../pipeline/sweep.ts";
import { allMethods, isSaeMethod, methodUsesK, parseMethodOptions } from "../../learn/registry.ts";

const positiveInt = z.number().int().positive();

/**
 * Concepts per embedding dimension: c = round(expansionFactor · d). method.md's default is 8;
 * the study's is 4 (c = 512 for the default world's d = 128 and its 160 planted directions):
 * half the cost per step, and the recovery of the planted world is as good. The one definition
 * of the key, for the study's `train` section and the train stage's parameters alike.
 */
const expansionFactor = z.number().positive().default(4);

/** A method name (SAE variant or baseline; learn/registry.ts). */
const method = z.enum(allMethods);

/** Parameters of one `train` stage instance (tasks/train.ts). */
export const trainParamsSchema = z.strictObject({
  method,
  /** Target ℓ0 (codes per row). */
  k: z.number().int().positive(),
  /** Number of concepts; null: round(expansionFactor · d). */
  c: z.number().int().positive().nullable().default(null),
  expansionFactor,
  seed: z.number().int().nonnegative().default(0),
  /** Diet label (informational; the data come from the `diet` input). */
  diet: z.string().default("natural"),
  /** Method options (validated by the method). */
  options: z.record(z.string(), z.unknown()).default({}),
});

/** Parameters of one `train` stage instance, as the study builds them (every key present). */
export type TrainRunParams = z.infer<typeof trainParamsSchema>;

/**
 * Schema of the `train` section; every key has a default so an empty section is valid.
 * The study trains every method × k × seed (× diet, from the `diets` section); k-means ignores k
 * and is trained once per seed (at the smallest k). SAE methods receive `epochs`, `batchSize`,
 * `lr` plus `options.<method>`; baselines receive `options.<method>` only.
 */
export const trainSection = z.strictObject({
  /** Methods to train (SAE variants and baselines); default: every method of learn/registry.ts. */
  methods: z.array(method).min(1).default(() => [...allMethods]),
  /**
   * Sparsity sweep: target ℓ0 (codes per row) of each run. method.md's sweep also has 64; the
   * default world plants ~7 concepts per row, so 4–32 brackets it and keeps the study in minutes.
   */
  k: z.array(positiveInt).min(1).default([4, 8, 16, 32]),
  /** Seeds: one run per seed (the stability runs; the Pareto sweep uses the first). */
  seeds: z.array(z.number().int().nonnegative()).min(1).default([0, 1, 2]),
  /** Concepts per embedding dimension (see {@link trainParamsSchema}). */
  expansionFactor,
  /** Fixed number of concepts (overrides expansionFactor when set). */
  c: positiveInt.nullable().default(null),
  /**
   * SAE epochs. method.md's defaults (20 epochs, batch 4096, lr 5e-4) are for ~600k rows; the
   * default synthetic world's diets have 7680 training rows, so the study defaults take more,
   * smaller steps at a higher rate: 30 epochs of 512 rows at lr 5e-3 (450 steps, a few seconds
   * per run), enough for the primary SAE to recover ~90% of the planted directions.
   */
  epochs: positiveInt.default(30),
  /** SAE rows per batch (capped at the training rows; a final partial batch is dropped). */
  batchSize: positiveInt.default(512),
  /** SAE peak learning rate. */
  lr: z.number().positive().default(5e-3),
  /**
   * The primary run: the method and k of the stability runs (every seed × diet) and of the run
   * whose geometry the study analyses (modality, bridge, validation against planted truth).
   * It need not be in `methods` or `k`: the stability runs train it whatever the Pareto sweep holds.
   */
  primary: z.strictObject({
    /** Method of the primary run. */
    method: method.default("batchtopk"),
    /** Target ℓ0 (codes per row) of the primary run. */
    k: positiveInt.default(8),
  }).default(() => ({ method: "batchtopk" as const, k: 8 })),
  /**
   * Per-method options, e.g. `{ topk: { weightDecay: 0 }, pca: { width: "c" } }`;
   * validated by each method (learn/registry.ts, learn/sae/options.ts).
   */
  options: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
});

/** Validated `train` section. */
export type TrainSection = z.infer<typeof trainSection>;

/**
 * Decoupled weight decay of the study's k-sparse SAEs (topk, batchtopk, matryoshka, jumprelu):
 * W_enc shrinks by lr·1 = 0.5% a step at the study's lr 5e-3 (method.md's 1e-5 is for its lr
 * 5e-4). Adam moves every coordinate of W_enc by about lr a step whatever the gradient's size,
 * and at the study's rate the part that is noise accumulates: with 1e-5 the encoder rows of a
 * d = 768 run grow to a median norm of 2.3 and turn away from their decoder rows (cosine 0.53),
 * and the issue-#16 world (3,072 planted directions, 43 per row) recovers 59% of its frequent
 * half in 30 epochs; with 1 the rows end at 0.88 and cosine 0.84 and the same run recovers 87%
 * (R² 0.83 against 0.66; 0.5: 84%; 2: 85%, with 45% of the concepts dead). ReLU keeps 1e-5: its
 * ℓ1 penalty already shrinks the codes, and the decay cost it R² (0.55 against 0.67 at ℓ0 8 in
 * the default study). README "Dead concepts at scale".
 */
export const STUDY_SAE_WEIGHT_DECAY = 1;

/**
 * Dead-concept handling of the study's k-sparse SAEs (learn/sae/auxk.ts): a concept counts as
 * dead after 5,000 training rows without firing (the option's own default, min(n, 50,000), waits
 * ten times as long at paper scale), and the AuxK loss weighs 1/8 (Gao et al.'s 1/32; its 2k dead
 * concepts a row stay). On the issue-#16 world (d 768, 3,072 planted directions, c 6144, k 32,
 * λ 1) the frequent half recovered at cosine ≥ 0.9 rises from 88.0% to 92.8% (seed 1: see README),
 * all directions from 76% to 90%, R² from 0.827 to 0.854, and the dead fraction falls from 37% to
 * 30%: twin pairs that one concept had covered at their centroid split, as the concepts AuxK trains
 * sooner and harder take one twin over. The window alone: 88.7% (10,000 rows), 89.4% (5,000); the
 * stronger AuxK alone (1/8, 4k a row): 88.0% (all 81%, 1.4% dead). README "Dead concepts at scale".
 */
export const STUDY_SAE_DEAD_HANDLING: Readonly<Record<string, unknown>> = {
  deadAfterRows: 5000,
  auxCoefficient: 1 / 8,
};

/** The study's option defaults of its k-sparse SAEs. */
const STUDY_SAE = { weightDecay: STUDY_SAE_WEIGHT_DECAY, ...STUDY_SAE_DEAD_HANDLING };

/**
 * Study-level option defaults, applied under `train.options.<method>` (a key given there wins).
 * OMP dictionary learning costs k·d·c per row and step of each pass; the study fits it on 2048
 * rows for 5 passes (the method's own defaults, 8192 rows × 10 passes, take ~20× longer at k = 32).
 * The k-sparse SAEs take {@link STUDY_SAE_WEIGHT_DECAY} and {@link STUDY_SAE_DEAD_HANDLING}.
 */
export const STUDY_OPTION_DEFAULTS: Readonly<Record<string, Record<string, unknown>>> = {
  omp: { fitRows: 2048, iterations: 5 },
  topk: STUDY_SAE,
  batchtopk: STUDY_SAE,
  matryoshka: STUDY_SAE,
  jumprelu: STUDY_SAE,
};

/** The study's option defaults for `method` under the section's keys for it (a given key wins). */
function givenOptions(section: TrainSection, method: string): Record<string, unknown> {
  return { ...(STUDY_OPTION_DEFAULTS[method] ?? {}), ...(section.options[method] ?? {}) };
}

/**
 * The options the study passes to `method`: an SAE's `epochs`, `batchSize` and `lr` from the
 * section, then {@link STUDY_OPTION_DEFAULTS} and `train.options.<method>` (a given key wins).
 * Benches and scripts that train "as the study does" start from these.
 */
export function studyMethodOptions(section: TrainSection, method: string): Record<string, unknown> {
  return {
    ...(isSaeMethod(method)
      ? { epochs: section.epochs, batchSize: section.batchSize, lr: section.lr }
      : {}),
    ...givenOptions(section, method),
  };
}

/**
 * The `train.options` the study runs with: for each method it trains (`methods` and the
 * primary's), {@link STUDY_OPTION_DEFAULTS} under the keys given there (a given key wins); other
 * given entries unchanged. `deno task pipeline config` prints these, and a configuration with them
 * builds the same grid as one without.
 */
export function resolvedTrainOptions(section: TrainSection): TrainSection["options"] {
  const out: TrainSection["options"] = { ...section.options };
  for (const method of new Set<string>([...section.methods, section.primary.method])) {
    const o = givenOptions(section, method);
    if (Object.keys(o).length > 0) out[method] = o;
  }
  return out;
}

/**
 * Expand the section into train-stage parameter sets for one diet label: the engine's
 * `sweep()` of methods × k (ascending) × seeds, method slowest; a method that ignores k keeps the
 * smallest k only.
 * @throws UserError naming `train.options.<key>` when a method's options do not validate
 */
export function trainGrid(section: TrainSection, diet = "natural"): TrainRunParams[] {
  const ks = [...new Set(section.k)].sort((a, b) => a - b);
  const options = new Map(
    section.methods.map((method) => [method, studyMethodOptions(section, method)]),
  );
  // a bad option is reported here, when the study is built, not when its first run starts
  for (const [method, o] of options) parseMethodOptions(method, o);
  return sweep({ method: section.methods, k: ks, seed: section.seeds })
    .filter((r) => methodUsesK(r.method) || r.k === ks[0])
    .map(({ method, k, seed }) => ({
      method,
      k,
      c: section.c,
      expansionFactor: section.expansionFactor,
      seed,
      diet,
      options: options.get(method)!,
    }));
}
