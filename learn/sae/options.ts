/**
 * Options of the sparse-autoencoder family (method.md §2) and their defaults.
 */
import { z } from "zod";

/** The SAE variants, by name. */
export const saeMethods = ["relu", "topk", "batchtopk", "jumprelu", "matryoshka"] as const;

/** One SAE variant. */
export type SaeMethod = typeof saeMethods[number];

const positive = z.number().positive();
const nonNegative = z.number().nonnegative();
const unit = z.number().gt(0).lt(1);

/**
 * Training options of every SAE variant (zod 4 strict object; every key has a default).
 * Units: learning rates per optimiser step; sizes in rows or concepts; ε, θ in embedding units.
 */
export const saeOptionsSchema = z.strictObject({
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
  /** Decoupled weight decay on W_enc and W_dec (not on biases or thresholds). */
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
   * relu / jumprelu: train through dense GEMMs (masked dense gradients) while the code density
   * ℓ0/c measured at the last sync exceeds this fraction (sparse ops below it). 0: always dense;
   * 1: always sparse.
   */
  denseAbove: z.number().min(0).max(1).default(0.02),

  // ---- dead concepts ----------------------------------------------------------------------
  /** `auxk`: AuxK auxiliary loss (Gao et al. 2024) on dead concepts; `none`: nothing. */
  deadHandling: z.enum(["auxk", "none"]).default("auxk"),
  /** A concept is dead after firing on none of this many consecutive training rows (null: min(n, 50000)). */
  deadAfterRows: z.number().int().positive().nullable().default(null),
  /** Number of dead concepts per row in the AuxK reconstruction (null: 2·k). */
  auxK: z.number().int().positive().nullable().default(null),
  /** Weight α of the AuxK loss. */
  auxCoefficient: nonNegative.default(1 / 32),

  // ---- relu -------------------------------------------------------------------------------
  /**
   * Initial (or, without the controller, fixed) ℓ1 coefficient λ. null: scaled to the data,
   * λ₀ = θ₀, the smallest value a batch top-k at the target ℓ0 keeps of the initial
   * pre-activations of one batch (the code size at the target sparsity).
   */
  reluLambda: positive.nullable().default(null),
  /** Steer λ toward a target ℓ0 (multiplicative controller, every `syncEvery` steps). */
  reluControl: z.boolean().default(true),
  /** Target ℓ0 of the λ controller (null: k). */
  reluTargetL0: positive.nullable().default(null),

  // ---- controllers (relu λ and jumprelu ℓ0 penalty) -------------------------------------------
  /**
   * Gain of the multiplicative controllers, applied at every sync:
   * λ ← λ·exp(gain·clamp(ln(ℓ0/target), −1, 1)), with ℓ0 measured over the rows since the last sync.
   */
  controllerGain: positive.default(0.1),
  /**
   * Fraction of the run over which the controllers' setpoint moves geometrically from the ℓ0 of
   * the first sync to the target (then stays there); 0: the target from the start. A moving
   * setpoint keeps ℓ0 from overshooting below the target, which kills concepts for good.
   */
  controllerRamp: z.number().min(0).max(1).default(0.3),

  // ---- batchtopk / matryoshka ------------------------------------------------------------------
  /**
   * Weight α of the running estimate θ ← (1−α_t)·θ + α_t·(smallest kept value of batch t), with
   * α_t = max(α, 1/(t+1)) (a plain running mean over the first 1/α steps, then an EMA).
   */
  thresholdMomentum: unit.default(0.01),
  /**
   * `final`: after the last step, θ is re-estimated with the final weights as the mean, over one
   * pass of the training rows in batches of `batchSize`, of each batch's smallest kept value, so
   * the saved θ gives the target ℓ0 on the training rows (the running estimate lags the weights).
   * `running`: keep the running estimate as it stands after the last step.
   */
  thresholdCalibration: z.enum(["final", "running"]).default("final"),

  // ---- jumprelu --------------------------------------------------------------------------------
  /** Bandwidth ε of the rectangle kernel of the straight-through estimator. */
  jumpBandwidth: positive.default(1e-3),
  /** Initial threshold θ of every concept. */
  jumpThetaInit: positive.default(1e-3),
  /** Lower bound kept on θ after each step (thresholds stay positive). */
  jumpThetaMin: positive.default(1e-6),
  /** Fixed ℓ0 penalty coefficient; null: a controller steers it toward the target ℓ0. */
  jumpL0Penalty: nonNegative.nullable().default(null),
  /**
   * Initial coefficient of the controlled ℓ0 penalty. null: scaled to the data, λ₀ = θ₀² with θ₀
   * as for `reluLambda` (the squared error saved by one code of size θ₀).
   */
  jumpL0PenaltyInit: positive.nullable().default(null),
  /** Target ℓ0 of the controller (null: k). */
  jumpTargetL0: positive.nullable().default(null),

  // ---- matryoshka ------------------------------------------------------------------------------
  /**
   * Nested prefix sizes (number of leading concepts per reconstruction), increasing; c is added
   * when missing. null: c/16, c/8, c/4, c/2, c (rounded, at least 1).
   */
  prefixes: z.array(z.number().int().positive()).nullable().default(null),
});

/** Validated SAE options. */
export type SaeOptions = z.infer<typeof saeOptionsSchema>;
