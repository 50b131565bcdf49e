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

/**
 * A run option the study declares: a command-line flag `--<name> <value>` of `run`, `dag` and
 * `config`, handed to every stage as `ctx.options[name]` (e.g. the compute backend). Options never
 * enter a key: they may change how a stage computes, not what it writes.
 */
export interface StudyOption {
  /** Flag and option name (lower case, e.g. `backend`). */
  name: string;
  /** Help text. */
  description: string;
  /** Allowed values (any value when absent). */
  choices?: readonly string[];
  /** Value when the flag is not given. */
  default: string;
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
  /** Run options the study's stages read (`ctx.options`); each becomes a command-line flag. */
  options?: readonly StudyOption[];
  /** The instances of a configuration. */
  build(config: C): StageInstance[];
  /**
   * The configuration as `config` prints it, with the defaults the study fills in when it builds
   * (e.g. per-method options); building from it gives the same instances. Default: as loaded.
   */
  resolved?(config: C): C;
  /** Read the finished artifacts and summarise the findings. */
  report?(config: C, summaries: StageSummary[]): Promise<StudyReport>;
}
