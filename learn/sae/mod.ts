/**
 * The sparse-autoencoder family (method.md §2) on the compute backends: `relu`, `topk`,
 * `batchtopk`, `jumprelu`, `matryoshka`. Train with {@link fitSae}; rebuild an exported model
 * with {@link loadSae}.
 */
export { type SaeMethod, saeMethods, type SaeOptions, saeOptionsSchema } from "./options.ts";
export { fitSae, matryoshkaPrefixes, type SaeHooks } from "./trainer.ts";
export {
  decodeSae,
  encodeSae,
  exportSae,
  loadSae,
  saeDictionary,
  type SaeWeights,
} from "./model.ts";
export { DeviceVectors } from "./device_vectors.ts";
