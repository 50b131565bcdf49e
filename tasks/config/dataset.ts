/** The `dataset` section of the study configuration (see README "Configuration"). */
import { z } from "zod";

/** Schema of the `dataset` section; every key has a default so an empty section is valid. */
export const datasetSection = z.strictObject({});

/** Validated `dataset` section. */
export type DatasetSection = z.infer<typeof datasetSection>;
