/**
 * Resolving a study graph: validate every instance's parameters, order the instances
 * topologically, compute their keys (before anything runs) and decide, per instance, whether it
 * is cached or why it must run. A dry run prints exactly this plan.
 */
import { z } from "zod";
import { UserError } from "./errors.ts";
import type { StageInstance } from "./stage.ts";
import { stageKey } from "./key.ts";
import { canonicalJson } from "./canonical_json.ts";
import { CacheLayout, isPublished, readIndex } from "./cache.ts";
import {
  describeListingChange,
  FileHashState,
  loadListing,
  type RawListing,
  type ResolvedInput,
  resolveExternal,
  resolveRawPath,
  storeListing,
} from "./content_hash.ts";

/** Whether an instance will run, and why. */
export type PlanStatus = "cached" | "run";

/** One resolved instance. */
export interface PlannedInstance {
  instance: StageInstance;
  /** Validated parameters (defaults filled in). */
  params: Record<string, unknown>;
  key: string;
  /** Upstream keys by role (lists for `*` roles). */
  inputKeys: Record<string, string | string[]>;
  /** Raw input content hashes by role. */
  rawHashes: Record<string, string>;
  /** Raw input paths by role, as the stage gets them (`ctx.rawInputs`). */
  rawPaths: Record<string, string>;
  status: PlanStatus;
  /** `cached`, `new`, `parameter lr changed (0.001 → 0.002)`, `input diet changed`, `forced`, ... */
  reason: string;
}

/** Options of {@link planStudy}. */
export interface PlanOptions {
  /** Stage names or instance ids to re-run even when cached (their descendants re-run too). */
  force?: string[];
  /** Progress lines while many raw input files are hashed (default: none). */
  log?: (line: string) => void;
}

/** Order instances so that every instance comes after its inputs; throws on cycles and dangling inputs. */
export function topologicalOrder(instances: StageInstance[]): StageInstance[] {
  const byId = new Map<string, StageInstance>();
  for (const inst of instances) {
    if (byId.has(inst.id)) throw new Error(`study graph: duplicate instance id ${inst.id}`);
    byId.set(inst.id, inst);
  }
  const state = new Map<string, 1 | 2>();
  const out: StageInstance[] = [];
  const visit = (inst: StageInstance, path: string[]) => {
    const s = state.get(inst.id);
    if (s === 2) return;
    if (s === 1) throw new Error(`study graph: cycle ${[...path, inst.id].join(" → ")}`);
    state.set(inst.id, 1);
    for (const dep of upstreamIds(inst)) {
      const up = byId.get(dep);
      if (!up) throw new Error(`study graph: ${inst.id} needs ${dep}, which is not in the study`);
      visit(up, [...path, inst.id]);
    }
    state.set(inst.id, 2);
    out.push(inst);
  };
  for (const inst of instances) visit(inst, []);
  return out;
}

/** Ids of the instances an instance reads. */
export function upstreamIds(inst: StageInstance): string[] {
  return Object.values(inst.inputs).flatMap((v) => (Array.isArray(v) ? v : [v]));
}

/** The schema of a stage declared without `params`: only `{}` is accepted. */
const NO_PARAMS = z.strictObject({});

/** Validate an instance's parameters against its stage schema; errors name the parameter path. */
export function validateParams(inst: StageInstance): Record<string, unknown> {
  const r = (inst.stage.params ?? NO_PARAMS).safeParse(inst.params);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.join(".") || "(parameters)";
    throw new UserError(`stage ${inst.id}: parameter ${path}: ${issue.message}`);
  }
  return r.data as Record<string, unknown>;
}

/** Check that each instance binds exactly the roles its stage declares, to the right stages. */
function checkRoles(inst: StageInstance, byId: Map<string, StageInstance>): void {
  const declared = inst.stage.inputs;
  for (const role of Object.keys(inst.inputs)) {
    if (!(role in declared)) {
      throw new Error(`study graph: ${inst.id} binds unknown input role ${role}`);
    }
  }
  for (const [role, stageName] of Object.entries(declared)) {
    const bound = inst.inputs[role];
    if (bound === undefined) {
      if (role.endsWith("*") || role.endsWith("?")) continue;
      throw new Error(`study graph: ${inst.id} lacks input ${role}`);
    }
    const ids = Array.isArray(bound) ? bound : [bound];
    if (role.endsWith("*") !== Array.isArray(bound)) {
      throw new Error(
        `study graph: ${inst.id} input ${role} must be ${role.endsWith("*") ? "a list" : "one id"}`,
      );
    }
    for (const id of ids) {
      const up = byId.get(id);
      if (up && !stageName.split("|").includes(up.stage.name)) {
        throw new Error(`study graph: ${inst.id} input ${role} wants a ${stageName}, got ${id}`);
      }
    }
  }
}

