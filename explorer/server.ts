/**
 * `deno task serve`: the explorer as a local web app on 127.0.0.1 (loopback only). Every request
 * goes through explorer/site.ts; unknown paths are 404; responses carry a Content-Security-Policy
 * that forbids loading anything from outside the server (COCO URLs stay links, never fetched).
 */
import { join } from "node:path";
import { UserError } from "../pipeline/errors.ts";
import { type Atlas, type Instance, loadAtlas } from "./atlas.ts";
import { conceptName, loadRunData } from "./run_data.ts";
import { reportOptionsSchema } from "./options.ts";
import { renderPath } from "./site.ts";
import type { SiteContext } from "./views/common.ts";

/** Options of {@link serveExplorer}. */
export interface ServeOptions {
  /** Cache folder of a pipeline run. */
  cache: string;
  /** TCP port (0: any free port). */
  port: number;
  /** Loopback host: `127.0.0.1` (default), `localhost` or `::1`; anything else is refused. */
  host?: string;
  /** Aborting it stops the server. */
  signal?: AbortSignal;
  /** Log sink (one line per call). */
  log?: (line: string) => void;
  /**
   * Free-text search through a text tower (main.ts passes tasks/text_query.ts `textQuery()`): the
   * activations (length c) of `text`, embedded with the embed instance's model and encoded
   * with the train instance's dictionary. Without it the search box finds labels and captions.
   */
  query?: TextQueryFn;
}

/** See {@link ServeOptions.query}. */
export type TextQueryFn = (embed: Instance, train: Instance, text: string) => Promise<Float32Array>;

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

/** Security headers of every response. */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

function notFound(): Response {
  return new Response("not found\n", {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS },
  });
}

/** Build the site context of an atlas for serving (every concept page exists). */
export function serverContext(atlas: Atlas, query?: TextQueryFn): SiteContext {
  const parsed = reportOptionsSchema.safeParse(atlas.config.report ?? {});
  if (query) {
    atlas.queryRuns = new Set(
      atlas.runs.filter((r) => r.dataset?.stage === "embed").map((r) => r.slug),
    );
  }
  return {
    atlas,
    options: parsed.success ? parsed.data : reportOptionsSchema.parse({}),
    hasConceptPage: () => true,
  };
}

function json(v: unknown, status = 200): Response {
  return new Response(JSON.stringify(v), {
    status,
    headers: { "content-type": "application/json", ...SECURITY_HEADERS },
  });
}

/**
 * `api/query?run=SLUG&q=TEXT[&top=N]`: the run's top concepts by the activation of the text's
 * embedding (`{results: [{concept, value, label}]}`), or `{available: false}` when the run's
 * space has no text tower in this server.
 */
async function answerQuery(
  ctx: SiteContext,
  url: URL,
  query: TextQueryFn | undefined,
  log: (line: string) => void,
): Promise<Response> {
  const run = ctx.atlas.bySlug.get(url.searchParams.get("run") ?? "");
  const text = (url.searchParams.get("q") ?? "").trim().slice(0, 500);
  const top = Math.min(50, Math.max(1, Number(url.searchParams.get("top")) || 10));
  if (!run) return json({ error: "unknown run" }, 404);
  if (!query || run.dataset?.stage !== "embed" || !ctx.atlas.queryRuns?.has(run.slug)) {
    return json({ available: false });
  }
  if (text === "") return json({ available: true, results: [] });
  try {
    const act = await query(run.dataset, run.train, text);
    const rd = await loadRunData(ctx.atlas, run);
    const order = [...act.keys()].filter((j) => act[j] > 0)
      .sort((a, b) => act[b] - act[a] || a - b).slice(0, top);
    return json({
      available: true,
      results: order.map((j) => ({ concept: j, value: act[j], label: conceptName(rd, j) })),
    });
  } catch (e) {
    log(`explorer: query: ${(e as Error).message}`);
    return json({ error: (e as Error).message }, 500);
  }
}

/** Site path of a request URL, or null when it cannot be decoded or climbs (`..`). */
export function requestPath(url: string): string | null {
  let raw: string;
  try {
    raw = new URL(url).pathname;
  } catch {
    return null;
  }
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return null;
  }
  if (path.includes("..") || path.includes("\\") || path.includes("\0")) return null;
  return path;
}

/**
 * Start the explorer. Resolves once listening, with its URL and a promise that settles when the
 * server has stopped (after `signal` aborts). The cache is re-read when `last_run.json` changes.
 */
export async function serveExplorer(
  opts: ServeOptions,
): Promise<{ url: string; finished: Promise<void> }> {
  const host = opts.host ?? "127.0.0.1";
  if (!LOOPBACK.has(host)) {
    throw new UserError(`--host ${host}: the explorer only listens on loopback; use 127.0.0.1`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new UserError(`--port ${opts.port}: must be an integer in 0..65535`);
  }
  const log = opts.log ?? (() => {});
  let ctx = serverContext(await loadAtlas(opts.cache), opts.query);
  const stamp = async () => {
    try {
      return (await Deno.stat(join(ctx.atlas.cache, "last_run.json"))).mtime?.getTime() ?? 0;
    } catch {
      return 0;
    }
  };
  let seen = await stamp();
  let listening: (port: number) => void;
  const ready = new Promise<number>((r) => (listening = r));
  const server = Deno.serve({
    hostname: host,
    port: opts.port,
    signal: opts.signal,
    onListen: ({ port }) => listening(port),
  }, async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: SECURITY_HEADERS });
    }
    const path = requestPath(req.url);
    if (path === null) return notFound();
    if (path === "/api/query") return await answerQuery(ctx, new URL(req.url), opts.query, log);
    const now = await stamp();
    if (now !== seen) {
      seen = now;
      try {
        ctx = serverContext(await loadAtlas(opts.cache), opts.query);
        log(`explorer: reloaded ${ctx.atlas.cache}`);
      } catch (e) {
        log(`explorer: reload failed: ${(e as Error).message}`);
      }
    }
    try {
      const res = await renderPath(ctx, path);
      if (!res) return notFound();
      return new Response(req.method === "HEAD" ? null : res.body as BodyInit, {
        headers: { "content-type": res.type, ...SECURITY_HEADERS },
      });
    } catch (e) {
      log(`explorer: ${path}: ${(e as Error).message}`);
      return new Response(`error: ${(e as Error).message}\n`, {
        status: 500,
        headers: { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS },
      });
    }
  });
  const port = await ready;
  const url = `http://${host === "::1" ? "[::1]" : host}:${port}/`;
  log(`explorer: ${ctx.atlas.runs.length} runs from ${ctx.atlas.cache} at ${url}`);
  return { url, finished: server.finished };
}
