/**
 * Downloading a resolved hub model ({@link HubModel}) into the model cache: each missing file is
 * fetched once into `blobs/<digest>.incomplete`, resumed with `Range` after an interruption (in
 * the same run, up to three tries, or in the next one), checked against the size and hash the hub
 * reports — SHA-256 for LFS files, the git blob SHA-1 (`sha1("blob <size>\0" + bytes)`) for the
 * others — then renamed into `blobs/` and hard-linked into the commit's snapshot folder. Bytes
 * that do not match are deleted: nothing unverified is ever cached.
 */
import { join } from "node:path";
import { createHash, type Hash } from "node:crypto";
import { UserError } from "../pipeline/errors.ts";
import { acquireKeyLock } from "../pipeline/lock.ts";
import { hashFileInto, sha256File } from "../pipeline/hash.ts";
import { type HubFile, type HubSettings, openResolve } from "./hub_client.ts";
import type { HubModel } from "./hub_cache.ts";

/** A file of the model folder as the run reads it. */
export interface VerifiedFile {
  bytes: number;
  sha256: string;
  /** Git blob SHA-1 as the hub reports it. */
  gitSha1: string;
  /** Whether this run downloaded it (else it was in the cache). */
  downloaded: boolean;
}

/** Options of {@link downloadHubModel}. */
export interface DownloadOptions {
  /** Called once with the bytes still to download (0 when all is cached), before any request. */
  onStart?(bytes: number, files: number): void;
  /** Called as bytes arrive. */
  onBytes?(n: number): void;
  /** Tries per file within this call (default 3); each resumes where the last one stopped. */
  tries?: number;
}

async function size(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return null;
  }
}

/** The hash a file is verified with, primed with the git blob header for non-LFS files. */
function verifier(f: HubFile): Hash {
  if (f.lfsSha256) return createHash("sha256");
  return createHash("sha1").update(`blob ${f.size}\0`);
}

function expected(f: HubFile): string {
  return f.lfsSha256 ?? f.gitSha1;
}

/**
 * Whether a cached copy of `f` is whole: its size, and for small (non-LFS) files also its git blob
 * SHA-1, which costs little (LFS files are verified when downloaded, not on every run).
 */
async function intact(path: string, f: HubFile): Promise<boolean> {
  if ((await size(path)) !== f.size) return false;
  if (f.lfsSha256) return true;
  const h = verifier(f);
  await hashFileInto(h, path);
  return h.digest("hex") === f.gitSha1;
}

