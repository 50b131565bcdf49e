/**
 * A local stand-in for the Hugging Face hub (Deno.serve on 127.0.0.1, port 0) speaking the URL
 * layout and headers the hub client relies on, over model folders the tests build:
 *
 * - `GET /api/models/{org}/{name}/revision/{rev}?blobs=true` → `{id, sha, siblings: [{rfilename,
 *   size, blobId, lfs?: {sha256, size, pointerSize}}]}`
 * - `GET /{org}/{name}/resolve/{rev}/{file}`: small files directly (`ETag: "<git blob sha1>"`);
 *   `*.onnx` as LFS files: `302` to `/cdn/<sha256>` with `X-Linked-Etag`, `X-Linked-Size`; both
 *   with `X-Repo-Commit`.
 * - `GET /cdn/<sha256>`: the bytes, honouring `Range: bytes=N-` (206).
 *
 * Faults for the tests: a status for every request (`status`), a token requirement, corrupted
 * bytes for one file, a connection dropped halfway through one file's body (once). Every request
 * is recorded.
 */
import { createHash } from "node:crypto";

/** One recorded request. */
export interface HubRequest {
  method: string;
  path: string;
  range: string | null;
  auth: string | null;
}

/** A served file. */
interface Served {
  bytes: Uint8Array;
  lfs: boolean;
  gitSha1: string;
  sha256: string;
}

/** Git blob SHA-1 of bytes: sha1("blob <size>\0" + bytes). */
export function gitBlobSha1(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A running fake hub. */
export interface FakeHub {
  /** `http://127.0.0.1:PORT` (use as HF_ENDPOINT). */
  endpoint: string;
  /** Every request so far. */
  requests: HubRequest[];
  /** Publish a new commit of `repo` with these files (name → bytes); `main` points to it. */
  publish(repo: string, files: Record<string, Uint8Array>): string;
  /** Answer every request with this status (null: normal service). */
  status: number | null;
  /** When set, requests need `Authorization: Bearer <token>` (401 without, 403 with another). */
  token: string | null;
  /** Serve these files' bytes with one byte flipped. */
  corrupt: Set<string>;
  /** Drop the connection halfway through the body of these files, once each. */
  dropOnce: Set<string>;
  close(): Promise<void>;
}

/** Start a fake hub on 127.0.0.1 (a free port). */
export function startFakeHub(): FakeHub {
  const commits = new Map<string, Map<string, Served>>(); // commit → files
  const refs = new Map<string, string>(); // `${repo}@${rev}` → commit
  const repos = new Map<string, string>(); // commit → repo
  const bySha = new Map<string, { name: string; served: Served }>();
  const hub: FakeHub = {
    endpoint: "",
    requests: [],
    status: null,
    token: null,
    corrupt: new Set(),
    dropOnce: new Set(),
    publish(repo, files) {
      const m = new Map<string, Served>();
      for (const [name, bytes] of Object.entries(files)) {
        const s: Served = {
          bytes,
          lfs: name.endsWith(".onnx"),
          gitSha1: gitBlobSha1(bytes),
          sha256: sha256(bytes),
        };
        m.set(name, s);
        bySha.set(s.sha256, { name, served: s });
      }
      const listing = [...m.entries()].map(([n, s]) => `${n}:${s.sha256}`).sort().join("\n");
      const commit = createHash("sha1").update(`${repo}\n${commits.size}\n${listing}`).digest(
        "hex",
      );
      commits.set(commit, m);
      repos.set(commit, repo);
      refs.set(`${repo}@main`, commit);
      return commit;
    },
    async close() {
      await server.shutdown();
    },
  };
  const resolveRev = (repo: string, rev: string): string | null => {
    if (repos.get(rev) === repo) return rev;
    return refs.get(`${repo}@${rev}`) ?? null;
  };
  const bytesOf = (name: string, s: Served): Uint8Array => {
    if (!hub.corrupt.has(name)) return s.bytes;
    const b = s.bytes.slice();
    b[b.length >> 1] ^= 0xff;
    return b;
  };
  const body = (name: string, bytes: Uint8Array, start: number): BodyInit => {
    const rest = bytes.subarray(start);
    if (!hub.dropOnce.has(name)) return rest.slice();
    hub.dropOnce.delete(name);
    const half = rest.length >> 1;
    return new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(rest.slice(0, half));
        await new Promise((r) => setTimeout(r, 50));
        c.error(new Error("connection dropped by the test hub"));
      },
    });
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    const path = decodeURIComponent(url.pathname);
    hub.requests.push({
      method: req.method,
      path: url.pathname + url.search,
      range: req.headers.get("range"),
      auth: req.headers.get("authorization"),
    });
    if (hub.status !== null) return new Response("refused", { status: hub.status });
    if (hub.token !== null) {
      const auth = req.headers.get("authorization");
      if (!auth) return new Response("unauthorized", { status: 401 });
      if (auth !== `Bearer ${hub.token}`) return new Response("forbidden", { status: 403 });
    }
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path);
    if (m) {
      const commit = resolveRev(m[1], m[2]);
      if (!commit) return new Response("not found", { status: 404 });
      const siblings = [...commits.get(commit)!.entries()].map(([name, s]) => ({
        rfilename: name,
        size: s.bytes.length,
        blobId: s.lfs ? gitBlobSha1(new TextEncoder().encode(`oid sha256:${s.sha256}`)) : s.gitSha1,
        ...(s.lfs ? { lfs: { sha256: s.sha256, size: s.bytes.length, pointerSize: 134 } } : {}),
      }));
      return Response.json({ id: m[1], sha: commit, siblings });
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (m) {
      const commit = resolveRev(m[1], m[2]);
      const s = commit ? commits.get(commit)!.get(m[3]) : undefined;
      if (!commit || !s) return new Response("not found", { status: 404 });
      if (s.lfs) {
        return new Response(null, {
          status: 302,
          headers: {
            Location: `/cdn/${s.sha256}`,
            "X-Repo-Commit": commit,
            "X-Linked-Etag": `"${s.sha256}"`,
            "X-Linked-Size": String(s.bytes.length),
            ETag: `"${gitBlobSha1(new TextEncoder().encode(`oid sha256:${s.sha256}`))}"`,
          },
        });
      }
      return new Response(body(m[3], bytesOf(m[3], s), 0), {
        headers: {
          "X-Repo-Commit": commit,
          ETag: `"${s.gitSha1}"`,
          "Content-Length": String(s.bytes.length),
        },
      });
    }
    m = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (m && bySha.has(m[1])) {
      const { name, served } = bySha.get(m[1])!;
      const bytes = bytesOf(name, served);
      const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
      const start = range ? Number(range[1]) : 0;
      if (start >= bytes.length && bytes.length > 0) {
        return new Response(null, { status: 416 });
      }
      return new Response(body(name, bytes, start), {
        status: range ? 206 : 200,
        headers: {
          "Content-Length": String(bytes.length - start),
          ...(range
            ? { "Content-Range": `bytes ${start}-${bytes.length - 1}/${bytes.length}` }
            : {}),
        },
      });
    }
    return new Response("not found", { status: 404 });
  });
  hub.endpoint = `http://127.0.0.1:${server.addr.port}`;
  return hub;
}

/** Every file under a folder (name → bytes), for publishing a model folder the tests built. */
export async function readFolder(dir: string, sub = ""): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for await (const e of Deno.readDir(sub ? `${dir}/${sub}` : dir)) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory) Object.assign(out, await readFolder(dir, rel));
    else out[rel] = await Deno.readFile(`${dir}/${rel}`);
  }
  return out;
}
