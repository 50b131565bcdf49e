/**
 * The `runner:` section of a study configuration: where stage instances run (docs/cluster.md).
 * `local` runs them in the coordinating process; `slurm` submits each wave of ready instances as
 * one Slurm job array. Every key has a default, so an empty section means `local`.
 */
import { z } from "zod";
import { UserError } from "./errors.ts";
import type { Stage } from "./stage.ts";

/** Slurm time limit: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS` or `UNLIMITED`. */
const SLURM_TIME = /^(UNLIMITED|infinite|\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2})$/;
/** Slurm memory: an integer with an optional unit K, M, G or T (megabytes when none). */
const SLURM_MEMORY = /^\d+[KMGT]?$/;

/** Schema of the `runner` section. */
export const runnerSection = z.strictObject({
  /** `local` (default): in this process. `slurm`: as Slurm job arrays over a shared cache. */
  kind: z.enum(["local", "slurm"]).default("local"),
  /** `sbatch --partition` (default: the cluster's default partition). */
  partition: z.string().min(1).optional(),
  /** `sbatch --account`. */
  account: z.string().min(1).optional(),
  /** `sbatch --qos`. */
  qos: z.string().min(1).optional(),
  /** `sbatch --time` per task, e.g. `02:00:00` or `1-00:00:00`. */
  timeLimit: z.string().regex(SLURM_TIME, "expected a Slurm time such as 30, 02:00:00 or 1-12:00")
    .optional(),
  /** `sbatch --cpus-per-task`. */
  cpus: z.number().int().positive().default(1),
  /** `sbatch --mem` per task, e.g. `16G` (default: the cluster's default). */
  memory: z.string().regex(SLURM_MEMORY, "expected a Slurm memory size such as 8000, 16G")
    .optional(),
  /** `sbatch --gres`, e.g. `gpu:1`. */
  gres: z.string().min(1).optional(),
  /** More `sbatch` flags, one per item, e.g. `["--constraint=avx2", "--exclusive"]`. */
  extraFlags: z.array(z.string().regex(/^-/, "each extra flag starts with -")).default([]),
  /** Most tasks in one array job (the cluster's MaxArraySize - 1 or less); bigger waves split. */
  maxArraySize: z.number().int().positive().max(1_000_000).default(1000),
  /** Most tasks of one array running at once (`--array=0-N%K`); 0: no limit. */
  maxRunning: z.number().int().min(0).default(0),
  /** Times a failed task is resubmitted before the run stops with its error. */
  retries: z.number().int().min(0).max(100).default(1),
  /** Seconds between two looks at the queue and the exit files. */
  pollSeconds: z.number().positive().max(600).default(5),
  /** Job name prefix (the run id is appended): what `squeue --name` shows. */
  jobName: z.string().regex(/^[A-Za-z0-9._-]+$/).default("atlas"),
  /**
   * Command that starts this program on a node, when it differs from the coordinator's, e.g.
   * `["/shared/bin/deno", "run", "-A", "/shared/atlas/main.ts"]`. The worker appends `run-task`.
   */
  command: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Stages to split into parts, by stage name → number of parts, e.g. `{embed: 16}`: each instance
   * of the stage runs as that many array tasks (`Stage.runShard`), then one merge task (its `run`).
   * Only stages that can run in shards may be named; the parts do not enter any key.
   */
  shards: z.record(z.string().min(1), z.number().int().min(1).max(100_000)).default({}),
  /** Submit a probe job first that checks the workers see the cache (refuses clearly if not). */
  probe: z.boolean().default(true),
  /** Seconds to wait for the probe job (it may queue) before giving up. */
  probeTimeoutSeconds: z.number().positive().default(600),
});

/** A validated `runner` section. */
export type RunnerSection = z.infer<typeof runnerSection>;

/** The defaults of the section (`kind: local`). */
export function defaultRunnerSection(): RunnerSection {
  return runnerSection.parse({});
}

/**
 * Check `runner.shards` against the study's stages: every name must be a stage that can run in
 * shards (has `runShard`). Throws a {@link UserError} naming the key and the stages that can.
 */
export function checkShardable(
  shards: Record<string, number>,
  // deno-lint-ignore no-explicit-any
  stages: Map<string, Stage<any>>,
): void {
  const can = [...stages.values()].filter((s) => s.runShard).map((s) => s.name);
  for (const name of Object.keys(shards)) {
    const st = stages.get(name);
    if (!st || !st.runShard) {
      throw new UserError(
        `runner.shards.${name}: ${
          st ? `stage ${name} cannot run in shards` : `the study has no stage named ${name}`
        }; stages that can: ${can.length ? can.join(", ") : "none"}`,
      );
    }
  }
}
