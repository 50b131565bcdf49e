/**
 * Executing one stage instance by key: take its lock, run the stage into a temporary folder,
 * check and checksum its outputs, write the manifest, publish atomically, remember the instance in
 * the index. Used by every runner (in process for `local`, in a worker process for `slurm`).
 */
import { join } from "node:path";
import {
  bareRole,
  type InputArtifact,
  type ShardPart,
  type Stage,
  type StageContext,
  type StageLog,
} from "./stage.ts";
import {
  CacheLayout,
  exists,
  hashFiles,
  type Manifest,
  publish,
  readManifest,
  writeIndex,
} from "./cache.ts";
import { acquireKeyLock, bootId, processAlive } from "./lock.ts";
import { hostname } from "node:os";
import { createStageLog } from "./stage_log.ts";

/** A reference to a planned upstream instance. */
export interface TaskInputRef {
  id: string;
  stage: string;
  key: string;
}

/** A serialisable description of one instance to run (what a worker needs). */
export interface TaskSpec {
  id: string;
  stage: string;
  key: string;
  params: Record<string, unknown>;
  inputs: Record<string, TaskInputRef | TaskInputRef[]>;
  rawInputs: Record<string, string>;
  rawHashes: Record<string, string>;
  /** Run options the study declares (`--backend`, ...), as given; not part of the key. */
  options: Record<string, string>;
  cache: string;
  codeVersion: string;
  /** Recompute even when the key folder is published (`--force`). */
  force: boolean;
  /**
   * Run only this part of a shardable stage (`Stage.runShard`) into the partial folder, under a
   * lock of its own, and publish nothing; the task without `shard` (the merge) publishes.
   */
  shard?: ShardPart;
}

/** Output options of task execution. */
export interface TaskLogOptions {
  tty?: boolean;
  quiet?: boolean;
  sink?: (line: string) => void;
}

/** Result of {@link executeTask}. */
export interface TaskResult {
  /** `ran`, or `cached` when a concurrent run published the key while this one waited. */
  status: "ran" | "cached";
  seconds: number;
}

async function inputArtifact(layout: CacheLayout, ref: TaskInputRef): Promise<InputArtifact> {
  const m = await readManifest(layout, ref.stage, ref.key);
  return {
    id: ref.id,
    stage: ref.stage,
    key: ref.key,
    dir: layout.keyDir(ref.stage, ref.key),
    params: m.params,
    meta: m.meta,
  };
}

/**
 * Upstream artifacts of a task by bare role (`train?` → `train`, `runs*` → `runs`), as the stage
 * sees them: every required role present (else the task is not this stage's: an error), every
 * list role a list (`[]` when unbound).
 */
async function resolveInputs(
  layout: CacheLayout,
  spec: TaskSpec,
  // deno-lint-ignore no-explicit-any
  stage: Stage<any>,
): Promise<{ inputs: Record<string, InputArtifact>; inputLists: Record<string, InputArtifact[]> }> {
  const inputs: Record<string, InputArtifact> = {};
  const inputLists: Record<string, InputArtifact[]> = {};
  for (const role of Object.keys(stage.inputs)) {
    const ref = spec.inputs[role];
    if (role.endsWith("*")) {
      inputLists[bareRole(role)] = Array.isArray(ref)
        ? await Promise.all(ref.map((r) => inputArtifact(layout, r)))
        : [];
    } else if (ref && !Array.isArray(ref)) {
      inputs[bareRole(role)] = await inputArtifact(layout, ref);
    } else if (!role.endsWith("?")) {
      throw new Error(
        `task ${spec.id}: required input ${role} of stage ${stage.name} is not bound`,
      );
    }
  }
  for (const role of Object.keys(spec.inputs)) {
    if (!(role in stage.inputs)) {
      throw new Error(`task ${spec.id}: stage ${stage.name} has no input role ${role}`);
    }
  }
  return { inputs, inputLists };
}

