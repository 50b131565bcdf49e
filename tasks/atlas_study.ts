/** The Concept Atlas study handed to the engine: config schema, stages, fan-out, summary. */
import type { StudyDefinition } from "../pipeline/study.ts";
import { type StudyConfig, studyConfigSchema } from "./config/mod.ts";
import { buildStudy, studyStages } from "./study.ts";
import { studyReport } from "./study_report.ts";
import { backendOption } from "../learn/stage_backend.ts";
import { resolvedTrainOptions } from "./config/train.ts";

/** The study of method.md on the configured dataset (default: the synthetic world). */
export const atlasStudy: StudyDefinition<StudyConfig> = {
  name: "concept-atlas",
  configSchema: studyConfigSchema,
  stages: studyStages,
  options: [backendOption],
  build: (config) => buildStudy(config),
  resolved: (config) => ({
    ...config,
    train: { ...config.train, options: resolvedTrainOptions(config.train) },
  }),
  report: (_config, summaries) => studyReport(summaries),
};
