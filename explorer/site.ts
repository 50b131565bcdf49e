/**
 * The explorer's routes, shared by the server and the static report: a site path (relative,
 * `/`-separated, already URL-decoded) maps to a response or to null (404). Only known runs,
 * concepts, artifact files listed by a manifest and image files inside the dataset folders are
 * ever read; any other path, `..` segment, absolute path or odd character is a 404.
 */
import { extname, join } from "node:path";
import { APP_JS, FAVICON_SVG, STYLE_CSS } from "./assets.ts";
import { loadRunData } from "./run_data.ts";
import { IMAGE_TYPES, isInside, resolveImageFile } from "./media.ts";
import { overviewPage, paretoSvg } from "./views/overview.ts";
import { modalityHistogramSvg, nullModalityScores, runPage, stabilitySvg } from "./views/run.ts";
import { conceptsCsv, conceptsJson, conceptTablePage } from "./views/concept_table.ts";
import { conceptPage } from "./views/concept_page.ts";
import { bridgesPage } from "./views/bridges.ts";
import { mapPage, mapScript, mapSvg } from "./views/map.ts";
import { rootOf } from "./html.ts";
import { comparePage, compareParetoSvg } from "./views/compare.ts";
import { searchScript } from "./search_index.ts";
import { thumbnailOf } from "./thumbnail.ts";
import type { Run } from "./atlas.ts";
import type { SiteContext } from "./views/common.ts";

