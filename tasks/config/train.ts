/** The `train` section of the study configuration (see README "Configuration"). */
import { z } from "zod";

/** Schema of the `train` section; every key has a default so an empty section is valid. */
export const trainSection = z.strictObject({});

/** Validated `train` section. */
export type TrainSection = z.infer<typeof trainSection>;
