/** The `report` section of the study configuration (see README "Configuration"). */
import { reportOptionsSchema } from "../../explorer/options.ts";
import type { z } from "zod";

/**
 * Schema of the `report` section (explorer/options.ts): concept pages per run in the static
 * report, run filter, and how many examples, neighbours, bridge partners each page lists. Every
 * key has a default so an empty section is valid.
 */
export const reportSection = reportOptionsSchema;

/** Validated `report` section. */
export type ReportSection = z.infer<typeof reportSection>;
