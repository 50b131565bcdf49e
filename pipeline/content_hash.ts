/**
 * Content hashes of the files a stage reads from outside the cache (design.md "The cache": raw
 * inputs enter the key by their content hash).
 *
 * - {@link FileHashState}: a small state file of (path, size, mtime, inode) → SHA-256, as DVC keeps,
 *   so that a folder of 100,000 images is stat'ed, not re-read, on every run; only files whose
 *   size, mtime or inode changed are hashed again. Entries of files modified less than
 *   {@link RACY_WINDOW_MS} before they were hashed are not remembered (a change within the same
 *   timestamp tick would otherwise go unseen).
 * - {@link ExternalInput}: what a stage declares it reads (local files by name, or parts whose
 *   digests a resolver already knows, e.g. a remote revision's files); the engine turns it into a
 *   {@link RawListing} (name → digest) and one digest for the key.
 * - Listings are kept, addressed by that digest, under `<cache>/.index/listings/`, so that a dry
 *   run can say which file changed ({@link describeListingChange}).
 */
import { join, resolve } from "node:path";
import { writeTextAtomic } from "./cache.ts";
import { listFolder } from "./file_tree.ts";
import { createHash } from "node:crypto";
import { sha256File } from "./hash.ts";

/** Modifications this close (ms) before hashing are not memoised: timestamps may be coarse. */
export const RACY_WINDOW_MS = 2000;

/**
 * An external input of a stage, resolved when the study is planned. Its listing — the SHA-256
 * of every local file in `files`, plus `digests` as given — enters the stage key.
 */
export interface ExternalInput {
  /** What the stage reads (a file or a folder); handed to it as `ctx.rawInputs[role]`. */
  path: string;
  /**
   * Local files to content-hash, by the name they are reported under (name → absolute path). A
   * `Map` for large sets (100,000 images: an object with that many keys is slow to build).
   */
  files?: Map<string, string> | Record<string, string>;
  /**
   * Parts whose digests are known without reading local files (e.g. the files of a remote
   * revision as its server reports them), by name: an algorithm-prefixed digest such as
   * `sha256:<hex>`. Names beginning with `@` describe the input as a whole (`@commit`).
   */
  digests?: Record<string, string>;
}

/** Name → digest of every part of one external input (local files: bare SHA-256 hex). */
export type RawListing = Map<string, string>;

/**
 * The digest of a listing that enters the key: SHA-256 over `name NUL digest LF` of every part in
 * name order (names are paths: they hold no NUL).
 */
export function listingDigest(listing: RawListing): string {
  const h = createHash("sha256");
  let chunk = "";
  for (const name of [...listing.keys()].sort()) {
    chunk += `${name}\0${listing.get(name)}\n`;
    if (chunk.length > 1 << 20) {
      h.update(chunk);
      chunk = "";
    }
  }
  return h.update(chunk).digest("hex");
}

/** One remembered file: size in bytes, mtime in ms, inode, SHA-256 hex. */
type StateEntry = [number, number, number, string];

/** Options of {@link FileHashState}. */
export interface FileHashStateOptions {
  /** Called before a file is read for hashing (tests count re-hashes with it). */
  onHash?(path: string): void;
  /** Clock for the racy window (default `Date.now`). */
  now?(): number;
}

/**
 * The (path, size, mtime, inode) → SHA-256 state file. Load once per plan, hash, then
 * {@link FileHashState.save} (merges with entries other runs wrote meanwhile; best effort: a
 * read-only cache still works, only slower).
 */
export class FileHashState {
  readonly path: string;
  #entries = new Map<string, StateEntry>();
  #updates = new Map<string, StateEntry>();
  #opts: FileHashStateOptions;

  private constructor(path: string, opts: FileHashStateOptions) {
    this.path = path;
    this.#opts = opts;
  }

  /** Open the state file at `path` (an absent or unreadable file is an empty state). */
  static async open(path: string, opts: FileHashStateOptions = {}): Promise<FileHashState> {
    const s = new FileHashState(path, opts);
    s.#entries = await readState(path);
    return s;
  }

