/** The whole study configuration: one YAML file with the sections below. */
import { z } from "zod";
import { datasetConfigSection } from "./spaces.ts";
import { embedSection } from "./embed.ts";
import { dietsSection } from "./diets.ts";
import { trainSection } from "./train.ts";
import { analysisSection } from "./analysis.ts";
import { reportSection } from "./report.ts";
import { runnerSection } from "../../pipeline/runner_config.ts";

/** Schema of the study configuration; unknown keys are errors, missing ones take defaults. */
export const studyConfigSchema = z.strictObject({
  dataset: datasetConfigSection.default(() => datasetConfigSection.parse({})),
  embed: embedSection.default(() => embedSection.parse({})),
  diets: dietsSection.default(() => dietsSection.parse({})),
  train: trainSection.default(() => trainSection.parse({})),
  analysis: analysisSection.default(() => analysisSection.parse({})),
  report: reportSection.default(() => reportSection.parse({})),
  runner: runnerSection.default(() => runnerSection.parse({})),
});

/** A validated study configuration. */
export type StudyConfig = z.infer<typeof studyConfigSchema>;
