/** The `report` section of the study configuration (see README "Configuration"). */
import { z } from "zod";

/** Schema of the `report` section; every key has a default so an empty section is valid. */
export const reportSection = z.strictObject({});

/** Validated `report` section. */
export type ReportSection = z.infer<typeof reportSection>;
