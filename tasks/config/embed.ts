/** The `embed` section of the study configuration (see README "Configuration"). */
import { z } from "zod";

/** Schema of the `embed` section; every key has a default so an empty section is valid. */
export const embedSection = z.strictObject({});

/** Validated `embed` section. */
export type EmbedSection = z.infer<typeof embedSection>;
