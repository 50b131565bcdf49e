/**
 * The on-disk cache (design.md "The cache"):
 * `<cache>/<stage>/<key>/` holds a stage instance's artifacts and `manifest.json`; it is written to
 * `<cache>/.tmp/…` first and renamed into place, so a key folder exists whole or not at all.
 * `<cache>/.index/` remembers, per instance id, the key it last had (to explain why it re-runs),
 * the listings of raw inputs by digest (`listings/`) and the raw-file hash state
 * (`file_state.json`, pipeline/content_hash.ts);
 * `<cache>/.locks/` holds per-key locks; `<cache>/.partial/` resumable partial work.
 */
import { join, resolve } from "node:path";
import { sha256File, sha256Text } from "./hash.ts";
import { listFolder } from "./file_tree.ts";

/** The manifest written beside every stage's artifacts. */
export interface Manifest {
  stage: string;
  id: string;
  key: string;
  version: number;
  params: Record<string, unknown>;
  /** Upstream instances by role: `{id, key}` (or a list of them). */
  inputs: Record<string, { id: string; key: string } | { id: string; key: string }[]>;
  rawInputs: Record<string, { path: string; sha256: string }>;
  codeVersion: string;
  /** The run options the study declared, as given (e.g. `{backend: "auto"}`); not in the key. */
  options: Record<string, string>;
  started: string;
  finished: string;
  seconds: number;
  /** Extra facts recorded by the stage (row counts, dimensions, ...). */
  meta: Record<string, unknown>;
  /** Every artifact file: size in bytes and SHA-256. */
  files: Record<string, { bytes: number; sha256: string }>;
}

/** What `.index/` remembers of an instance id's last published run. */
export interface IndexRecord {
  id: string;
  stage: string;
  key: string;
  version: number;
  params: Record<string, unknown>;
  inputs: Record<string, string | string[]>;
  rawInputs: Record<string, string>;
}

/** Paths inside one cache folder. */
export class CacheLayout {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }
  /** Published folder of a key. */
  keyDir(stage: string, key: string): string {
    return join(this.root, stage, key);
  }
  /** Manifest path of a key. */
  manifestPath(stage: string, key: string): string {
    return join(this.keyDir(stage, key), "manifest.json");
  }
  /** Folder of temporary (unpublished) outputs. */
  get tmpRoot(): string {
    return join(this.root, ".tmp");
  }
  /** Folder of lock files. */
  get lockRoot(): string {
    return join(this.root, ".locks");
  }
  /** Resumable partial work of a key (kept across interruptions, removed on publish). */
  partialDir(stage: string, key: string): string {
    return join(this.root, ".partial", stage, key);
  }
  /** Index record path of an instance id. */
  indexPath(id: string): string {
    return join(this.root, ".index", sha256Text(id).slice(0, 32) + ".json");
  }
  /** Folder of the index (instance records, raw-input listings, the file hash state). */
  get indexDir(): string {
    return join(this.root, ".index");
  }
  /** The raw-file hash state: (path, size, mtime, inode) → sha256 (pipeline/content_hash.ts). */
  get fileStatePath(): string {
    return join(this.root, ".index", "file_state.json");
  }
}

/** True when the key folder is published (its manifest exists). */
export async function isPublished(
  layout: CacheLayout,
  stage: string,
  key: string,
): Promise<boolean> {
  return await exists(layout.manifestPath(stage, key));
}

/** Read a published manifest. */
export async function readManifest(
  layout: CacheLayout,
  stage: string,
  key: string,
): Promise<Manifest> {
  return JSON.parse(await Deno.readTextFile(layout.manifestPath(stage, key)));
}

/** Read the index record of an instance id, or null. */
export async function readIndex(layout: CacheLayout, id: string): Promise<IndexRecord | null> {
  try {
    return JSON.parse(await Deno.readTextFile(layout.indexPath(id)));
  } catch {
    return null;
  }
}

/** Write the index record of an instance id (atomically). */
export async function writeIndex(layout: CacheLayout, rec: IndexRecord): Promise<void> {
  await writeJsonAtomic(layout.indexPath(rec.id), rec);
}

/** Size and SHA-256 of every regular file under `dir` (recursive, `/`-separated relative names). */
export async function hashFiles(
  dir: string,
): Promise<Record<string, { bytes: number; sha256: string }>> {
  const out: Record<string, { bytes: number; sha256: string }> = {};
  for (const [rel, p] of Object.entries(await listFolder(dir))) {
    if (rel === "manifest.json") continue;
    out[rel] = { bytes: (await Deno.stat(p)).size, sha256: await sha256File(p) };
  }
  return out;
}

/**
 * Publish a finished temporary folder as the key folder: rename (atomic on one filesystem). When
 * the key folder already exists (a forced re-run), the old one is moved aside first and removed.
 */
export async function publish(
  layout: CacheLayout,
  tmpDir: string,
  stage: string,
  key: string,
): Promise<void> {
  const final = layout.keyDir(stage, key);
  await Deno.mkdir(join(layout.root, stage), { recursive: true });
  if (await exists(final)) {
    const trash = `${tmpDir}.old`;
    await Deno.rename(final, trash);
    await Deno.rename(tmpDir, final);
    await Deno.remove(trash, { recursive: true });
  } else {
    await Deno.rename(tmpDir, final);
  }
}

/** Write JSON to `path` through a temporary file and a rename. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeTextAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/** Write text to `path` (creating its folder) through a temporary file and a rename. */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

/** True when a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
