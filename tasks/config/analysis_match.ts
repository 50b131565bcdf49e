/**
 * `analysis.concepts` and `analysis.match`: the parameter schemas of the `concepts` stage
 * (concept statistics, method.md §4) and of the `match` stage (stability across runs, §5).
 * Included in the `analysis` section (tasks/config/analysis.ts) by its owner; every key has a
 * default so an empty object is valid.
 */
import { z } from "zod";

/** `analysis.concepts`: energy, frequency, modality score, unimodal fraction, histogram. */
export const conceptsConfig = z
  .strictObject({
    /** A concept is text-only when its modality score m_j < this. */
    unimodalLow: z.number().min(0).max(1).default(0.05),
    /** A concept is image-only when its modality score m_j > this. */
    unimodalHigh: z.number().min(0).max(1).default(0.95),
    /** Equal-width bins of the modality-score histogram over [0, 1]. */
    histogramBins: z.number().int().min(1).max(1000).default(20),
  })
  .refine((c) => c.unimodalLow <= c.unimodalHigh, {
    message: "unimodalLow must be ≤ unimodalHigh",
    path: ["unimodalLow"],
  });

/** `analysis.match`: exact matching of two dictionaries and the stability report. */
export const matchConfig = z.strictObject({
  /** Quantile bins of frequency and energy (10 = deciles). */
  bins: z.number().int().min(1).max(1000).default(10),
  /** N of "the top-N most frequent concepts against the rest". */
  topN: z.number().int().min(1).default(100),
  /** Count dead concepts (frequency 0) in the bins and groups. */
  includeDead: z.boolean().default(false),
  /**
   * Assignment solver: `auto` (sparse candidates + optimality certificate on the full matrix,
   * dense fallback) or `dense`. Both return an optimum; `auto` is much faster on real runs.
   */
  solver: z.enum(["auto", "dense"]).default("auto"),
  /** Candidate partners kept per concept of run a (sparse solver). */
  candidatesPerRow: z.number().int().min(1).default(32),
  /** Candidate partners kept per concept of run b (sparse solver). */
  candidatesPerCol: z.number().int().min(0).default(8),
});

/** Validated `analysis.concepts`. */
export type ConceptsConfig = z.infer<typeof conceptsConfig>;
/** Validated `analysis.match`. */
export type MatchConfig = z.infer<typeof matchConfig>;
