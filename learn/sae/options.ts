/**
 * Options of the sparse-autoencoder family (method.md §2): the keys every variant shares (the
 * optimiser and schedule, the dense path, dead concepts), how a variant's own keys join them,
 * and the one validation of method options (SAE variants and baselines alike) with its one
 * message format: `train.options.<key>: <problem> for method <m>; fix or remove it`.
 */
import { z } from "zod";
import { UserError } from "../../pipeline/errors.ts";
import { deadOptionsShape } from "./auxk.ts";
import { initOptionsShape } from "./init.ts";

const positive = z.number().positive();
const nonNegative = z.number().nonnegative();

/**
 * Options shared by every SAE variant (every key has a default).
 * Units: learning rates per optimiser step; sizes in rows or concepts.
 */
export const coreOptionsShape = {
  // ---- optimiser and schedule -----------------------------------------------------------
  /** Peak Adam(W) learning rate. */
  lr: positive.default(5e-4),
  /** Fraction of all steps spent in linear warm-up. */
  warmupFraction: z.number().min(0).max(1).default(0.05),
  /** Final learning rate of the cosine decay, as a fraction of `lr`. */
  minLrFraction: z.number().min(0).max(1).default(0),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  eps: positive.default(1e-8),
  /**
   * Decoupled weight decay on W_enc and W_dec (not on biases or thresholds); method.md's 1e-5.
   * The study gives the k-sparse SAEs 1 (tasks/config/train.ts `STUDY_SAE_WEIGHT_DECAY`).
   */
  weightDecay: nonNegative.default(1e-5),
  /** Rows per batch (capped at the number of training rows; a final partial batch is dropped). */
  batchSize: z.number().int().positive().default(4096),
  epochs: z.number().int().positive().default(20),
  /** Global gradient-norm clip (over every parameter's gradient). */
  gradClip: positive.default(1.0),
  /** Learn a decoder bias b_dec (subtracted before encoding, added after decoding). */
  decoderBias: z.boolean().default(false),
  /** Steps between host syncs of the controllers and the dead-concept tracker. */
  syncEvery: z.number().int().positive().default(2),

  /**
   * Variants with a dense path (relu / jumprelu): train through dense GEMMs (masked dense
   * gradients) while the code density ℓ0/c measured at the last sync exceeds this fraction
   * (sparse ops below it). 0: always dense; 1: always sparse. Both paths compute the same
   * gradients (tests/learn_sae_dense_test.ts); 0.08 because the sparse path was measured faster
   * up to 6.25% density at the default study's size (c 512: relu / jumprelu at k 16 and 32); at
   * c 6144 every k ≤ 491 is sparse either way.
   */
  denseAbove: z.number().min(0).max(1).default(0.08),

  // ---- initial dictionary (learn/sae/init.ts) ----------------------------------------------
  ...initOptionsShape,

  // ---- dead concepts (learn/sae/auxk.ts) --------------------------------------------------
  ...deadOptionsShape,
};

/** Validated shared options. */
export type CoreOptions = z.infer<z.ZodObject<typeof coreOptionsShape>>;

/**
 * The strict schema of the shared keys followed by each variant's (in order; a key two variants
 * share, such as the controllers', keeps its first place).
 */
export function optionsSchemaOf(core: z.ZodRawShape, variants: z.ZodRawShape[]): z.ZodType {
  return z.strictObject(Object.assign({}, core, ...variants));
}

/**
 * Validate method options with `schema`; the first problem becomes the one-line
 * {@link UserError} `train.options.<key>: <problem> for method <method>; fix or remove it`. An
 * unknown key names the known keys it begins or that begin with it (`init` → `initRows`).
 */
export function parseOptions<T>(
  schema: z.ZodType<T>,
  method: string,
  options: Record<string, unknown>,
): T {
  const r = schema.safeParse(options);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const unknown = issue.code === "unrecognized_keys";
  const path = unknown ? issue.keys.join(", ") : issue.path.join(".");
  const problem = unknown ? "unknown option" : issue.message;
  let hint = "";
  if (unknown && schema instanceof z.ZodObject) {
    const lower = (k: string) => k.toLowerCase();
    const near = Object.keys(schema.shape).filter((k) =>
      issue.keys.some((u) =>
        u.length >= 3 && (lower(k).startsWith(lower(u)) || lower(u).startsWith(lower(k)))
      )
    );
    if (near.length) hint = ` (did you mean ${near.join(" or ")}?)`;
  }
  throw new UserError(
    `train.options${
      path ? "." + path : ""
    }: ${problem} for method ${method}${hint}; fix or remove it`,
  );
}
