/**
 * A small client of the Hugging Face hub's HTTP protocol, enough to download a model revision and
 * verify it (the facts it relies on are those huggingface_hub's `file_download.py` and `hf_api.py`
 * rely on):
 *
 * - `GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true`: `sha` (the commit the
 *   revision resolves to) and `siblings` (`rfilename`, `size`, `blobId` = the git blob SHA-1, and
 *   for LFS files `lfs.sha256` / `lfs.size`).
 * - `GET {endpoint}/{repo}/resolve/{revision}/{file}`: small files come back directly with
 *   `ETag: "<git blob sha1>"`; LFS files are a redirect (to a CDN) whose hub response carries
 *   `X-Linked-Etag: "<sha256>"` and `X-Linked-Size`; both carry `X-Repo-Commit`. Redirects are
 *   followed here by hand so that those headers are seen and the token is never sent to another
 *   host. `Range: bytes=N-` resumes a download (206 Partial Content).
 *
 * Settings come from the environment as for huggingface_hub: `HF_ENDPOINT` (default
 * https://huggingface.co), `HF_TOKEN` (bearer token for gated or private repositories),
 * `HF_HUB_OFFLINE=1` (no network; `CONCEPT_ATLAS_OFFLINE=1`, set by `--offline`, too), and
 * `CONCEPT_ATLAS_MODELS` for the model cache (default `~/.cache/concept-atlas/models`).
 *
 * Why not transformers.js's hub client (`@huggingface/transformers`, src/utils/hub.js): it can be
 * pointed at another host (`env.remoteHost`), but it verifies no hash, cannot resume (no `Range`),
 * never reports the commit a revision resolved to (its file cache is keyed by `main`, so a moved
 * branch goes unnoticed), and sends `HF_TOKEN` only to huggingface.co / hf.co hosts.
 */
import { UserError } from "../pipeline/errors.ts";

/** Where and how to reach the hub, and where models are cached. */
export interface HubSettings {
  /** Base URL without a trailing slash, e.g. `https://huggingface.co`. */
  endpoint: string;
  /** Bearer token (`HF_TOKEN`), if any. */
  token?: string;
  /** Use the model cache only; never touch the network. */
  offline: boolean;
  /** Model cache folder. */
  modelsDir: string;
}

/** Truthy values of huggingface_hub's boolean environment variables. */
function envTrue(v: string | undefined): boolean {
  return ["1", "ON", "YES", "TRUE"].includes((v ?? "").trim().toUpperCase());
}

/** Hub settings from the environment (see the module comment). */
export function hubSettingsFromEnv(env: Deno.Env = Deno.env): HubSettings {
  const home = env.get("HOME");
  const modelsDir = env.get("CONCEPT_ATLAS_MODELS") ||
    (env.get("XDG_CACHE_HOME")
      ? `${env.get("XDG_CACHE_HOME")}/concept-atlas/models`
      : home
      ? `${home}/.cache/concept-atlas/models`
      : `${env.get("TMPDIR") ?? "/tmp"}/concept-atlas-models`);
  return {
    endpoint: (env.get("HF_ENDPOINT") || "https://huggingface.co").replace(/\/+$/, ""),
    token: env.get("HF_TOKEN") || undefined,
    offline: envTrue(env.get("HF_HUB_OFFLINE")) || envTrue(env.get("CONCEPT_ATLAS_OFFLINE")),
    modelsDir,
  };
}

/** One file of a revision as the hub reports it. */
export interface HubFile {
  /** Path in the repository, `/`-separated. */
  name: string;
  /** Size in bytes (of the real file, for LFS files). */
  size: number;
  /** Git blob SHA-1 (of the pointer file, for LFS files). */
  gitSha1: string;
  /** SHA-256 of the content, for LFS files. */
  lfsSha256?: string;
}

/** A revision resolved to its commit, with its files. */
export interface HubRevision {
  repo: string;
  /** The revision asked for (`main`, a tag, or a commit). */
  revision: string;
  /** 40-hex commit the revision resolved to. */
  commit: string;
  files: HubFile[];
}

/** True for a 40-hex git commit id. */
export function isCommitHash(s: string): boolean {
  return /^[0-9a-f]{40}$/.test(s);
}

function authHeaders(s: HubSettings): Record<string, string> {
  return s.token ? { Authorization: `Bearer ${s.token}` } : {};
}

/** `fetch` that turns a network failure into one clear {@link UserError}. */
async function request(s: HubSettings, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new UserError(
      `cannot reach the model hub at ${s.endpoint} (${
        (e as Error).message.split("\n")[0]
      }); check the network or HF_ENDPOINT, or use --offline with a filled model cache`,
    );
  }
}

/**
 * One-line error of a refused hub request: 401 (no or bad token / private / gated / absent
 * repository), 403 (token without access), 404 (no such repository, revision or file).
 */