/** Resolve the whole study: keys and statuses, in execution order. */
export async function planStudy(
  instances: StageInstance[],
  layout: CacheLayout,
  opts: PlanOptions = {},
): Promise<PlannedInstance[]> {
  const ordered = topologicalOrder(instances);
  const byId = new Map(ordered.map((i) => [i.id, i]));
  const force = new Set(opts.force ?? []);
  for (const f of force) {
    if (!ordered.some((i) => i.id === f || i.stage.name === f)) {
      const names = [...new Set(ordered.map((i) => i.stage.name))].join(", ");
      throw new UserError(
        `--force ${f}: no such stage or instance in this study (stages: ${names})`,
      );
    }
  }
  const planned = new Map<string, PlannedInstance>();
  const out: PlannedInstance[] = [];
  let state: FileHashState | undefined;
  for (const inst of ordered) {
    checkRoles(inst, byId);
    const params = validateParams(inst);
    const inputKeys: Record<string, string | string[]> = {};
    for (const [role, ids] of Object.entries(inst.inputs)) {
      inputKeys[role] = Array.isArray(ids)
        ? ids.map((id) => planned.get(id)!.key)
        : planned.get(ids)!.key;
    }
    const hashState = async () => (state ??= await FileHashState.open(layout.fileStatePath));
    const resolved = await resolveRawInputs(inst, params, hashState, opts.log);
    const rawHashes: Record<string, string> = {};
    const rawPaths: Record<string, string> = {};
    for (const [role, r] of Object.entries(resolved)) {
      rawHashes[role] = r.digest;
      rawPaths[role] = r.path;
      await storeListing(layout.indexDir, r.digest, r.listing);
    }
    const key = stageKey({
      stage: inst.stage.name,
      version: inst.stage.version,
      params,
      inputs: inputKeys,
      rawInputs: rawHashes,
    });
    const p: PlannedInstance = {
      instance: inst,
      params,
      key,
      inputKeys,
      rawHashes,
      rawPaths,
      status: "run",
      reason: "new",
    };
    const upForced = upstreamIds(inst).map((id) => planned.get(id)!).find((u) =>
      u.reason.startsWith("forced") || u.reason.startsWith("upstream forced")
    );
    if (force.has(inst.id) || force.has(inst.stage.name)) {
      p.reason = "forced";
    } else if (upForced) {
      p.reason = `upstream forced (${upForced.instance.id})`;
    } else if (await isPublished(layout, inst.stage.name, key)) {
      p.status = "cached";
      p.reason = "cached";
    } else {
      p.reason = await explainChange(layout, p, resolved);
    }
    planned.set(inst.id, p);
    out.push(p);
  }
  await state?.save();
  return out;
}

/**
 * Content-hash an instance's raw inputs: its `rawInputs` paths and its stage's `externalInputs`.
 * A missing file is a {@link UserError} naming it and its role.
 */
async function resolveRawInputs(
  inst: StageInstance,
  params: Record<string, unknown>,
  hashState: () => Promise<FileHashState>,
  log?: (line: string) => void,
): Promise<Record<string, ResolvedInput>> {
  const out: Record<string, ResolvedInput> = {};
  const missing = (role: string, e: unknown, what: string) =>
    e instanceof Deno.errors.NotFound
      ? new UserError(
        `stage ${inst.id}: input ${what} (${role}) does not exist: check the path in the config`,
      )
      : e;
  for (const [role, path] of Object.entries(inst.rawInputs ?? {})) {
    try {
      out[role] = await resolveRawPath(await hashState(), path);
    } catch (e) {
      throw missing(role, e, `file ${path}`);
    }
  }
  const external = await inst.stage.externalInputs?.(params) ?? {};
  for (const [role, input] of Object.entries(external)) {
    if (role in out) throw new Error(`study graph: ${inst.id} declares raw input ${role} twice`);
    let shown = 0;
    try {
      out[role] = await resolveExternal(await hashState(), input, (done, total) => {
        if (total < 1000 || !log) return;
        if (done === total || done - shown >= 10000) {
          shown = done;
          log(`  ${inst.id}: hashed ${done} of ${total} new or changed ${role} files`);
        }
      });
    } catch (e) {
      const file = e instanceof Deno.errors.NotFound
        ? e.message.replace(/ does not exist$/, "")
        : "";
      throw missing(role, e, `file ${file}`);
    }
  }
  return out;
}

/** Why an uncached instance must run, from what the cache remembers of its id. */
async function explainChange(
  layout: CacheLayout,
  p: PlannedInstance,
  resolved: Record<string, ResolvedInput>,
): Promise<string> {
  const prev = await readIndex(layout, p.instance.id);
  if (!prev) return "new";
  if (prev.version !== p.instance.stage.version) {
    return `stage version changed (${prev.version} → ${p.instance.stage.version})`;
  }
  const changed = diffParams(prev.params, p.params);
  if (changed.length) {
    const [path, a, b] = changed[0];
    const more = changed.length > 1 ? ` and ${changed.length - 1} more` : "";
    return `parameter ${path} changed (${a} → ${b})${more}`;
  }
  for (const [role, h] of Object.entries(p.rawHashes)) {
    if (prev.rawInputs[role] === h) continue;
    const before: RawListing | null = prev.rawInputs[role]
      ? await loadListing(layout.indexDir, prev.rawInputs[role])
      : new Map();
    return describeListingChange(role, before, resolved[role].listing);
  }
  for (const [role, k] of Object.entries(p.inputKeys)) {
    if (canonicalJson(prev.inputs[role]) !== canonicalJson(k)) {
      return `input ${role.replace(/\*$/, "")} changed`;
    }
  }
  return "not in cache (removed?)";
}

/** Leaf-level differences between two parameter objects: [path, old, new]. */
export function diffParams(a: unknown, b: unknown, path = ""): [string, string, string][] {
  const isObj = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort();
    return keys.flatMap((k) => diffParams(ao[k], bo[k], path ? `${path}.${k}` : k));
  }
  const sa = a === undefined ? "unset" : canonicalJson(a);
  const sb = b === undefined ? "unset" : canonicalJson(b);
  return sa === sb ? [] : [[path || "(all)", sa, sb]];
}
