/** The `diets` section of the study configuration (see README "Configuration"; method.md §1). */
import { z } from "zod";

/** A diet ratio: `natural` (as in the data) or `a:b` image:text with positive integers a, b. */
export const dietRatio = z.string().regex(
  /^(natural|[1-9][0-9]*:[1-9][0-9]*)$/,
  'a diet ratio is "natural" or "a:b" image:text with positive integers, e.g. "1:5"',
);

/** The default diet grid of method.md §1. */
export const DEFAULT_DIET_RATIOS: readonly string[] = ["natural", "1:1", "1:5", "5:1"];

/** Schema of the `diets` section; every key has a default so an empty section is valid. */
export const dietsSection = z.strictObject({
  /** Image:text ratios of the training mixture. */
  ratios: z.array(dietRatio).min(1).default(() => [...DEFAULT_DIET_RATIOS]),
  /** Sub-sampling seeds (one diet instance per ratio × seed). */
  seeds: z.array(z.number().int()).min(1).default(() => [0]),
  /**
   * Training rows of every diet (held fixed across diets). 0 = auto: the largest total that
   * every ratio in `ratios` allows on the train split.
   */
  total: z.number().int().min(0).default(0),
});

/** Validated `diets` section. */
export type DietsSection = z.infer<typeof dietsSection>;