  /** Number of remembered files. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * SHA-256 hex of every file (absolute paths), in order: remembered ones by one stat each, the
   * others read. Throws `Deno.errors.NotFound` (with the path in its message) for a missing file.
   * @param onProgress called with the number of files hashed so far and how many need hashing
   */
  async hashFiles(
    paths: string[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<string[]> {
    const out = new Array<string>(paths.length);
    const todo: { i: number; st: Deno.FileInfo }[] = [];
    for (let i = 0; i < paths.length; i++) {
      let st: Deno.FileInfo;
      try {
        st = Deno.statSync(paths[i]);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new Deno.errors.NotFound(`${paths[i]} does not exist`);
        }
        throw e;
      }
      const hit = this.#entries.get(paths[i]);
      if (hit && hit[0] === st.size && hit[1] === mtimeOf(st) && hit[2] === (st.ino ?? 0)) {
        out[i] = hit[3];
      } else todo.push({ i, st });
    }
    let done = 0, next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const { i, st } = todo[next++];
        this.#opts.onHash?.(paths[i]);
        // Small files in one read (sha256File's 4 MiB buffer would dominate for each of them).
        const h = st.size <= 1 << 20
          ? createHash("sha256").update(await Deno.readFile(paths[i])).digest("hex")
          : await sha256File(paths[i]);
        out[i] = h;
        const mtime = mtimeOf(st);
        const now = this.#opts.now?.() ?? Date.now();
        const entry: StateEntry = [st.size, mtime, st.ino ?? 0, h];
        this.#entries.set(paths[i], entry);
        if (now - mtime >= RACY_WINDOW_MS) this.#updates.set(paths[i], entry);
        onProgress?.(++done, todo.length);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return out;
  }

  /** Write new entries back (merged with the file as it is now); false when it cannot be written. */
  async save(): Promise<boolean> {
    if (this.#updates.size === 0) return true;
    try {
      const merged = await readState(this.path);
      for (const [p, e] of this.#updates) merged.set(p, e);
      const rows = [...merged].map(([p, e]) => [p, ...e]);
      await writeTextAtomic(this.path, JSON.stringify({ version: 2, files: rows }));
      this.#updates.clear();
      return true;
    } catch {
      return false;
    }
  }
}

function mtimeOf(st: Deno.FileInfo): number {
  return st.mtime?.getTime() ?? 0;
}

async function readState(path: string): Promise<Map<string, StateEntry>> {
  try {
    const j = JSON.parse(await Deno.readTextFile(path));
    if (j?.version === 2 && Array.isArray(j.files)) {
      const m = new Map<string, StateEntry>();
      for (const [p, size, mtime, ino, h] of j.files) m.set(p, [size, mtime, ino, h]);
      return m;
    }
  } catch { /* absent or unreadable: start empty */ }
  return new Map();
}

/**
 * A function giving the name a file is listed under: relative to `base` when inside it, else
 * the path as given. `base` and the files are absolute, normalised paths.
 */
export function listedNames(base: string): (file: string) => string {
  const prefix = base.endsWith("/") ? base : `${base}/`;
  return (file) => (file.startsWith(prefix) ? file.slice(prefix.length) : file);
}

/** A resolved external input: the path handed to the stage, its listing and its key digest. */
export interface ResolvedInput {
  path: string;
  listing: RawListing;
  digest: string;
}

/**
 * Hash a raw input given as a plain path (a file, or a folder: every file under it). A single
 * file's digest is its SHA-256 (as before listings existed, so such keys did not change); a
 * folder's is the digest of its listing.
 */
export async function resolveRawPath(state: FileHashState, path: string): Promise<ResolvedInput> {
  const abs = resolve(path);
  const st = await Deno.stat(abs);
  if (st.isDirectory) {
    return await resolveExternal(state, { path: abs, files: await listFolder(abs) });
  }
  const [h] = await state.hashFiles([abs]);
  return { path: abs, listing: new Map([[abs, h]]), digest: h };
}

/** Hash an {@link ExternalInput}'s local files and combine them with its known digests. */
export async function resolveExternal(
  state: FileHashState,
  input: ExternalInput,
  onProgress?: (done: number, total: number) => void,
): Promise<ResolvedInput> {
  const files = input.files instanceof Map
    ? input.files
    : new Map(Object.entries(input.files ?? {}));
  const hashes = await state.hashFiles([...files.values()], onProgress);
  const listing: RawListing = new Map(Object.entries(input.digests ?? {}));
  let i = 0;
  for (const name of files.keys()) listing.set(name, hashes[i++]);
  return { path: input.path, listing, digest: listingDigest(listing) };
}

/** Where the listing of a digest is kept in a cache's index folder. */
export function listingPath(indexDir: string, digest: string): string {
  return join(indexDir, "listings", `${digest}.json`);
}

/** Keep a listing under its digest (once; best effort). */
export async function storeListing(
  indexDir: string,
  digest: string,
  listing: RawListing,
): Promise<void> {
  const p = listingPath(indexDir, digest);
  try {
    await Deno.lstat(p);
    return;
  } catch { /* not stored yet */ }
  try {
    await writeTextAtomic(p, JSON.stringify([...listing]));
  } catch { /* read-only cache: reasons get vaguer, nothing else */ }
}

/** The listing kept under a digest, or null. */
export async function loadListing(indexDir: string, digest: string): Promise<RawListing | null> {
  try {
    return new Map(JSON.parse(await Deno.readTextFile(listingPath(indexDir, digest))));
  } catch {
    return null;
  }
}

/**
 * Why an input's listing changed, in words: which file's content changed (or was added or
 * removed), e.g. `content of imgs/im3.png changed (input images)`,
 * `content of onnx/text_model.onnx and 2 more changed (input model)`. Parts named `@…` (a
 * revision) are named only when no file changed. `prev` null: the earlier listing is unknown.
 */
export function describeListingChange(
  role: string,
  prev: RawListing | null,
  cur: RawListing,
): string {
  if (!prev) return `content of input ${role} changed`;
  const changed: string[] = [], added: string[] = [], removed: string[] = [];
  for (const [n, d] of cur) {
    if (!prev.has(n)) added.push(n);
    else if (prev.get(n) !== d) changed.push(n);
  }
  for (const n of prev.keys()) if (!cur.has(n)) removed.push(n);
  const files = (xs: string[]) => xs.filter((n) => !n.startsWith("@")).sort();
  const more = (xs: string[]) => (xs.length > 1 ? ` and ${xs.length - 1} more` : "");
  const single = cur.size === 1 && prev.size === 1;
  if (single && added.length === 1 && removed.length === 1) {
    return `input ${role} now reads ${added[0]} (was ${removed[0]})`;
  }
  for (
    const [xs, verb] of [[changed, "changed"], [added, "added"], [removed, "removed"]] as const
  ) {
    const f = files(xs);
    if (f.length === 0) continue;
    return verb === "changed"
      ? `content of ${f[0]}${more(f)} changed (input ${role})`
      : `${f[0]}${more(f)} ${verb} (input ${role})`;
  }
  const meta = [...changed, ...added, ...removed].sort();
  if (meta.length > 0) {
    return `${meta[0]} of input ${role} changed (${prev.get(meta[0]) ?? "unset"} → ${
      cur.get(meta[0]) ?? "unset"
    })`;
  }
  return `content of input ${role} changed`;
}