export function hubStatusError(
  s: HubSettings,
  status: number,
  what: string,
  repo: string,
): UserError {
  if (status === 401) {
    return new UserError(
      `${what}: 401 Unauthorized from ${s.endpoint}: ${repo} is private or gated, or does not exist; ${
        s.token
          ? "the token in HF_TOKEN was refused: check it"
          : "set HF_TOKEN to a token that can read it"
      }`,
    );
  }
  if (status === 403) {
    return new UserError(
      `${what}: 403 Forbidden from ${s.endpoint}: the token in HF_TOKEN may not read ${repo}; for a gated model accept its terms at ${s.endpoint}/${repo} or use a token with read access`,
    );
  }
  if (status === 404) {
    return new UserError(
      `${what}: 404 Not Found on ${s.endpoint}; check embed.models[].hub and revision`,
    );
  }
  return new UserError(`${what}: HTTP ${status} from ${s.endpoint}; try again later`);
}

/**
 * Resolve `revision` of model `repo` to its commit and its files (sizes, git SHA-1s, LFS
 * SHA-256s) through the metadata API.
 */
export async function fetchRevision(
  s: HubSettings,
  repo: string,
  revision: string,
): Promise<HubRevision> {
  const url = `${s.endpoint}/api/models/${repo}/revision/${
    encodeURIComponent(revision)
  }?blobs=true`;
  const r = await request(s, url, { headers: { ...authHeaders(s), Accept: "application/json" } });
  const what = `hub model ${repo} revision ${revision}`;
  if (!r.ok) {
    await r.body?.cancel();
    throw hubStatusError(s, r.status, what, repo);
  }
  let j: { sha?: unknown; siblings?: unknown };
  try {
    j = await r.json();
  } catch {
    throw new UserError(`${what}: ${url} did not answer JSON; check HF_ENDPOINT`);
  }
  if (typeof j.sha !== "string" || !isCommitHash(j.sha) || !Array.isArray(j.siblings)) {
    throw new UserError(`${what}: ${url} gave no commit "sha" and "siblings"; check HF_ENDPOINT`);
  }
  const files: HubFile[] = j.siblings.map((x: Record<string, unknown>) => {
    const lfs = x.lfs as { sha256?: unknown; size?: unknown } | undefined;
    const size = typeof lfs?.size === "number" ? lfs.size : x.size;
    if (
      typeof x.rfilename !== "string" || typeof size !== "number" ||
      typeof x.blobId !== "string"
    ) {
      throw new UserError(
        `${what}: ${url} lists files without size and blob hash; cannot verify downloads from it`,
      );
    }
    return {
      name: x.rfilename,
      size,
      gitSha1: x.blobId,
      ...(typeof lfs?.sha256 === "string" ? { lfsSha256: lfs.sha256 } : {}),
    };
  });
  return { repo, revision, commit: j.sha, files };
}

/** What the hub said about a file it serves (from the first, hub-side response). */
export interface ResolveHeaders {
  /** `X-Repo-Commit`. */
  commit?: string;
  /** `X-Linked-Etag`, else `ETag`, without quotes and weak prefix. */
  etag?: string;
  /** `X-Linked-Size`, else `Content-Length` of a direct answer. */
  size?: number;
}

/** An ETag header value as a bare string (`W/"abc"` → `abc`). */
export function normalizeEtag(v: string | null): string | undefined {
  if (!v) return undefined;
  return v.replace(/^W\//, "").replace(/^"|"$/g, "");
}

/**
 * Open `GET {endpoint}/{repo}/resolve/{commit}/{file}` from byte `offset` (a `Range` request when
 * offset > 0), following redirects by hand (the token only goes to the hub's own origin). Resolves
 * with the final response (200, 206, or 416 when the range starts past the end; the caller reads
 * or cancels its body) and the hub's headers.
 */
export async function openResolve(
  s: HubSettings,
  repo: string,
  commit: string,
  file: string,
  offset: number,
): Promise<{ response: Response; hub: ResolveHeaders }> {
  const path = file.split("/").map(encodeURIComponent).join("/");
  let url = new URL(`${s.endpoint}/${repo}/resolve/${commit}/${path}`);
  const origin = url.origin;
  let hub: ResolveHeaders | null = null;
  for (let hop = 0; hop < 10; hop++) {
    const headers: Record<string, string> = { "Accept-Encoding": "identity" };
    if (url.origin === origin) Object.assign(headers, authHeaders(s));
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    const r = await request(s, url.href, { headers, redirect: "manual" });
    if (!hub || r.headers.get("x-repo-commit")) {
      const linked = r.headers.get("x-linked-size");
      const direct = r.status === 200 ? r.headers.get("content-length") : null;
      hub = {
        commit: r.headers.get("x-repo-commit") ?? undefined,
        etag: normalizeEtag(r.headers.get("x-linked-etag") ?? r.headers.get("etag")),
        size: linked ? Number(linked) : direct ? Number(direct) : undefined,
      };
    }
    if (r.status >= 300 && r.status < 400) {
      const loc = r.headers.get("location");
      await r.body?.cancel();
      if (!loc) throw new UserError(`hub file ${repo}/${file}: redirect without Location`);
      url = new URL(loc, url);
      continue;
    }
    if (r.status !== 200 && r.status !== 206 && r.status !== 416) {
      await r.body?.cancel();
      throw hubStatusError(s, r.status, `hub file ${file} of ${repo}@${commit}`, repo);
    }
    return { response: r, hub };
  }
  throw new UserError(`hub file ${repo}/${file}: more than 10 redirects; check HF_ENDPOINT`);
}