/** The context handed to `run` / `runShard`. */
async function stageContext(
  layout: CacheLayout,
  spec: TaskSpec,
  // deno-lint-ignore no-explicit-any
  stage: Stage<any>,
  outDir: string,
  log: StageLog,
  meta: Record<string, unknown>,
): Promise<StageContext<Record<string, unknown>>> {
  const { inputs, inputLists } = await resolveInputs(layout, spec, stage);
  return {
    id: spec.id,
    params: spec.params,
    inputs,
    inputLists,
    rawInputs: spec.rawInputs,
    outDir,
    key: spec.key,
    options: spec.options,
    setMeta: (k, v) => {
      meta[k] = v;
    },
    log,
    partialDir: layout.partialDir(spec.stage, spec.key),
  };
}

/**
 * Run one stage instance and publish its key folder; a task with `shard` runs that part only
 * ({@link executeShard}).
 */
export async function executeTask(
  spec: TaskSpec,
  // deno-lint-ignore no-explicit-any
  stages: Map<string, Stage<any>>,
  logOpts: TaskLogOptions = {},
): Promise<TaskResult> {
  if (spec.shard) return await executeShard(spec, stages, logOpts);
  const stage = stages.get(spec.stage);
  if (!stage) throw new Error(`no stage named ${spec.stage} is registered`);
  const layout = new CacheLayout(spec.cache);
  const log = createStageLog({ prefix: spec.id, ...logOpts });
  const lock = await acquireKeyLock(
    layout.lockRoot,
    spec.key,
    (holder) => log.info(`waiting: ${holder} is computing this key`),
  );
  const tmpDir = join(
    layout.tmpRoot,
    `${spec.stage}-${spec.key.slice(0, 16)}-${tmpOwner()}-${crypto.randomUUID().slice(0, 8)}`,
  );
  try {
    // A key published by a concurrent run while we waited is not computed twice.
    if (await exists(layout.manifestPath(spec.stage, spec.key)) && !spec.force) {
      return { status: "cached", seconds: 0 };
    }
    await removeAbandonedTmp(layout, spec);
    await Deno.mkdir(tmpDir, { recursive: true });
    const partialDir = layout.partialDir(spec.stage, spec.key);
    const meta: Record<string, unknown> = {};
    const ctx = await stageContext(layout, spec, stage, tmpDir, log, meta);
    const started = new Date();
    const t0 = performance.now();
    await stage.run(ctx);
    const seconds = (performance.now() - t0) / 1000;
    for (const out of stage.outputs) {
      if (!(await exists(join(tmpDir, out)))) {
        throw new Error(`stage ${spec.id} did not write its declared output ${out}`);
      }
    }
    const manifest: Manifest = {
      stage: spec.stage,
      id: spec.id,
      key: spec.key,
      version: stage.version,
      params: spec.params,
      inputs: Object.fromEntries(
        Object.entries(spec.inputs).map((
          [r, v],
        ) => [
          r,
          Array.isArray(v) ? v.map(({ id, key }) => ({ id, key })) : { id: v.id, key: v.key },
        ]),
      ),
      rawInputs: Object.fromEntries(
        Object.entries(spec.rawInputs).map(([r, p]) => [r, { path: p, sha256: spec.rawHashes[r] }]),
      ),
      codeVersion: spec.codeVersion,
      options: spec.options,
      started: started.toISOString(),
      finished: new Date().toISOString(),
      seconds: Math.round(seconds * 1000) / 1000,
      meta,
      files: await hashFiles(tmpDir),
    };
    await Deno.writeTextFile(
      join(tmpDir, "manifest.json"),
      JSON.stringify(manifest, null, 2) + "\n",
    );
    await publish(layout, tmpDir, spec.stage, spec.key);
    await Deno.remove(partialDir, { recursive: true }).catch(() => {});
    await writeIndex(layout, {
      id: spec.id,
      stage: spec.stage,
      key: spec.key,
      version: stage.version,
      params: spec.params,
      inputs: Object.fromEntries(
        Object.entries(spec.inputs).map(([r, v]) => [
          r,
          Array.isArray(v) ? v.map((x) => x.key) : v.key,
        ]),
      ),
      rawInputs: spec.rawHashes,
    });
    return { status: "ran", seconds };
  } catch (e) {
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
    throw e;
  } finally {
    await lock.release();
  }
}

