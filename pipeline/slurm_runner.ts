/**
 * The Slurm runner (docs/cluster.md): each wave of ready stage instances becomes one
 * `sbatch --array` job whose task `i` runs exactly one instance (`<command> run-task --task
 * <cache>/.slurm/<run>/wave-NNN/try-T/task-<i>.json`). The coordinator follows the tasks through
 * their exit files and `squeue`, draws a progress bar, resubmits failed tasks up to `retries`
 * times, and cancels its jobs (`scancel`) on Ctrl-C. Only the coordinator decides what is stale;
 * workers compute the tasks they are given. The cache must be on a filesystem every node mounts
 * at the same path: a probe job checks that before the first wave.
 */
import { join } from "node:path";
import { CacheLayout, isPublished } from "./cache.ts";
import { UserError } from "./errors.ts";
import type { Runner, TaskOutcome } from "./runner.ts";
import { checkShardable, type RunnerSection, runnerSection } from "./runner_config.ts";
import { sbatch, scancelSync, squeueByName } from "./slurm_commands.ts";
import { arrayScript, arraySpec, logTail, probeScript, sbatchArgs } from "./slurm_script.ts";
import { createStageLog, writeErr } from "./stage_log.ts";
import type { TaskResult, TaskSpec } from "./task.ts";
import { splitWave, type StepTask } from "./slurm_shards.ts";
import type { Stage, StageLog } from "./stage.ts";
import { validate } from "./config_loader.ts";

/** Options of {@link SlurmRunner}. */
export interface SlurmRunnerOptions {
  /** Cache root (absolute; shared by every node). */
  cache: string;
  /** The validated `runner` section. */
  section: RunnerSection;
  /** Command that re-enters this program on a node (`section.command` wins when set). */
  argv0: string[];
  /** Working folder of the workers (default: this process's). */
  cwd?: string;
  /** Only warnings, errors and the summary. */
  quiet?: boolean;
  /** Draw a bar (default: when stderr is a terminal). */
  tty?: boolean;
  /** Lines of a failing task's log to show (default 20). */
  tailLines?: number;
}

/** Polls without news after which a task absent from the queue and without exit file failed. */
const VANISH_GRACE_POLLS = 3;
/** Consecutive squeue failures tolerated before giving up. */
const SQUEUE_FAILURES = 5;

interface Attempt {
  dir: string;
  /** Wave index of each attempt index. */
  members: number[];
  /** Array job ids of the attempt's chunks, with their offsets. */
  chunks: { jobId: string; offset: number; size: number }[];
}

type TaskEnd =
  | { ok: true; result: TaskResult }
  | { ok: false; why: string; log: string; job: string };

/** A runner that hands every wave to Slurm as a job array. */
export class SlurmRunner implements Runner {
  readonly name = "slurm";
  readonly runId: string;
  readonly runDir: string;
  #o: SlurmRunnerOptions;
  #layout: CacheLayout;
  #command: string[];
  #log: StageLog;
  #active = new Set<string>();
  #waves = 0;
  #probed = false;
  #failed = false;
  #onSignal: () => void;

