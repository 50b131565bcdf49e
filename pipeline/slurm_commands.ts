/**
 * The three Slurm client commands the runner uses (`sbatch`, `squeue`, `scancel`), run as
 * subprocesses. They read the cluster from the environment (`SLURM_CONF` etc.) as usual.
 */
import { UserError } from "./errors.ts";
import { parseJobId, parseQueue, type QueueEntry } from "./slurm_script.ts";

const decoder = new TextDecoder();

/** True when `sbatch` can be started (Slurm's client commands are installed). */
export async function slurmAvailable(): Promise<boolean> {
  try {
    const r = await new Deno.Command("sbatch", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

/**
 * Submit a job with `sbatch ARGS` (ARGS must include `--parsable` and end with the script);
 * resolve with its job id. A refusal (bad partition, account, resources) is a {@link UserError}
 * quoting sbatch's message and naming the `runner` section.
 */
export async function sbatch(args: string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("sbatch", { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(
        "runner slurm: sbatch not found on PATH: run on a Slurm login node, or use --runner local",
      );
    }
    throw e;
  }
  if (!out.success) {
    const msg = decoder.decode(out.stderr).trim().split("\n").filter((l) => l.trim()).at(-1) ??
      `exit ${out.code}`;
    throw new UserError(
      `runner slurm: sbatch refused the job (${msg}); check the runner section (partition, account, timeLimit, memory, gres, extraFlags)`,
    );
  }
  return parseJobId(decoder.decode(out.stdout));
}

/**
 * The queued and running tasks of every job named `name` (one entry per array task). Throws when
 * squeue fails (the controller may be briefly unreachable; callers retry).
 */
export async function squeueByName(name: string): Promise<QueueEntry[]> {
  const out = await new Deno.Command("squeue", {
    args: ["--noheader", "--array", `--name=${name}`, "--format=%i|%T|%r"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`squeue failed: ${decoder.decode(out.stderr).trim() || `exit ${out.code}`}`);
  }
  return parseQueue(decoder.decode(out.stdout));
}

/** Cancel jobs now, synchronously (usable from a signal handler). Errors are ignored. */
export function scancelSync(jobIds: string[]): void {
  if (jobIds.length === 0) return;
  try {
    new Deno.Command("scancel", { args: jobIds, stdout: "null", stderr: "null" }).outputSync();
  } catch { /* nothing to cancel with */ }
}