/**
 * Run part `spec.shard` of a shardable stage (`Stage.runShard`): under its own lock
 * (`<key>.shard-<i>of<n>`, so parts of one key run at once and the same part never twice), into
 * the key's partial folder only. Nothing is published or indexed; `cached` when the key is
 * already published (and not forced). Its `outDir` is an empty temporary folder, removed after.
 */
export async function executeShard(
  spec: TaskSpec,
  // deno-lint-ignore no-explicit-any
  stages: Map<string, Stage<any>>,
  logOpts: TaskLogOptions = {},
): Promise<TaskResult> {
  const part = spec.shard;
  const stage = stages.get(spec.stage);
  if (!stage) throw new Error(`no stage named ${spec.stage} is registered`);
  if (!part) throw new Error(`task ${spec.id} names no shard`);
  if (!stage.runShard) throw new Error(`stage ${spec.stage} cannot run in shards (no runShard)`);
  const { index, count } = part;
  if (
    !Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count
  ) {
    throw new Error(
      `task ${spec.id}: shard ${index} of ${count} is not a part (0 ≤ index < count)`,
    );
  }
  const layout = new CacheLayout(spec.cache);
  const log = createStageLog({ prefix: `${spec.id} shard ${index + 1}/${count}`, ...logOpts });
  const lock = await acquireKeyLock(
    layout.lockRoot,
    `${spec.key}.shard-${index}of${count}`,
    (holder) => log.info(`waiting: ${holder} is computing this shard`),
  );
  // Not prefixed `<stage>-<key>-`: the merge task (holding the key lock) must not take it for its own.
  const tmpDir = join(
    layout.tmpRoot,
    `shard_${spec.stage}_${spec.key.slice(0, 16)}_${index}-${tmpOwner()}-${
      crypto.randomUUID().slice(0, 8)
    }`,
  );
  try {
    if (await exists(layout.manifestPath(spec.stage, spec.key)) && !spec.force) {
      return { status: "cached", seconds: 0 };
    }
    await Deno.mkdir(tmpDir, { recursive: true });
    const ctx = await stageContext(layout, spec, stage, tmpDir, log, {});
    const t0 = performance.now();
    await stage.runShard(ctx, { index, count });
    return { status: "ran", seconds: (performance.now() - t0) / 1000 };
  } finally {
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
    await lock.release();
  }
}

/**
 * `<machine>.<pid>` of this process, safe in a folder name; `<machine>` is the host name plus the
 * start of the boot id, so that nodes sharing a host name (containers) on a shared cache never
 * take each other's live temporary folders for abandoned ones.
 */
function tmpOwner(): string {
  return `${machineTag()}.${Deno.pid}`;
}

/**
 * This machine, safe in a file name: host name plus the start of the boot id (nodes that share a
 * host name, containers, are told apart).
 */
export function machineTag(): string {
  return `${hostname()}_${bootId().slice(0, 8)}`.replace(/[^A-Za-z0-9]/g, "_");
}

/**
 * Remove temporary folders left by killed runs: those of this key (we hold its lock) and those
 * whose owner process on this machine no longer exists.
 */
async function removeAbandonedTmp(layout: CacheLayout, spec: TaskSpec): Promise<void> {
  const prefix = `${spec.stage}-${spec.key.slice(0, 16)}-`;
  const host = machineTag();
  try {
    for await (const e of Deno.readDir(layout.tmpRoot)) {
      const owner = e.name.split("-").at(-2) ?? "";
      const [h, pid] = owner.split(".");
      const deadHere = h === host && Number(pid) !== Deno.pid && !processAlive(Number(pid));
      if (e.name.startsWith(prefix) || deadHere) {
        await Deno.remove(join(layout.tmpRoot, e.name), { recursive: true }).catch(() => {});
      }
    }
  } catch { /* no tmp root yet */ }
}