  constructor(o: SlurmRunnerOptions) {
    this.#o = o;
    this.#layout = new CacheLayout(o.cache);
    this.#command = o.section.command ?? o.argv0;
    if (this.#command.length === 0) {
      throw new UserError(
        "runner slurm: no worker command: set runner.command, e.g. [deno, run, -A, /shared/atlas/main.ts]",
      );
    }
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
    this.runId = `${stamp}-${crypto.randomUUID().slice(0, 6)}`;
    this.runDir = join(this.#layout.root, ".slurm", this.runId);
    this.#log = createStageLog({ prefix: "slurm", quiet: o.quiet, tty: o.tty });
    // Ctrl-C / kill: cancel our jobs synchronously, before the CLI's own handler exits.
    this.#onSignal = () => this.cancelAll();
    for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, this.#onSignal);
    globalThis.addEventListener("unload", this.#onSignal);
  }

  /** Name of this run's jobs in the queue. */
  get jobName(): string {
    return `${this.#o.section.jobName}-${this.runId}`;
  }

  /** Cancel every job of this run still queued or running (synchronous; safe in a handler). */
  cancelAll(): void {
    const ids = [...this.#active];
    this.#active.clear();
    if (ids.length) {
      scancelSync(ids);
      writeErr(`slurm: cancelled job${ids.length > 1 ? "s" : ""} ${ids.join(", ")}`);
    }
  }

  async close(): Promise<void> {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      try {
        Deno.removeSignalListener(sig, this.#onSignal);
      } catch { /* not registered */ }
    }
    globalThis.removeEventListener("unload", this.#onSignal);
    this.cancelAll();
    // Keep the task files and logs of a failed run (the error names them); drop them otherwise.
    if (!this.#failed) await Deno.remove(this.runDir, { recursive: true }).catch(() => {});
  }

  /** Check once that a Slurm job sees the cache; throw a {@link UserError} saying why not. */
  async probe(): Promise<void> {
    if (this.#probed || !this.#o.section.probe) return;
    const s = this.#o.section;
    await Deno.mkdir(this.runDir, { recursive: true });
    const tokenFile = join(this.runDir, "probe.token");
    const ackFile = join(this.runDir, "probe.ack");
    const token = crypto.randomUUID();
    await Deno.writeTextFile(tokenFile, token);
    const script = join(this.runDir, "probe.sh");
    await Deno.writeTextFile(script, probeScript({ tokenFile, token, ackFile }));
    const jobId = await sbatch(sbatchArgs({ ...s, cpus: 1, memory: undefined, gres: undefined }, {
      name: this.jobName,
      output: join(this.runDir, "probe.log"),
      chdir: this.#o.cwd ?? Deno.cwd(),
      script,
    }));
    this.#active.add(jobId);
    this.#log.info(`probe job ${jobId}: can the nodes see the cache ${this.#layout.root}?`);
    const t0 = performance.now();
    let absent = 0;
    let last = "";
    try {
      while (true) {
        if (await exists(ackFile)) break;
        const q = (await this.#queue()).filter((e) => e.jobId === jobId);
        if (q.length === 0) {
          if (++absent >= VANISH_GRACE_POLLS) {
            this.#failed = true;
            throw new UserError(
              `runner slurm: the Slurm nodes cannot see the cache ${this.#layout.root}: probe job ${jobId} did not find ${tokenFile}; put --cache on a filesystem every node mounts at the same path (docs/cluster.md), or use --runner local`,
            );
          }
        } else {
          absent = 0;
          last = `${q[0].state}${q[0].reason && q[0].reason !== "None" ? ` (${q[0].reason})` : ""}`;
        }
        if ((performance.now() - t0) / 1000 > s.probeTimeoutSeconds) {
          throw new UserError(
            `runner slurm: probe job ${jobId} did not finish within runner.probeTimeoutSeconds=${s.probeTimeoutSeconds} (state ${
              last || "unknown"
            }); check runner.partition/account or raise probeTimeoutSeconds`,
          );
        }
        await sleep(this.#pollMs());
      }
    } finally {
      this.#active.delete(jobId);
      if (!(await exists(ackFile))) scancelSync([jobId]);
    }
    const node = (await Deno.readTextFile(ackFile)).trim();
    this.#log.info(`probe job ${jobId} on ${node} sees the cache`);
    this.#probed = true;
  }

  async runWave(tasks: TaskSpec[]): Promise<TaskOutcome[]> {
    if (tasks.length === 0) return [];
    for (const t of tasks) {
      if (new CacheLayout(t.cache).root !== this.#layout.root) {
        throw new Error(
          `slurm runner: task ${t.id} names cache ${t.cache}, not ${this.#layout.root}`,
        );
      }
    }
    await this.probe();
    const wave = ++this.#waves;
    const waveDir = join(this.runDir, `wave-${String(wave).padStart(3, "0")}`);
    // Instances of a stage in runner.shards: their parts run beside the rest, their merges after.
    const { first, split } = splitWave(tasks, this.#o.section.shards);
    const outcomes: TaskOutcome[] = new Array(tasks.length);
    const firstOut = await this.#step(waveDir, first, `wave ${wave}`, wave);
    const partFailed = new Set<number>();
    first.forEach((t, i) => {
      if (!t.spec.shard) outcomes[t.of] = firstOut[i];
      else if (!firstOut[i].ok && !partFailed.has(t.of)) {
        partFailed.add(t.of);
        outcomes[t.of] = firstOut[i];
      }
    });
    const merges: StepTask[] = split.filter((w) => !partFailed.has(w)).map((w) => ({
      of: w,
      spec: tasks[w],
      label: `${tasks[w].id} (merge)`,
    }));
    if (merges.length > 0) {
      this.#log.info(
        `wave ${wave}: every part of ${merges.length} split instance(s) is done; merging`,
      );
      const mergeOut = await this.#step(join(waveDir, "merge"), merges, `wave ${wave} merge`, wave);
      merges.forEach((t, i) => (outcomes[t.of] = mergeOut[i]));
    }
    return outcomes;
  }

  /**
   * Run the array tasks of one step (`<dir>/try-T/`), resubmitting the failed ones up to
   * `retries` times; one outcome per task, in order.
   */
  async #step(
    dir: string,
    tasks: StepTask[],
    label: string,
    wave: number,
  ): Promise<TaskOutcome[]> {
    const s = this.#o.section;
    const outcomes: (TaskOutcome | undefined)[] = tasks.map(() => undefined);
    const lastEnd: (TaskEnd | undefined)[] = tasks.map(() => undefined);
    let todo = tasks.map((_, i) => i);
    const bar = this.#log.progress(label, tasks.length, "tasks");
    try {
      for (let attemptNo = 0; attemptNo <= s.retries && todo.length > 0; attemptNo++) {
        if (attemptNo > 0) {
          this.#log.info(
            `wave ${wave}: resubmitting ${todo.length} failed task(s), retry ${attemptNo} of ${s.retries}: ${
              todo.map((i) => tasks[i].label).join(", ")
            }`,
          );
        }
        const attempt = await this.#submit(join(dir, `try-${attemptNo}`), todo, tasks);
        const ends = await this.#follow(attempt, tasks, bar);
        const failed: number[] = [];
        attempt.members.forEach((w, a) => {
          const e = ends[a];
          lastEnd[w] = e;
          if (e.ok) outcomes[w] = { ok: true, result: e.result };
          else failed.push(w);
        });
        todo = failed;
      }
    } finally {
      bar.done();
    }
    for (const w of todo) {
      const e = lastEnd[w] as Extract<TaskEnd, { ok: false }>;
      this.#failed = true;
      outcomes[w] = { ok: false, error: await this.#failure(tasks[w], e, s.retries + 1) };
    }
    return outcomes as TaskOutcome[];
  }

  /** Write the task files and scripts of one attempt and submit its array job(s). */
  async #submit(dir: string, members: number[], tasks: StepTask[]): Promise<Attempt> {
    const s = this.#o.section;
    await Deno.mkdir(join(dir, "logs"), { recursive: true });
    await Promise.all(
      members.map((w, a) =>
        Deno.writeTextFile(
          join(dir, `task-${a}.json`),
          JSON.stringify(tasks[w].spec, null, 2) + "\n",
        )
      ),
    );
    const attempt: Attempt = { dir, members, chunks: [] };
    for (let offset = 0; offset < members.length; offset += s.maxArraySize) {
      const size = Math.min(s.maxArraySize, members.length - offset);
      const c = attempt.chunks.length;
      const script = join(dir, `job-${c}.sh`);
      await Deno.writeTextFile(
        script,
        arrayScript({ dir, offset, command: this.#command, cwd: this.#o.cwd ?? Deno.cwd() }),
      );
      const jobId = await sbatch(sbatchArgs(s, {
        name: this.jobName,
        array: arraySpec(size, s.maxRunning),
        output: join(dir, "logs", `${c}-%a.log`),
        chdir: this.#o.cwd ?? Deno.cwd(),
        script,
      }));
      this.#active.add(jobId);
      attempt.chunks.push({ jobId, offset, size });
      this.#log.info(`submitted job ${jobId}: ${size} task(s), logs in ${join(dir, "logs")}`);
    }
    return attempt;
  }

  /** Slurm log path and `JOB_TASK` name of attempt index `a`. */
  #where(attempt: Attempt, a: number): { log: string; job: string } {
    const c = attempt.chunks.findIndex((k) => a >= k.offset && a < k.offset + k.size);
    const k = attempt.chunks[c];
    return {
      log: join(attempt.dir, "logs", `${c}-${a - k.offset}.log`),
      job: `${k.jobId}_${a - k.offset}`,
    };
  }

  /** Wait until every task of an attempt has ended; one {@link TaskEnd} per attempt index. */
  async #follow(
    attempt: Attempt,
    tasks: StepTask[],
    bar: { tick(n?: number, extra?: string): void },
  ): Promise<TaskEnd[]> {
    const n = attempt.members.length;
    const ends: (TaskEnd | undefined)[] = new Array(n).fill(undefined);
    const absent = new Array(n).fill(0);
    const lastState: string[] = new Array(n).fill("PENDING");
    let open = n;
    while (open > 0) {
      const queue = await this.#queue();
      const byTask = new Map(queue.map((e) => [`${e.jobId}_${e.taskId}`, e]));
      let running = 0;
      let pending = 0;
      let okNow = 0;
      let lastExtra = "";
      for (let a = 0; a < n; a++) {
        if (ends[a]) continue;
        const where = this.#where(attempt, a);
        const code = await readExit(join(attempt.dir, `exit.${a}`));
        const q = byTask.get(where.job);
        if (code === null) {
          if (q) {
            absent[a] = 0;
            lastState[a] = q.state;
            if (q.state === "RUNNING" || q.state === "COMPLETING") running++;
            else pending++;
            continue;
          }
          if (++absent[a] < VANISH_GRACE_POLLS) {
            running++;
            continue;
          }
        }
        const end = await this.#end(attempt, a, code, lastState[a], tasks[attempt.members[a]]);
        ends[a] = end;
        open--;
        if (end.ok) okNow++;
        else lastExtra = `${tasks[attempt.members[a]].label} failed`;
      }
      const extra = `${running} running, ${pending} pending${lastExtra ? `; ${lastExtra}` : ""}`;
      bar.tick(okNow, extra);
      if (open > 0) await sleep(this.#pollMs());
    }
    for (const k of attempt.chunks) this.#active.delete(k.jobId);
    return ends as TaskEnd[];
  }

  /** How a finished (or vanished) task ended. */
  async #end(
    attempt: Attempt,
    a: number,
    code: number | null,
    lastState: string,
    step: StepTask,
  ): Promise<TaskEnd> {
    const task = step.spec;
    const { log, job } = this.#where(attempt, a);
    if (code === null) {
      return {
        ok: false,
        why:
          `Slurm ended task ${job} without an exit status (last seen ${lastState}: cancelled, time limit, out of memory or node failure?)`,
        log,
        job,
      };
    }
    if (code !== 0) return { ok: false, why: `task ${job} exited with status ${code}`, log, job };
    let result: TaskResult = { status: "ran", seconds: 0 };
    try {
      const lines = (await Deno.readTextFile(join(attempt.dir, `result.${a}.json`))).trim().split(
        "\n",
      );
      const r = JSON.parse(lines.at(-1) ?? "{}");
      if (r.status === "ran" || r.status === "cached") {
        result = { status: r.status, seconds: r.seconds ?? 0 };
      }
    } catch { /* older worker or no stdout: fall back to the manifest */ }
    // A part publishes nothing (its merge checks what it left); a whole task must be published.
    if (!task.shard && !(await isPublished(this.#layout, task.stage, task.key))) {
      return {
        ok: false,
        why: `task ${job} exited 0 but ${
          this.#layout.keyDir(task.stage, task.key)
        } is not visible here: is the cache shared with the nodes?`,
        log,
        job,
      };
    }
    return { ok: true, result };
  }

  /** The error of a task that failed every attempt, after printing the tail of its log. */
  async #failure(
    step: StepTask,
    e: Extract<TaskEnd, { ok: false }>,
    tries: number,
  ): Promise<Error> {
    const part = step.spec.shard;
    let tail: string[] = [];
    try {
      tail = logTail(await readEnd(e.log, 16_384), this.#o.tailLines ?? 20);
    } catch {
      tail = [`(no log at ${e.log})`];
    }
    writeErr(
      `slurm: ${step.label} failed ${tries} time(s); last ${tail.length} line(s) of ${e.log}:`,
    );
    for (const l of tail) writeErr(`  | ${l}`);
    const errLine = [...tail].reverse().find((l) => /^error:/.test(l));
    return new Error(
      `${
        part ? `shard ${part.index + 1} of ${part.count} ` : ""
      }failed ${tries} time(s) on Slurm: ${e.why}${errLine ? `: "${errLine}"` : ""}; log ${e.log}`,
    );
  }

  async #queue() {
    for (let i = 0;; i++) {
      try {
        return await squeueByName(this.jobName);
      } catch (e) {
        if (i + 1 >= SQUEUE_FAILURES) throw e;
        await sleep(this.#pollMs());
      }
    }
  }

  #pollMs(): number {
    return this.#o.section.pollSeconds * 1000;
  }
}

/**
 * The `slurm` entry of `runCli`'s `runners` option: validates the config's `runner` section
 * (absent: defaults), checks `runner.shards` against the study's stages (when given), and builds
 * a {@link SlurmRunner}. The probe job runs before the first wave.
 */
export function createSlurmRunner(ctx: {
  cache: string;
  config: unknown;
  argv0: string[];
  quiet: boolean;
  // deno-lint-ignore no-explicit-any
  stages?: Map<string, Stage<any>>;
}): Promise<SlurmRunner> {
  try {
    const raw = (ctx.config as { runner?: unknown } | null)?.runner ?? {};
    const section = validate(runnerSection, raw, "the runner section");
    if (ctx.stages) checkShardable(section.shards, ctx.stages);
    else if (Object.keys(section.shards).length > 0) {
      throw new Error("runner slurm: runner.shards needs the study's stages (runCli passes them)");
    }
    return Promise.resolve(
      new SlurmRunner({ cache: ctx.cache, section, argv0: ctx.argv0, quiet: ctx.quiet }),
    );
  } catch (e) {
    return Promise.reject(e);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Exit status written by the array script, or null while there is none. */
async function readExit(path: string): Promise<number | null> {
  try {
    const t = (await Deno.readTextFile(path)).trim();
    return /^\d+$/.test(t) ? Number(t) : null;
  } catch {
    return null;
  }
}

/** The last `bytes` bytes of a file as text. */
async function readEnd(path: string, bytes: number): Promise<string> {
  const f = await Deno.open(path, { read: true });
  try {
    const size = (await f.stat()).size;
    const start = Math.max(0, size - bytes);
    await f.seek(start, Deno.SeekMode.Start);
    const buf = new Uint8Array(size - start);
    let off = 0;
    while (off < buf.length) {
      const n = await f.read(buf.subarray(off));
      if (n === null) break;
      off += n;
    }
    return new TextDecoder().decode(buf.subarray(0, off));
  } finally {
    f.close();
  }
}
