/**
 * The explorer's model of a cache: the last pipeline run (`<cache>/last_run.json`), the manifest
 * of every stage instance it names, and the runs (train instances) with the instances derived
 * from them (encode, evaluate, concepts, modality, bridge, match), found through the manifests'
 * `inputs`. Reads JSON only; artifacts are read lazily by explorer/run_data.ts.
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { UserError } from "../pipeline/errors.ts";
import { spaceOfInstanceId } from "./spaces.ts";

/** A published stage instance as recorded by its manifest. */
export interface Instance {
  stage: string;
  id: string;
  /** 64-hex content key. */
  key: string;
  /** Absolute key folder `<cache>/<stage>/<key>`. */
  dir: string;
  params: Record<string, unknown>;
  /** Upstream keys by role (role names without `*` / `?` suffix). */
  inputs: Record<string, string[]>;
  meta: Record<string, unknown>;
  codeVersion: string;
  /** Artifact file names (relative, `/`-separated) listed by the manifest. */
  files: string[];
  rawInputs: Record<string, string>;
  finished: string;
}

/** A run: one train instance and what was derived from it. */
export interface Run {
  /** URL-safe unique name, e.g. `topk-k8-seed0-natural-1a2b3c4d`. */
  slug: string;
  /** Human label, e.g. `topk k=8 seed=0 diet=natural` (`clip · topk …` in a study of spaces). */
  label: string;
  /** Embedding space of the run (studies of several spaces; undefined otherwise). */
  space?: string;
  train: Instance;
  diet?: Instance;
  dataset?: Instance;
  encode?: Instance;
  evaluate?: Instance;
  concepts?: Instance;
  modality?: Instance;
  bridge?: Instance;
  /** The `labels` stage of this run (concept names), when the study ran it. */
  labels?: Instance;
  /** The `map` stage of this run (2-D layouts), when the study ran it. */
  map?: Instance;
  /** True for the study's primary run (`train.primary`, first seed, first diet). */
  primary: boolean;
  /** Match instances with this run on side `a` or `b`, and the partner run's train key. */
  matches: { match: Instance; side: "a" | "b"; partnerKey: string }[];
}

/** One row of the claims / validation tables of the run record. */
export interface ClaimRow {
  claim: string;
  value: number | null;
  null_value?: number | null;
  threshold?: number | null;
  holds: boolean | null;
}

/** Everything the explorer knows about a cache. */
export interface Atlas {
  /** Absolute cache folder. */
  cache: string;
  /** The resolved study configuration of the last run (`{}` when unknown). */
  config: Record<string, unknown>;
  /** Code version of the last run (or of the newest manifest). */
  codeVersion: string;
  instances: Instance[];
  /** Instances by key. */
  byKey: Map<string, Instance>;
  /** Runs: the primary run first, then by method (config order), k, seed, diet (natural order). */
  runs: Run[];
  /** The study's primary run (undefined when the cache has none). */
  primary?: Run;
  /** Runs by slug. */
  bySlug: Map<string, Run>;
  claims: ClaimRow[];
  validation: ClaimRow[];
  /** Absolute folders whose files may be served as images (the dataset's input folders). */
  datasetFolders: string[];
  /** Slugs of the runs the server can search by free text (set by explorer/server.ts). */
  queryRuns?: Set<string>;
}

const KEY = /^[0-9a-f]{16,128}$/;
const STAGE = /^[a-z][a-z0-9_-]*$/;

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new UserError(`${path}: not valid JSON (${(e as Error).message}); re-run the pipeline`);
  }
}

