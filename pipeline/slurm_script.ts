/**
 * The text of the batch scripts the Slurm runner submits, and the `sbatch` flags derived from the
 * `runner` section. Pure functions: no I/O, no Slurm.
 */
import type { RunnerSection } from "./runner_config.ts";

/** Quote one word for bash (single quotes; embedded quotes escaped). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Inputs of {@link arrayScript}. */
export interface ArrayScriptOptions {
  /** Absolute folder of one submission attempt: `task-<i>.json` inside, results written there. */
  dir: string;
  /** Global task index of array index 0 (a wave bigger than the array limit is split). */
  offset: number;
  /** Command that re-enters the program on a node (`run-task --task FILE` is appended). */
  command: string[];
  /** Working folder of the command (the coordinator's, so relative paths resolve alike). */
  cwd: string;
}

/**
 * Batch script of one array job: task `$SLURM_ARRAY_TASK_ID + offset` runs `run-task` on
 * `<dir>/task-<i>.json`, its stdout (the result JSON line) goes to `<dir>/result.<i>.json` and its
 * exit status to `<dir>/exit.<i>` (written through a rename, so it exists whole or not at all).
 * Slurm's own log of the task (stderr: the stage's log and its `error:` line) is the `--output`.
 */
export function arrayScript(o: ArrayScriptOptions): string {
  const d = shellQuote(o.dir);
  return [
    "#!/bin/bash",
    "# Concept Atlas: one stage instance per array task (written by the Slurm runner).",
    `i=$(( \${SLURM_ARRAY_TASK_ID:?not a Slurm array task} + ${o.offset} ))`,
    `d=${d}`,
    `cd ${
      shellQuote(o.cwd)
    } || { echo "error: cannot enter ${o.cwd} on $(hostname)" >&2; exit 97; }`,
    `echo "task $i on $(hostname) job \${SLURM_ARRAY_JOB_ID:-?}_\${SLURM_ARRAY_TASK_ID}" >&2`,
    `${
      o.command.map(shellQuote).join(" ")
    } run-task --task "$d/task-$i.json" > "$d/result.$i.json"`,
    "code=$?",
    `echo "$code" > "$d/exit.$i.tmp" && mv -f "$d/exit.$i.tmp" "$d/exit.$i"`,
    'exit "$code"',
    "",
  ].join("\n");
}

/** Inputs of {@link probeScript}. */
export interface ProbeScriptOptions {
  /** Token file the coordinator wrote into the cache. */
  tokenFile: string;
  /** Its content. */
  token: string;
  /** File the probe writes (its host name) when it read the token. */
  ackFile: string;
}

/** Batch script of the probe job: succeed only when the node reads the coordinator's token. */
export function probeScript(o: ProbeScriptOptions): string {
  const ack = shellQuote(o.ackFile);
  return [
    "#!/bin/bash",
    "# Concept Atlas: can this node see the cache? (written by the Slurm runner)",
    `f=${shellQuote(o.tokenFile)}`,
    `if [ -f "$f" ] && [ "$(cat "$f")" = ${shellQuote(o.token)} ]; then`,
    `  hostname > ${ack}.tmp && mv -f ${ack}.tmp ${ack} && exit 0`,
    "fi",
    `echo "error: $(hostname) cannot read ${o.tokenFile}" >&2`,
    "exit 1",
    "",
  ].join("\n");
}

/** Per-job inputs of {@link sbatchArgs}. */
export interface SbatchJob {
  /** Job name (shown by squeue; the runner finds its jobs by it). */
  name: string;
  /** `--array` value, e.g. `0-9` (omit for a single job). */
  array?: string;
  /** `--output` path (Slurm patterns such as `%a` allowed). */
  output: string;
  /** `--chdir`. */
  chdir: string;
  /** The batch script path. */
  script: string;
}

/**
 * The `sbatch` argument list of a job: `--parsable`, the job's own flags, then the `runner`
 * section's resources and extra flags, then the script.
 */
export function sbatchArgs(r: RunnerSection, job: SbatchJob): string[] {
  const a = [
    "--parsable",
    `--job-name=${job.name}`,
    `--output=${job.output}`,
    `--chdir=${job.chdir}`,
    `--cpus-per-task=${r.cpus}`,
  ];
  if (job.array !== undefined) a.push(`--array=${job.array}`);
  if (r.partition) a.push(`--partition=${r.partition}`);
  if (r.account) a.push(`--account=${r.account}`);
  if (r.qos) a.push(`--qos=${r.qos}`);
  if (r.timeLimit) a.push(`--time=${r.timeLimit}`);
  if (r.memory) a.push(`--mem=${r.memory}`);
  if (r.gres) a.push(`--gres=${r.gres}`);
  a.push(...r.extraFlags, job.script);
  return a;
}

/** `--array` value for `n` tasks (indices 0..n-1), at most `maxRunning` at once (0: no limit). */
export function arraySpec(n: number, maxRunning: number): string {
  if (!Number.isInteger(n) || n < 1) throw new Error(`arraySpec: n must be ≥ 1, got ${n}`);
  return `0-${n - 1}${maxRunning > 0 ? `%${maxRunning}` : ""}`;
}

/** Job id from `sbatch --parsable` output (`123` or `123;cluster`). */
export function parseJobId(stdout: string): string {
  const id = stdout.trim().split("\n").at(-1)?.split(";")[0]?.trim() ?? "";
  if (!/^\d+$/.test(id)) throw new Error(`sbatch printed no job id (got "${stdout.trim()}")`);
  return id;
}

/** One line of `squeue --array --format=%i|%T|%r`: job id, array task id, state, reason. */
export interface QueueEntry {
  jobId: string;
  taskId: string;
  state: string;
  reason: string;
}

/**
 * Parse `squeue --noheader --array --format=%i|%T|%r` output: `%i` is `JOB_TASK` for an array
 * task (`JOB` alone for a plain job, task id then `""`).
 */
export function parseQueue(stdout: string): QueueEntry[] {
  const out: QueueEntry[] = [];
  for (const line of stdout.split("\n")) {
    const t = line.trim();
    if (!t) continue;
    const [id, state, reason] = t.split("|");
    if (!id || state === undefined) continue;
    const [jobId, taskId = ""] = id.split("_");
    out.push({ jobId, taskId, state, reason: reason ?? "" });
  }
  return out;
}

/** The last `lines` non-empty lines of a log text. */
export function logTail(text: string, lines: number): string[] {
  return text.split("\n").map((l) => l.trimEnd()).filter((l) => l.length > 0).slice(-lines);
}
