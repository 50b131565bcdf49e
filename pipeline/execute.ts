/**
 * Executing a planned study: cached instances are done at once; the others run in waves (every
 * instance whose inputs are done) through a {@link Runner}. A failure stops the run after the
 * current wave; everything already published stays in the cache.
 */
import type { PlannedInstance } from "./plan.ts";
import { upstreamIds } from "./plan.ts";
import type { Runner } from "./runner.ts";
import type { TaskInputRef, TaskSpec } from "./task.ts";
import { CacheLayout } from "./cache.ts";

/** One stage of the summary (design.md `--json`). */
export interface StageSummary {
  id: string;
  stage: string;
  status: "ran" | "cached";
  key: string;
  seconds: number;
  reason: string;
  dir: string;
}

/** Options of {@link executeStudy}. */
export interface ExecuteOptions {
  cache: string;
  /** Run options the study declares (`StudyDefinition.options`), as given; not in the key. */
  options: Record<string, string>;
  codeVersion: string;
  /** Called when an instance finishes (for live status lines). */
  onDone?(s: StageSummary, index: number, total: number): void;
  /** Called before a wave starts. */
  onWave?(ids: string[]): void;
}

/** A failed stage: the error and the instance it came from. */
export class StageFailure extends Error {
  readonly id: string;
  override readonly cause: unknown;
  readonly summaries: StageSummary[];
  constructor(id: string, cause: unknown, summaries: StageSummary[]) {
    super(`stage ${id} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.id = id;
    this.cause = cause;
    this.summaries = summaries;
  }
}

/** Build the serialisable task of a planned instance. */
export function taskSpec(
  p: PlannedInstance,
  byId: Map<string, PlannedInstance>,
  opts: ExecuteOptions,
): TaskSpec {
  const ref = (id: string): TaskInputRef => {
    const u = byId.get(id)!;
    return { id, stage: u.instance.stage.name, key: u.key };
  };
  const inputs: Record<string, TaskInputRef | TaskInputRef[]> = {};
  for (const [role, ids] of Object.entries(p.instance.inputs)) {
    inputs[role] = Array.isArray(ids) ? ids.map(ref) : ref(ids);
  }
  return {
    id: p.instance.id,
    stage: p.instance.stage.name,
    key: p.key,
    params: p.params,
    inputs,
    rawInputs: p.rawPaths,
    rawHashes: p.rawHashes,
    options: opts.options,
    cache: new CacheLayout(opts.cache).root,
    codeVersion: opts.codeVersion,
    force: p.reason === "forced" || p.reason.startsWith("upstream forced"),
  };
}

/** Run every instance that is not cached; resolve with the per-stage summary in plan order. */
export async function executeStudy(
  plan: PlannedInstance[],
  runner: Runner,
  opts: ExecuteOptions,
): Promise<StageSummary[]> {
  const layout = new CacheLayout(opts.cache);
  const byId = new Map(plan.map((p) => [p.instance.id, p]));
  const done = new Map<string, StageSummary>();
  const summary = (
    p: PlannedInstance,
    status: "ran" | "cached",
    seconds: number,
    reason: string,
  ): StageSummary => ({
    id: p.instance.id,
    stage: p.instance.stage.name,
    status,
    key: p.key,
    seconds: Math.round(seconds * 1000) / 1000,
    reason,
    dir: layout.keyDir(p.instance.stage.name, p.key),
  });
  let count = 0;
  for (const p of plan) {
    if (p.status === "cached") {
      const s = summary(p, "cached", 0, "cached");
      done.set(p.instance.id, s);
      opts.onDone?.(s, ++count, plan.length);
    }
  }
  while (done.size < plan.length) {
    const wave = plan.filter((p) =>
      !done.has(p.instance.id) && upstreamIds(p.instance).every((id) => done.has(id))
    );
    if (wave.length === 0) throw new Error("study graph: no runnable instance left (cycle?)");
    opts.onWave?.(wave.map((p) => p.instance.id));
    const outcomes = await runner.runWave(wave.map((p) => taskSpec(p, byId, opts)));
    let failure: StageFailure | null = null;
    wave.forEach((p, i) => {
      const o = outcomes[i];
      if (o.ok) {
        const reason = o.result.status === "cached"
          ? "cached (published by a concurrent run)"
          : p.reason;
        const s = summary(p, o.result.status, o.result.seconds, reason);
        done.set(p.instance.id, s);
        opts.onDone?.(s, ++count, plan.length);
      } else if (!failure) {
        failure = new StageFailure(
          p.instance.id,
          o.error,
          plan.flatMap((q) => done.get(q.instance.id) ?? []),
        );
      }
    });
    if (failure) throw failure;
  }
  return plan.map((p) => done.get(p.instance.id)!);
}