function asRecord(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

async function readInstance(cache: string, stage: string, key: string): Promise<Instance | null> {
  if (!STAGE.test(stage) || !KEY.test(key)) return null;
  const dir = join(cache, stage, key);
  const m = asRecord(await readJson(join(dir, "manifest.json")));
  if (m.key !== key) return null;
  const inputs: Record<string, string[]> = {};
  for (const [role, ref] of Object.entries(asRecord(m.inputs))) {
    const refs = Array.isArray(ref) ? ref : [ref];
    inputs[role.replace(/[*?]+$/, "")] = refs.map((r) => String(asRecord(r).key ?? ""));
  }
  const rawInputs: Record<string, string> = {};
  for (const [role, r] of Object.entries(asRecord(m.rawInputs))) {
    const p = asRecord(r).path;
    if (typeof p === "string") rawInputs[role] = p;
  }
  return {
    stage,
    id: String(m.id ?? `${stage}[${key.slice(0, 8)}]`),
    key,
    dir,
    params: asRecord(m.params),
    inputs,
    meta: asRecord(m.meta),
    codeVersion: String(m.codeVersion ?? "unknown"),
    files: Object.keys(asRecord(m.files)),
    rawInputs,
    finished: String(m.finished ?? ""),
  };
}

/** Stage instances listed by a run record, else every published manifest under the cache. */
async function listInstances(
  cache: string,
  record: Record<string, unknown> | undefined,
): Promise<Instance[]> {
  const out: Instance[] = [];
  const seen = new Set<string>();
  const add = async (stage: string, key: string) => {
    if (seen.has(key)) return;
    seen.add(key);
    const inst = await readInstance(cache, stage, key);
    if (inst) out.push(inst);
  };
  if (record && Array.isArray(record.stages)) {
    for (const s of record.stages) {
      const r = asRecord(s);
      if (typeof r.stage === "string" && typeof r.key === "string") await add(r.stage, r.key);
    }
    return out;
  }
  const stages: string[] = [];
  try {
    for await (const e of Deno.readDir(cache)) {
      if (e.isDirectory && !e.name.startsWith(".")) stages.push(e.name);
    }
  } catch {
    throw new UserError(`--cache ${cache}: folder not found; run \`deno task pipeline\` first`);
  }
  for (const stage of stages.sort()) {
    const keys: string[] = [];
    for await (const e of Deno.readDir(join(cache, stage))) if (e.isDirectory) keys.push(e.name);
    for (const key of keys.sort()) await add(stage, key);
  }
  return out;
}

function claimRows(v: unknown): ClaimRow[] {
  if (!Array.isArray(v)) return [];
  return v.map((x) => {
    const r = asRecord(x);
    const num = (y: unknown) => (typeof y === "number" ? y : y === null ? null : undefined);
    return {
      // Studies of several spaces tag each claim and check with its space: name it.
      claim: `${typeof r.space === "string" ? `${r.space} · ` : ""}${
        String(r.claim ?? r.check ?? "")
      }`,
      value: num(r.value) ?? null,
      ...(r.null_value !== undefined ? { null_value: num(r.null_value) ?? null } : {}),
      ...(r.threshold !== undefined ? { threshold: num(r.threshold) ?? null } : {}),
      holds: typeof r.holds === "boolean" ? r.holds : null,
    };
  });
}

/** URL-safe slug piece: lower-case letters, digits, `-`. */
export function slugPart(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
}

function runLabel(train: Instance, diet?: Instance): { label: string; slug: string } {
  const p = train.params;
  const dietName = p.diet ?? diet?.params.ratio ?? diet?.params.diet;
  const parts: string[] = [];
  if (p.method !== undefined) parts.push(String(p.method));
  if (p.k !== undefined) parts.push(`k=${p.k}`);
  if (p.seed !== undefined) parts.push(`seed=${p.seed}`);
  if (dietName !== undefined) parts.push(`diet=${dietName}`);
  // Studies of several spaces: the space names every run (label, slug, every page's title).
  const space = spaceOfInstanceId(train.id);
  if (space && parts.length) parts.unshift(`${space} ·`);
  const label = parts.length ? parts.join(" ") : train.id;
  return { label, slug: `${slugPart(label) || "run"}-${train.key.slice(0, 8)}` };
}

/** Natural order of two strings: digit runs compare as numbers (`k=4` < `k=16`). */
export function naturalCompare(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [], pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i], y = pb[i];
    if (x === y) continue;
    const nx = /^\d/.test(x), ny = /^\d/.test(y);
    if (nx && ny) return Number(x) - Number(y) || x.length - y.length;
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/**
 * The study's primary run: method and k of `train.primary`, the first train seed, the first diet
 * (as tasks/study.ts builds it); without a recorded config, the most common method/k among the
 * stability runs is not guessed: undefined.
 */
export function primaryRun(runs: Run[], config: Record<string, unknown>): Run | undefined {
  const train = asRecord(config.train);
  const p = asRecord(train.primary);
  if (p.method === undefined) return undefined;
  const seed = asArray(train.seeds)[0];
  const diet = asArray(asRecord(config.diets).ratios)[0];
  const fits = runs.filter((r) => {
    const q = r.train.params;
    return q.method === p.method && (p.k === undefined || q.k === p.k) &&
      (seed === undefined || q.seed === seed) &&
      (diet === undefined || String(q.diet ?? r.diet?.params.ratio) === String(diet));
  });
  return fits.sort((a, b) => naturalCompare(a.label, b.label))[0];
}

/**
 * Order of runs: the primary run first, then method (in the config's `train.methods` order, else
 * by name), k and seed numerically, diet in the config's `diets.ratios` order, then the label in
 * natural order.
 */
export function runOrder(config: Record<string, unknown>): (a: Run, b: Run) => number {
  const methods = asArray(asRecord(config.train).methods).map(String);
  const diets = asArray(asRecord(config.diets).ratios).map(String);
  const rank = (list: string[], v: unknown) => {
    const i = list.indexOf(String(v));
    return i < 0 ? list.length : i;
  };
  const num = (v: unknown) => (typeof v === "number" ? v : Number.POSITIVE_INFINITY);
  return (a, b) => {
    if (a.primary !== b.primary) return a.primary ? -1 : 1;
    const p = a.train.params, q = b.train.params;
    return rank(methods, p.method) - rank(methods, q.method) ||
      naturalCompare(String(p.method ?? ""), String(q.method ?? "")) ||
      num(p.k) - num(q.k) || num(p.seed) - num(q.seed) ||
      rank(diets, p.diet ?? a.diet?.params.ratio) - rank(diets, q.diet ?? b.diet?.params.ratio) ||
      naturalCompare(a.label, b.label);
  };
}

/** Folders of the dataset inputs: config paths (resolved from `cwd`) and the manifests' raw inputs. */
function datasetFolders(config: Record<string, unknown>, instances: Instance[], cwd: string) {
  const ds = asRecord(config.dataset);
  const out = new Set<string>();
  for (const k of ["path", "textPath", "pairs"]) {
    const p = ds[k];
    if (typeof p === "string" && p !== "") out.add(dirname(resolve(cwd, p)));
  }
  const embedSource = (src: Record<string, unknown>) => {
    if (typeof src.images === "string" && src.images !== "") out.add(resolve(cwd, src.images));
    else if (typeof src.path === "string" && src.path !== "") {
      out.add(dirname(resolve(cwd, src.path)));
    }
  };
  embedSource(asRecord(asRecord(config.embed).source));
  for (const inst of instances) {
    if (inst.stage === "embed") embedSource(asRecord(inst.params.source));
    if (inst.stage !== "dataset" && inst.stage !== "embed") continue;
    for (const p of Object.values(inst.rawInputs)) if (isAbsolute(p)) out.add(dirname(p));
  }
  return [...out];
}

/**
 * Load the explorer model of `cache`. Throws {@link UserError} when the folder holds no run.
 * @param cwd folder that relative dataset paths of the config are resolved from (default: cwd)
 */
export async function loadAtlas(cache: string, cwd = Deno.cwd()): Promise<Atlas> {
  const root = resolve(cache);
  const record = await readJson(join(root, "last_run.json")) as Record<string, unknown> | undefined;
  const instances = await listInstances(root, record ? asRecord(record) : undefined);
  if (instances.length === 0) {
    throw new UserError(
      `--cache ${root}: no pipeline run found (no last_run.json and no stage manifests); run \`deno task pipeline --cache ${cache}\` first`,
    );
  }
  const byKey = new Map(instances.map((i) => [i.key, i]));
  const children = new Map<string, Instance[]>();
  for (const inst of instances) {
    for (const keys of Object.values(inst.inputs)) {
      for (const k of keys) {
        if (!children.has(k)) children.set(k, []);
        children.get(k)!.push(inst);
      }
    }
  }
  const childOf = (key: string | undefined, stage: string, role?: string) =>
    key === undefined
      ? undefined
      : (children.get(key) ?? []).find((c) =>
        c.stage === stage && (role === undefined || c.inputs[role]?.includes(key))
      );
  const up = (inst: Instance | undefined, role: string) =>
    inst?.inputs[role]?.[0] !== undefined ? byKey.get(inst.inputs[role][0]) : undefined;

  const runs: Run[] = [];
  for (const train of instances.filter((i) => i.stage === "train")) {
    const diet = up(train, "diet");
    const encode = childOf(train.key, "encode", "train");
    const dataset = up(encode, "dataset") ?? up(diet, "dataset") ??
      instances.find((i) => i.stage === "dataset");
    const evaluate = childOf(train.key, "evaluate", "train");
    const concepts = childOf(encode?.key, "concepts", "encode");
    const modality = childOf(train.key, "modality", "train");
    const bridge = childOf(train.key, "bridge", "train");
    const labels = childOf(encode?.key, "labels", "encode");
    const map = childOf(train.key, "map", "train");
    const matches: Run["matches"] = [];
    for (const m of children.get(train.key) ?? []) {
      if (m.stage !== "match") continue;
      const a = m.inputs.a?.[0], b = m.inputs.b?.[0];
      if (a === train.key && b) matches.push({ match: m, side: "a", partnerKey: b });
      else if (b === train.key && a) matches.push({ match: m, side: "b", partnerKey: a });
    }
    const { label, slug } = runLabel(train, diet);
    const space = spaceOfInstanceId(train.id);
    runs.push({
      slug,
      label,
      ...(space ? { space } : {}),
      train,
      diet,
      dataset,
      encode,
      evaluate,
      concepts,
      modality,
      bridge,
      labels,
      map,
      primary: false,
      matches,
    });
  }
  const rec = asRecord(record);
  const config = asRecord(rec.config);
  const primary = primaryRun(runs, config);
  if (primary) primary.primary = true;
  runs.sort(runOrder(config));
  const newest = [...instances].sort((a, b) => (a.finished < b.finished ? 1 : -1))[0];
  return {
    cache: root,
    config,
    codeVersion: String(rec.code_version ?? rec.codeVersion ?? newest?.codeVersion ?? "unknown"),
    instances,
    byKey,
    runs,
    primary,
    bySlug: new Map(runs.map((r) => [r.slug, r])),
    claims: claimRows(rec.claims),
    validation: claimRows(rec.validation),
    datasetFolders: datasetFolders(config, instances, cwd),
  };
}

/** The instances of one stage (e.g. all `pareto`, `claims`), in the atlas order. */
export function instancesOf(atlas: Atlas, stage: string): Instance[] {
  return atlas.instances.filter((i) => i.stage === stage);
}
