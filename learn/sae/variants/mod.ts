/**
 * The SAE variants, one file each; this list is their only registry. Adding a variant: write
 * `variants/<name>.ts` exporting a {@link SaeVariant} and add it to {@link saeVariants} below —
 * the method name, its options (validated with the shared ones), training, export and loading
 * follow from it.
 */
import type { z } from "zod";
import type { SaeVariant } from "../variant.ts";
import { type CoreOptions, coreOptionsShape, optionsSchemaOf } from "../options.ts";
import { relu } from "./relu.ts";
import { topk } from "./topk.ts";
import { batchtopk } from "./batchtopk.ts";
import { jumprelu } from "./jumprelu.ts";
import { matryoshka } from "./matryoshka.ts";

/** Every SAE variant, in the order of `train.methods`' default. */
export const saeVariants = [relu, topk, batchtopk, jumprelu, matryoshka] as const;

type Variants = typeof saeVariants[number];

/** The SAE variants, by name. */
export const saeMethods = saeVariants.map((v) => v.name) as unknown as readonly [
  Variants["name"],
  ...Variants["name"][],
];

/** One SAE variant's name. */
export type SaeMethod = Variants["name"];

type OptionsOf<V> = V extends { options: infer S extends z.ZodRawShape }
  ? (keyof S extends never ? unknown : z.infer<z.ZodObject<S>>)
  : never;
type AllOptions<T extends readonly unknown[]> = T extends readonly [infer H, ...infer R]
  ? OptionsOf<H> & AllOptions<R>
  : unknown;

/** Validated SAE options: the shared ones and every variant's. */
export type SaeOptions = CoreOptions & AllOptions<typeof saeVariants>;

/**
 * Training options of the SAE family (zod strict object, every key with a default): the shared
 * keys of learn/sae/options.ts, then each variant's, in registry order. One schema for all
 * variants, so a study may set `train.options.<method>` keys of any variant.
 */
export const saeOptionsSchema = optionsSchemaOf(
  coreOptionsShape,
  saeVariants.map((v) => v.options),
) as z.ZodType<SaeOptions>;

/** The variant called `name`, or undefined. */
export function saeVariant(name: string): SaeVariant | undefined {
  return (saeVariants as readonly SaeVariant[]).find((v) => v.name === name);
}
