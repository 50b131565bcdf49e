/**
 * The model cache (`$CONCEPT_ATLAS_MODELS`, default `~/.cache/concept-atlas/models`), laid out as
 * huggingface_hub lays out its own:
 *
 * ```
 * models--ORG--NAME/
 *   refs/<revision>             the commit a branch or tag last resolved to
 *   revisions/<commit>.json     the files of that commit (sizes, git SHA-1s, LFS SHA-256s)
 *   blobs/<sha256 | git sha1>   verified file contents (written whole, by rename)
 *   snapshots/<commit>/<file>   the model folder of a commit (hard links to the blobs)
 * ```
 *
 * {@link resolveHubModel} turns `hub` + `revision` into a commit and the files the preset needs
 * (one metadata request; none for a cached commit or offline).
 */
import { join } from "node:path";
import { UserError } from "../pipeline/errors.ts";
import { writeTextAtomic } from "../pipeline/cache.ts";
import { chooseModelFiles } from "./model_folder.ts";
import {
  fetchRevision,
  type HubFile,
  type HubRevision,
  type HubSettings,
  isCommitHash,
} from "./hub_client.ts";

/** A model of the hub resolved to a commit: the files a run reads and where they will lie. */
export interface HubModel {
  repo: string;
  revision: string;
  commit: string;
  /** The files the preset needs (ONNX first, then JSON), as the hub reports them. */
  files: HubFile[];
  /** The cache folder of the repository. */
  repoDir: string;
  /** The model folder of the commit (files appear there once downloaded). */
  snapshotDir: string;
}

/** Cache folder of a repository: `models--ORG--NAME`. */
export function repoCacheDir(modelsDir: string, repo: string): string {
  return join(modelsDir, `models--${repo.replaceAll("/", "--")}`);
}

/** The snapshot (model folder) of a commit. */
export function snapshotDir(modelsDir: string, repo: string, commit: string): string {
  return join(repoCacheDir(modelsDir, repo), "snapshots", commit);
}

async function readCachedRevision(repoDir: string, commit: string): Promise<HubRevision | null> {
  try {
    return JSON.parse(await Deno.readTextFile(join(repoDir, "revisions", `${commit}.json`)));
  } catch {
    return null;
  }
}

async function readRef(repoDir: string, revision: string): Promise<string | null> {
  try {
    const c = (await Deno.readTextFile(join(repoDir, "refs", encodeURIComponent(revision)))).trim();
    return isCommitHash(c) ? c : null;
  } catch {
    return null;
  }
}

/**
 * Resolve `repo` at `revision` to a commit and the files the preset needs (`variant`: quantised
 * ONNX suffix). Online, a branch or tag costs one metadata request (and is remembered in
 * `refs/`); a commit already in the cache costs none. Offline (`settings.offline`), only the
 * cache is read: an unknown revision is a {@link UserError}.
 */
export async function resolveHubModel(
  settings: HubSettings,
  repo: string,
  revision: string,
  variant?: string,
): Promise<HubModel> {
  const repoDir = repoCacheDir(settings.modelsDir, repo);
  let rev: HubRevision | null = null;
  const pinned = isCommitHash(revision) ? revision : null;
  if (pinned) rev = await readCachedRevision(repoDir, pinned);
  if (!rev && settings.offline) {
    const commit = pinned ?? await readRef(repoDir, revision);
    if (commit) rev = await readCachedRevision(repoDir, commit);
    if (!rev) {
      throw new UserError(
        `hub model ${repo}@${revision} is not in the model cache ${settings.modelsDir} and offline mode (--offline or HF_HUB_OFFLINE=1) forbids the download; run once online`,
      );
    }
  }
  if (!rev) {
    rev = await fetchRevision(settings, repo, revision);
    await writeTextAtomic(join(repoDir, "revisions", `${rev.commit}.json`), JSON.stringify(rev));
    if (!isCommitHash(revision)) {
      await writeTextAtomic(join(repoDir, "refs", encodeURIComponent(revision)), rev.commit);
    }
  }
  const byName = new Map(rev.files.map((f) => [f.name, f]));
  const choice = chooseModelFiles((n) => byName.has(n), {
    variant,
    where: `hub model ${repo}@${revision}: `,
  });
  const files = choice.files.map((n) => {
    const f = byName.get(n);
    if (!f) {
      throw new UserError(
        `hub model ${repo}@${revision}: ${n}: missing; the repository is not a transformers.js model folder (see docs/models.md)`,
      );
    }
    return f;
  });
  return {
    repo,
    revision,
    commit: rev.commit,
    files,
    repoDir,
    snapshotDir: snapshotDir(settings.modelsDir, repo, rev.commit),
  };
}

/** The digest a file enters the key with: `sha256:<hex>` for LFS files, else `git-sha1:<hex>`. */
export function hubFileDigest(f: HubFile): string {
  return f.lfsSha256 ? `sha256:${f.lfsSha256}` : `git-sha1:${f.gitSha1}`;
}