/** Link `src` to `dst` (a hard link, else a copy), atomically replacing `dst`. */
async function place(src: string, dst: string): Promise<void> {
  await Deno.mkdir(dst.slice(0, dst.lastIndexOf("/")), { recursive: true });
  const tmp = `${dst}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.link(src, tmp);
  } catch {
    await Deno.copyFile(src, tmp);
  }
  await Deno.rename(tmp, dst);
}

/**
 * Fetch one file into `blob` (verified), resuming from `blob.incomplete` when it exists.
 * Throws {@link UserError} on a size or hash mismatch (after deleting the bytes) or when every
 * try was interrupted (the bytes are kept for the next run).
 */
async function fetchBlob(
  settings: HubSettings,
  model: HubModel,
  f: HubFile,
  blob: string,
  opts: DownloadOptions,
): Promise<void> {
  const partial = `${blob}.incomplete`;
  const where = `hub file ${f.name} of ${model.repo}@${model.commit.slice(0, 12)}`;
  const refuse = async (why: string): Promise<never> => {
    await Deno.remove(partial).catch(() => {});
    throw new UserError(`${where}: ${why}; nothing was cached, run again to retry`);
  };
  let offset = (await size(partial)) ?? 0;
  if (offset > f.size) {
    await Deno.remove(partial);
    offset = 0;
  }
  let h = verifier(f);
  if (offset > 0) await hashFileInto(h, partial);
  const tries = opts.tries ?? 3;
  let lastError = "";
  for (let attempt = 0; attempt < tries && offset < f.size; attempt++) {
    const { response, hub } = await openResolve(settings, model.repo, model.commit, f.name, offset);
    if (hub.commit && hub.commit !== model.commit) {
      await response.body?.cancel();
      await refuse(`the hub answered for commit ${hub.commit}, not ${model.commit}`);
    }
    if (hub.etag && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(hub.etag) && hub.etag !== expected(f)) {
      await response.body?.cancel();
      await refuse(`the hub's ETag ${hub.etag} disagrees with its file list (${expected(f)})`);
    }
    if (hub.size !== undefined && hub.size !== f.size) {
      await response.body?.cancel();
      await refuse(`the hub reports ${hub.size} bytes here and ${f.size} in its file list`);
    }
    if (response.status === 416 || (response.status === 200 && offset > 0)) {
      // The server cannot or will not resume: start over.
      await response.body?.cancel();
      await Deno.remove(partial).catch(() => {});
      offset = 0;
      h = verifier(f);
      if (response.status === 416) continue;
      attempt--;
      continue;
    }
    if (response.status === 206) {
      const start = Number(/bytes (\d+)-/.exec(response.headers.get("content-range") ?? "")?.[1]);
      if (start !== offset) {
        await response.body?.cancel();
        await refuse(`the server resumed at byte ${start}, not ${offset}`);
      }
    }
    using out = await Deno.open(partial, { write: true, create: true, append: true });
    try {
      for await (const chunk of response.body!) {
        if (offset + chunk.length > f.size) {
          await refuse(`the server sent more than the ${f.size} bytes the hub lists`);
        }
        let written = 0;
        while (written < chunk.length) written += await out.write(chunk.subarray(written));
        h.update(chunk);
        offset += chunk.length;
        opts.onBytes?.(chunk.length);
      }
    } catch (e) {
      if (e instanceof UserError) throw e;
      lastError = (e as Error).message.split("\n")[0];
    }
  }
  if (offset < f.size) {
    throw new UserError(
      `${where}: download interrupted at ${offset} of ${f.size} bytes (${
        lastError || "connection closed"
      }); run again to resume`,
    );
  }
  const got = h.digest("hex");
  if (got !== expected(f)) {
    await refuse(
      `the downloaded bytes have ${
        f.lfsSha256 ? "sha256" : "git blob sha1"
      } ${got}, the hub lists ${expected(f)}`,
    );
  }
  await Deno.rename(partial, blob);
}

/**
 * Make every file of `model` present in its snapshot folder, downloading (verified, resumable,
 * atomic) what the cache lacks. Offline, a missing file is a {@link UserError} naming it.
 * Resolves with every file's size and SHA-256 by name.
 */
export async function downloadHubModel(
  settings: HubSettings,
  model: HubModel,
  opts: DownloadOptions = {},
): Promise<Record<string, VerifiedFile>> {
  const blobsDir = join(model.repoDir, "blobs");
  const blobOf = (f: HubFile) => join(blobsDir, f.lfsSha256 ?? f.gitSha1);
  const missing: HubFile[] = [];
  for (const f of model.files) {
    if (await intact(join(model.snapshotDir, f.name), f)) continue;
    if (await intact(blobOf(f), f)) {
      await place(blobOf(f), join(model.snapshotDir, f.name));
      continue;
    }
    await Deno.remove(blobOf(f)).catch(() => {});
    missing.push(f);
  }
  if (missing.length > 0 && settings.offline) {
    throw new UserError(
      `hub file ${missing[0].name} of ${model.repo}@${
        model.commit.slice(0, 12)
      } is not in the model cache ${settings.modelsDir} and offline mode (--offline or HF_HUB_OFFLINE=1) forbids the download; run once online`,
    );
  }
  let todo = 0;
  for (const f of missing) todo += f.size - ((await size(`${blobOf(f)}.incomplete`)) ?? 0);
  opts.onStart?.(Math.max(0, todo), missing.length);
  const downloaded = new Set<string>();
  for (const f of missing) {
    await Deno.mkdir(blobsDir, { recursive: true });
    const lock = await acquireKeyLock(join(settings.modelsDir, ".locks"), f.lfsSha256 ?? f.gitSha1);
    try {
      if ((await size(blobOf(f))) !== f.size) {
        await fetchBlob(settings, model, f, blobOf(f), opts);
      }
    } finally {
      await lock.release();
    }
    await place(blobOf(f), join(model.snapshotDir, f.name));
    downloaded.add(f.name);
  }
  const out: Record<string, VerifiedFile> = {};
  for (const f of model.files) {
    out[f.name] = {
      bytes: f.size,
      sha256: f.lfsSha256 ?? await sha256File(join(model.snapshotDir, f.name)),
      gitSha1: f.gitSha1,
      downloaded: downloaded.has(f.name),
    };
  }
  return out;
}
