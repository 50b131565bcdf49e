/**
 * The sparse-autoencoder family (method.md §2) on the compute backends: `relu`, `topk`,
 * `batchtopk`, `jumprelu`, `matryoshka` (one file each under variants/, listed in
 * variants/mod.ts). Train with {@link fitSae}; rebuild an exported model with {@link loadSae}.
 */
export {
  type SaeMethod,
  saeMethods,
  type SaeOptions,
  saeOptionsSchema,
  saeVariant,
  saeVariants,
} from "./variants/mod.ts";
export { parseOptions } from "./options.ts";
export type { SaeEncoding, SaeVariant, VariantRun } from "./variant.ts";
export { fitSae } from "./fit.ts";
export { type SaeHooks, trainSae } from "./trainer.ts";
export { matryoshkaPrefixes } from "./variants/matryoshka.ts";
export {
  decodeSae,
  encodeSae,
  exportSae,
  loadSae,
  saeDictionary,
  type SaeWeights,
} from "./model.ts";
export { DeviceVectors } from "./device_vectors.ts";
