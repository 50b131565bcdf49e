/** The `diets` section of the study configuration (see README "Configuration"). */
import { z } from "zod";

/** Schema of the `diets` section; every key has a default so an empty section is valid. */
export const dietsSection = z.strictObject({});

/** Validated `diets` section. */
export type DietsSection = z.infer<typeof dietsSection>;
