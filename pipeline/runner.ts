/**
 * Runners execute waves of ready stage instances. Only the coordinator (executeStudy) decides
 * what is stale; a runner only computes the tasks it is given. `local` runs them in this process,
 * one after the other; other runners (a cluster scheduler) implement the same interface.
 */
import type { Stage } from "./stage.ts";
import { executeTask, type TaskLogOptions, type TaskResult, type TaskSpec } from "./task.ts";

/** Outcome of one task of a wave. */
export type TaskOutcome = { ok: true; result: TaskResult } | { ok: false; error: unknown };

/** Executes waves of independent tasks. */
export interface Runner {
  /** `local`, `slurm`, ... */
  readonly name: string;
  /**
   * Run the tasks of one wave (no task depends on another of the same wave). Resolves with one
   * outcome per task, in order. A runner may stop early after a failure: the tasks it did not
   * start get an outcome `{ok: false}` with an error saying so.
   */
  runWave(tasks: TaskSpec[]): Promise<TaskOutcome[]>;
  /** Release resources (cancel outstanding work). */
  close?(): Promise<void>;
}

/** Options of {@link LocalRunner}. */
export interface LocalRunnerOptions extends TaskLogOptions {
  // deno-lint-ignore no-explicit-any
  stages: Map<string, Stage<any>>;
}

/** Runs every task in this process, sequentially; stops the wave at the first failure. */
export class LocalRunner implements Runner {
  readonly name = "local";
  #opts: LocalRunnerOptions;
  constructor(opts: LocalRunnerOptions) {
    this.#opts = opts;
  }
  async runWave(tasks: TaskSpec[]): Promise<TaskOutcome[]> {
    const out: TaskOutcome[] = [];
    let failed = false;
    for (const t of tasks) {
      if (failed) {
        out.push({ ok: false, error: new Error(`not started: an earlier stage failed`) });
        continue;
      }
      try {
        out.push({ ok: true, result: await executeTask(t, this.#opts.stages, this.#opts) });
      } catch (error) {
        failed = true;
        out.push({ ok: false, error });
      }
    }
    return out;
  }
}