/** A rendered response. */
export interface SiteResponse {
  type: string;
  body: string | Uint8Array;
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Split a site path into safe segments, or null: every segment must be a plain name (letters,
 * digits, `_`, `-`, `.`, not starting with `.`), so `..`, `.`, empty segments, backslashes,
 * NUL, `%` leftovers and absolute paths are all refused.
 */
export function safeSegments(path: string): string[] | null {
  if (path === "" || path === "/") return ["index.html"];
  if (!path.startsWith("/")) return null;
  const segs = path.slice(1).split("/");
  if (segs[segs.length - 1] === "") segs[segs.length - 1] = "index.html";
  for (const s of segs) if (!SEGMENT.test(s) || s.length > 200) return null;
  return segs;
}

const HTML = "text/html; charset=utf-8";
const SVG = "image/svg+xml";

/** Render the response of a site path (`/runs/x/index.html`), or null for 404. */
export async function renderPath(ctx: SiteContext, path: string): Promise<SiteResponse | null> {
  const segs = safeSegments(path);
  if (!segs) return null;
  const atlas = ctx.atlas;
  const rel = segs.join("/");
  if (rel === "index.html") return { type: HTML, body: await overviewPage(ctx) };
  if (rel === "assets/style.css") return { type: "text/css; charset=utf-8", body: STYLE_CSS };
  if (rel === "assets/app.js") return { type: "text/javascript; charset=utf-8", body: APP_JS };
  if (rel === "assets/favicon.svg") return { type: SVG, body: FAVICON_SVG };
  if (rel === "favicon.ico") return { type: SVG, body: FAVICON_SVG };
  if (rel === "figures/pareto.svg") {
    return { type: SVG, body: (await paretoSvg(atlas, rootOf(rel))).svg };
  }
  // The comparison of several embedding spaces (explorer/views/compare.ts).
  if (rel === "compare.html") return { type: HTML, body: await comparePage(ctx) };
  if (rel === "figures/compare_pareto.svg") {
    const svg = await compareParetoSvg(ctx);
    return svg ? { type: SVG, body: svg } : null;
  }
  if (segs[0] === "files" && segs.length >= 4) return await artifactFile(ctx, segs);
  if (segs[0] !== "runs" || segs.length < 3) return null;
  const run = atlas.bySlug.get(segs[1]);
  if (!run) return null;
  const rest = segs.slice(2).join("/");
  switch (rest) {
    case "index.html":
      return { type: HTML, body: await runPage(ctx, run) };
    case "concepts.html":
      return { type: HTML, body: await conceptTablePage(ctx, run) };
    case "map.html":
      return { type: HTML, body: await mapPage(ctx, run) };
    case "bridges.html":
      return { type: HTML, body: await bridgesPage(ctx, run) };
    case "data/concepts.json":
      return { type: "application/json", body: conceptsJson(ctx, await loadRunData(atlas, run)) };
    case "data/map.js":
      return {
        type: "text/javascript; charset=utf-8",
        body: mapScript(ctx, await loadRunData(atlas, run)),
      };
    case "data/search.js":
      return {
        type: "text/javascript; charset=utf-8",
        body: searchScript(ctx, await loadRunData(atlas, run)),
      };
    case "data/concepts.csv":
      return { type: "text/csv; charset=utf-8", body: conceptsCsv(await loadRunData(atlas, run)) };
    case "figures/modality_histogram.svg":
      return {
        type: SVG,
        body: modalityHistogramSvg(
          atlas,
          await loadRunData(atlas, run),
          await nullModalityScores(run),
        ),
      };
    case "figures/stability.svg":
      return { type: SVG, body: stabilitySvg(ctx, await loadRunData(atlas, run), rootOf(rel)) };
    case "figures/map.svg":
      return { type: SVG, body: mapSvg(ctx, await loadRunData(atlas, run), rootOf(rel)) };
  }
  let m = /^concepts\/(0|[1-9][0-9]{0,8})\.html$/.exec(rest);
  if (m) {
    const j = Number(m[1]);
    const rd = await loadRunData(atlas, run);
    if (j >= rd.c || !ctx.hasConceptPage(run, j)) return null;
    return { type: HTML, body: await conceptPage(ctx, run, j) };
  }
  m = /^thumbs\/(0|[1-9][0-9]{0,9})\.jpg$/.exec(rest);
  if (m) {
    const file = await imageFileOf(ctx, run, Number(m[1]));
    if (!file) return null;
    const bytes = await thumbnailOf(file, join(atlas.cache, ".explorer", "thumbs"));
    return bytes ? { type: "image/jpeg", body: bytes } : null;
  }
  m = /^media\/(0|[1-9][0-9]{0,9})(\.[a-z]+)$/.exec(rest);
  if (m) {
    const file = await imageFileOf(ctx, run, Number(m[1]));
    if (!file || extname(file).toLowerCase() !== m[2]) return null;
    return { type: IMAGE_TYPES[m[2]], body: await Deno.readFile(file) };
  }
  return null;
}

/** The checked local image file of eval row `row` of `run` (explorer/media.ts), or null. */
async function imageFileOf(ctx: SiteContext, run: Run, row: number): Promise<string | null> {
  const rd = await loadRunData(ctx.atlas, run);
  if (!rd.rows || row >= rd.rows.n || rd.rows.isImage[row] !== 1) return null;
  return await resolveImageFile(rd.rows.source[row], ctx.atlas.datasetFolders);
}

/** `files/<stage>/<key>/<name...>`: an artifact listed by that instance's manifest. */
async function artifactFile(ctx: SiteContext, segs: string[]): Promise<SiteResponse | null> {
  const [, stage, key, ...name] = segs;
  const inst = ctx.atlas.byKey.get(key);
  const file = name.join("/");
  if (!inst || inst.stage !== stage || !(inst.files.includes(file) || file === "manifest.json")) {
    return null;
  }
  let real: string, root: string;
  try {
    real = await Deno.realPath(join(inst.dir, file));
    root = await Deno.realPath(ctx.atlas.cache);
  } catch {
    return null;
  }
  if (!isInside(root, real) || !(await Deno.stat(real)).isFile) return null;
  const types: Record<string, string> = {
    ".json": "application/json",
    ".svg": SVG,
    ".parquet": "application/vnd.apache.parquet",
    ".safetensors": "application/octet-stream",
  };
  return {
    type: types[extname(file)] ?? "application/octet-stream",
    body: await Deno.readFile(real),
  };
}
