/** What a study hands to the engine's command line (the composition root builds one). */
import type { z } from "zod";
import type { Stage, StageInstance } from "./stage.ts";
import type { StageSummary } from "./execute.ts";

/** The findings a study reports after a run (printed, and merged into the `--json` object). */
export interface StudyReport {
  /** Short human-readable summary printed at the end of a run (stdout). */
  text: string;
  /** Extra members of the `--json` summary object, e.g. `claims`, `validation`. */
  json: Record<string, unknown>;
}

/** A study: its configuration schema, its stages, how it fans out, and how it reports. */
export interface StudyDefinition<C> {
  /** Name shown in messages. */
  name: string;
  /** Configuration schema (top-level sections). */
  configSchema: z.ZodType<C>;
  /** Every stage the study may use (by name; workers look stages up here). */
  // deno-lint-ignore no-explicit-any
  stages: Stage<any>[];
  /** The instances of a configuration. */
  build(config: C): StageInstance[];
  /** Read the finished artifacts and summarise the findings. */
  report?(config: C, summaries: StageSummary[]): Promise<StudyReport>;
}
