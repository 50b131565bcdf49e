/**
 * Options of the explorer and the static report: the `report` section of the study
 * configuration (tasks/config/report.ts re-exports this schema). Every key has a default.
 */
import { z } from "zod";

/** Schema of the `report` section. */
export const reportOptionsSchema = z.strictObject({
  /** Concept pages per run in the static report: the highest-energy ones (0 = every concept). */
  conceptPages: z.number().int().min(0).default(100),
  /** Only runs whose label contains one of these strings get pages in the report (empty: all). */
  runs: z.array(z.string()).default([]),
  /** Top-activating images and captions shown per concept (each). */
  examples: z.number().int().min(1).max(100).default(8),
  /** Nearest concepts by cosine shown per concept. */
  neighbours: z.number().int().min(1).max(200).default(10),
  /** Bridge partners shown per concept and side. */
  partners: z.number().int().min(1).max(200).default(10),
  /** Example pairs shown per ranked bridge pair. */
  bridgeExamples: z.number().int().min(0).max(20).default(2),
});

/** Validated report options. */
export type ReportOptions = z.infer<typeof reportOptionsSchema>;
