/** The `analysis` section of the study configuration (see README "Configuration"). */
import { z } from "zod";

/** Schema of the `analysis` section; every key has a default so an empty section is valid. */
export const analysisSection = z.strictObject({});

/** Validated `analysis` section. */
export type AnalysisSection = z.infer<typeof analysisSection>;
