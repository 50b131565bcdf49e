/** The pipeline engine: stages as data, content-addressed cache, runners. Knows nothing about SAEs. */
export type {
  InputArtifact,
  InputRoles,
  Progress,
  Stage,
  StageContext,
  StageInputLists,
  StageInputs,
  StageInstance,
  StageLog,
} from "./stage.ts";
export { bareRole, defineStage } from "./stage.ts";
export { isUserError, UserError } from "./errors.ts";
export { instanceId, sweep } from "./sweep.ts";
export { KEY_SCHEME_VERSION, stageKey } from "./key.ts";
export { canonicalJson } from "./canonical_json.ts";
export {
  describeListingChange,
  type ExternalInput,
  FileHashState,
  listingDigest,
  type RawListing,
} from "./content_hash.ts";
export { CacheLayout, type IndexRecord, type Manifest, readManifest } from "./cache.ts";
export { diffParams, type PlannedInstance, planStudy, topologicalOrder } from "./plan.ts";
export { executeStudy, StageFailure, type StageSummary, taskSpec } from "./execute.ts";
export { LocalRunner, type Runner, type TaskOutcome } from "./runner.ts";
export { executeTask, type TaskSpec } from "./task.ts";
export { applySet, loadConfig, validate } from "./config_loader.ts";
export { studyToMermaid } from "./mermaid.ts";
export { codeVersion } from "./code_version.ts";
export { createStageLog, formatCount, formatSeconds, lineProgress, writeErr } from "./stage_log.ts";
export { progressCallback, withProgress } from "./progress.ts";
export { defaultRunnerSection, type RunnerSection, runnerSection } from "./runner_config.ts";
export { createSlurmRunner, SlurmRunner } from "./slurm_runner.ts";
export type { StudyDefinition, StudyOption, StudyReport } from "./study.ts";
export { DEFAULT_CACHE, recordRun, runCli } from "./cli.ts";
