/**
 * Concept Atlas — the public API. Everything here is a named re-export of the module that owns it:
 * the engine (pipeline/), data I/O and the synthetic world (data/), compute backends (kernels/),
 * dictionary learners (learn/), analyses (analysis/), encoders (embed/), the explorer (explorer/)
 * and the study itself (tasks/).
 */

// ---- the engine --------------------------------------------------------------------------
export * from "./pipeline/mod.ts";

// ---- data --------------------------------------------------------------------------------
export type { EmbeddingSet, Modality, Split } from "./data/embeddings.ts";
export {
  EmbeddingsWriter,
  readEmbeddings,
  readEmbeddingsInfo,
  writeEmbeddings,
} from "./data/embeddings_io.ts";
export { readTable, readTableInfo, writeTable } from "./data/table_io.ts";
export { f32List, type F32ListColumn } from "./data/table_arrow.ts";
export { readDictionary, writeDictionary } from "./data/dictionary_io.ts";
export { readCodes, writeCodes } from "./data/codes_io.ts";
export { readSafetensors, writeSafetensors } from "./data/safetensors.ts";
export { generateWorld, type SyntheticWorld } from "./data/synthetic_world.ts";
export type { GroundTruth } from "./data/ground_truth.ts";
export { readGroundTruth, writeGroundTruth } from "./data/ground_truth_io.ts";
export { importNpy } from "./data/import_npy.ts";
export { importParquet } from "./data/import_parquet.ts";
export { assignSplits } from "./data/splits.ts";
export { maxDietTotal, selectDiet } from "./data/diets.ts";
export { centroidDistance, topOneRetrieval } from "./data/geometry.ts";
export { Rng } from "./data/random.ts";

// ---- compute backends ----------------------------------------------------------------------
export type {
  AdamWOptions,
  Backend,
  GemmOptions,
  RowSelection,
  SparseCodes,
  Tensor,
  ThresholdBand,
} from "./kernels/backend.ts";
export { type BackendKind, createBackend, type CreateBackendOptions } from "./kernels/select.ts";
export { hostGemm } from "./kernels/host_gemm.ts";

// ---- dictionary learners -------------------------------------------------------------------
export type { FittedDictionary, HostSparseCodes } from "./learn/learner.ts";
export { allMethods, fitMethod, loadMethod } from "./learn/registry.ts";
export { fitSae, loadSae, saeMethods } from "./learn/sae/mod.ts";
export { evaluateReconstruction, reconstructionR2 } from "./learn/metrics.ts";

// ---- analyses ------------------------------------------------------------------------------
export {
  conceptStatistics,
  modalityHistogram,
  unimodalFraction,
} from "./analysis/concept_stats.ts";
export { linearAssignment } from "./analysis/assignment.ts";
export { matchDictionaries, stabilityReport } from "./analysis/stability.ts";
export {
  conceptProjections,
  directionAurocs,
  modalitySubspace,
} from "./analysis/modality_subspace.ts";
export { auroc } from "./analysis/auroc.ts";
export { bridgeScores } from "./analysis/bridge.ts";
export { encodeTopK, randomDictionary } from "./analysis/null_dictionary.ts";

// ---- encoders ------------------------------------------------------------------------------
export { DualEncoder } from "./embed/dual_encoder.ts";
export { type HubSettings, hubSettingsFromEnv } from "./embed/hub_client.ts";
export { type HubModel, resolveHubModel } from "./embed/hub_cache.ts";
export { downloadHubModel } from "./embed/hub_download.ts";

// ---- explorer and the study ------------------------------------------------------------------
export { buildReport, serveExplorer } from "./explorer/mod.ts";
export { atlasStudy } from "./tasks/atlas_study.ts";
export { type StudyConfig, studyConfigSchema } from "./tasks/config/mod.ts";
