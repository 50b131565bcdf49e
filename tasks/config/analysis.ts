/**
 * The `analysis` section of the study configuration (see README "Configuration"): concept
 * statistics and matching (`concepts`, `match`: tasks/config/analysis_match.ts), modality
 * geometry, the Bridge Score, the null model, validation against planted truth and the claims.
 * Each sub-object is also the parameter schema of its stage (tasks/modality.ts, tasks/bridge.ts,
 * tasks/validate.ts, tasks/claims.ts). Every key has a default so an empty section is valid.
 */
import { z } from "zod";
import { conceptsConfig, matchConfig } from "./analysis_match.ts";

/** The null model of method.md §8: a seeded random dictionary of the same size, top-k codes. */
export const nullModelConfig = z.strictObject({
  /** Seed of the random dictionary. */
  seed: z.number().int().default(0),
  /** Codes per row; 0 = the learned run's `k` (train params) or its rounded eval ℓ0. */
  k: z.number().int().min(0).default(0),
});

/** `analysis.modality`: modality subspace, projections, concepts as classifiers (method.md §6). */
export const modalityConfig = z.strictObject({
  /** Subspace constructions to run. */
  methods: z.array(z.enum(["mean", "logistic", "lda", "nullspace"])).min(1).default([
    "mean",
    "logistic",
    "lda",
    "nullspace",
  ]),
  /** Split the probes are fitted on (`eval` rows are always the ones scored for AUROC). */
  fitSplit: z.enum(["train", "eval"]).default("train"),
  /** Cap on rows used to fit probes and to score AUROC (seeded stratified subsample); 0 = all. */
  maxRows: z.number().int().min(0).default(20000),
  /** L2 penalty of the logistic probe. */
  l2: z.number().min(0).default(1e-4),
  /** Shrinkage of LDA (fraction of the mean eigenvalue). */
  ldaShrinkage: z.number().min(0).default(1e-3),
  /** INLP stops when held-out balanced accuracy ≤ 0.5 + this. */
  nullspaceTolerance: z.number().min(0).max(0.5).default(0.05),
  /** INLP maximum number of directions. */
  nullspaceMaxDirections: z.number().int().min(1).default(20),
  /** Random unit directions scored as classifiers (the random baseline). */
  randomDirections: z.number().int().min(0).default(256),
  /** Seed of subsampling and random directions. */
  seed: z.number().int().default(0),
  null: nullModelConfig.default(() => nullModelConfig.parse({})),
});

/** `analysis.bridge`: the Bridge Score (method.md §7). */
export const bridgeConfig = z.strictObject({
  normalisation: z.enum(["raw", "correlation", "centred"]).default("raw"),
  /** `caption`: every caption with its image; `image`: average caption codes per image first. */
  pairing: z.enum(["caption", "image"]).default("caption"),
  /** Number of top pairs. */
  topN: z.number().int().min(1).default(100),
  /** i is image-dominant when its modality score is > this. */
  imageMin: z.number().min(0).max(1).default(0.5),
  /** j is text-dominant when its modality score is < this. */
  textMax: z.number().min(0).max(1).default(0.5),
  /** Unimodal threshold t (m < t or m > 1 − t) for the summary's unimodal-pair counts. */
  unimodalThreshold: z.number().min(0).max(0.5).default(0.05),
  null: nullModelConfig.default(() => nullModelConfig.parse({})),
});

/** `analysis.validate`: checks against planted truth (synthetic worlds only). */
export const validateConfig = z.strictObject({
  /** A planted direction counts as recovered when a concept has cos ≥ this. */
  recoveryCosine: z.number().min(0).max(1).default(0.9),
  /** Check `planted_recovered` holds when the recovered fraction ≥ this. */
  recoveredMin: z.number().min(0).max(1).default(0.8),
  /** Check `stability_frequent_minus_rare` holds when the gap ≥ this. */
  stabilityGapMin: z.number().default(0),
  /** N of precision@N of bridge pairs against planted twins (capped at the pairs available). */
  bridgeN: z.number().int().min(1).default(20),
  /** Check `bridge_twin_precision` holds when precision@N ≥ this. */
  bridgePrecisionMin: z.number().min(0).max(1).default(0.5),
  /** Unimodal threshold t. */
  unimodalThreshold: z.number().min(0).max(0.5).default(0.05),
  /** Check `unimodal_fraction_gap` holds when |learned − planted| ≤ this. */
  unimodalGapMax: z.number().min(0).max(1).default(0.15),
});

/** `analysis.claims`: the study's claims with null values. */
export const claimsConfig = z.strictObject({
  /** Unimodal threshold t. */
  unimodalThreshold: z.number().min(0).max(0.5).default(0.05),
  /** N of "top-N most frequent against the rest". */
  stabilityTopN: z.number().int().min(1).default(100),
  /** Stability gap must exceed its null by this. */
  stabilityMargin: z.number().min(0).default(0.05),
  /** A concept is "nearly orthogonal" when ‖M·D_j‖² < this. */
  orthogonalMaxProjection: z.number().min(0).max(1).default(0.1),
  /** Subspace construction the orthogonality claim uses. */
  subspace: z.enum(["mean", "logistic", "lda", "nullspace"]).default("nullspace"),
  null: nullModelConfig.default(() => nullModelConfig.parse({})),
});

/** `analysis.compare`: the comparison of several embedding spaces (method.md §9; tasks/compare.ts). */
export const compareConfig = z.strictObject({
  /** Score on the y axis of the Pareto panels. */
  metric: z.enum(["r2", "r2_zero"]).default("r2"),
  /** log10 ℓ0 axis. */
  logX: z.boolean().default(true),
  /** With at most this many seeds a spread is shown as min–max, else as mean ± sd. */
  fewSeeds: z.number().int().min(1).default(3),
});

/** Schema of the `analysis` section; every key has a default so an empty section is valid. */
export const analysisSection = z.strictObject({
  concepts: conceptsConfig.default(() => conceptsConfig.parse({})),
  match: matchConfig.default(() => matchConfig.parse({})),
  modality: modalityConfig.default(() => modalityConfig.parse({})),
  bridge: bridgeConfig.default(() => bridgeConfig.parse({})),
  validate: validateConfig.default(() => validateConfig.parse({})),
  claims: claimsConfig.default(() => claimsConfig.parse({})),
  compare: compareConfig.default(() => compareConfig.parse({})),
});

/** Validated `analysis` section. */
export type AnalysisSection = z.infer<typeof analysisSection>;
/** Validated `analysis.modality`. */
export type ModalityConfig = z.infer<typeof modalityConfig>;
/** Validated `analysis.bridge`. */
export type BridgeConfig = z.infer<typeof bridgeConfig>;
/** Validated `analysis.validate`. */
export type ValidateConfig = z.infer<typeof validateConfig>;
/** Validated `analysis.claims`. */
export type ClaimsConfig = z.infer<typeof claimsConfig>;
/** Validated null-model options. */
export type NullModelConfig = z.infer<typeof nullModelConfig>;
/** Validated `analysis.compare`. */
export type CompareConfig = z.infer<typeof compareConfig>;
