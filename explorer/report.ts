/**
 * `deno task report`: the explorer's views written as a self-contained static folder (HTML, data
 * files as JSON/CSV, SVG figures, the images shown), relative links only, hostable as plain
 * files. Concept pages: the `report.conceptPages` highest-energy concepts of each run (links to
 * other concepts are plain text).
 */
import { dirname, join, resolve } from "node:path";
import { UserError } from "../pipeline/errors.ts";
import { type Atlas, loadAtlas, type Run } from "./atlas.ts";
import { type ReportOptions, reportOptionsSchema } from "./options.ts";
import { loadRunData } from "./run_data.ts";
import { renderPath } from "./site.ts";
import { compareInstance } from "./spaces.ts";
import type { SiteContext } from "./views/common.ts";

/** Options of {@link buildReport}. */
export interface ReportBuildOptions {
  cache: string;
  /** Output folder: created, or replaced when it holds an earlier report. */
  out: string;
  log?: (line: string) => void;
}

/** Marker file that identifies a folder written by {@link buildReport}. */
export const REPORT_MARKER = ".concept-atlas-report";

/** Report options of the atlas config (`report` section), validated. */
export function reportOptionsOf(atlas: Atlas): ReportOptions {
  const r = reportOptionsSchema.safeParse(atlas.config.report ?? {});
  if (!r.success) {
    throw new UserError(
      `report section of the last run's config: ${
        r.error.issues[0]?.message
      }; fix the config and re-run`,
    );
  }
  return r.data;
}

/** Concepts of `run` that get a page: the `n` highest-energy ones (all when n = 0). */
async function conceptSelection(atlas: Atlas, run: Run, n: number): Promise<Set<number>> {
  const rd = await loadRunData(atlas, run);
  const all = [...Array(rd.c).keys()];
  if (n === 0 || n >= rd.c) return new Set(all);
  const e = rd.columns.energy;
  const key = (j: number) => (e && Number.isFinite(e[j]) ? e[j] : -1);
  return new Set(all.sort((a, b) => key(b) - key(a) || a - b).slice(0, n));
}

async function prepareOut(out: string): Promise<void> {
  let entries = 0;
  try {
    for await (const _ of Deno.readDir(out)) entries++;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      await Deno.mkdir(out, { recursive: true });
      return;
    }
    throw new UserError(`--out ${out}: cannot read the folder (${(e as Error).message})`);
  }
  if (entries === 0) return;
  try {
    await Deno.stat(join(out, REPORT_MARKER));
  } catch {
    throw new UserError(
      `--out ${out}: the folder is not empty and holds no earlier report; choose an empty or new folder`,
    );
  }
  await Deno.remove(out, { recursive: true });
  await Deno.mkdir(out, { recursive: true });
}

/** Write the static report of `cache` into `out`; returns the number of files written. */
export async function buildReport(
  opts: ReportBuildOptions,
): Promise<{ files: number; out: string }> {
  const log = opts.log ?? (() => {});
  const atlas = await loadAtlas(opts.cache);
  const options = reportOptionsOf(atlas);
  const out = resolve(opts.out);
  if (out === atlas.cache || out.startsWith(atlas.cache + "/")) {
    throw new UserError(`--out ${opts.out}: must not lie inside the cache folder`);
  }
  const runs = atlas.runs.filter((r) =>
    options.runs.length === 0 || options.runs.some((s) => r.label.includes(s))
  );
  const pages = new Map<Run, Set<number>>();
  for (const run of runs) pages.set(run, await conceptSelection(atlas, run, options.conceptPages));
  const media = new Map<string, string>();
  const ctx: SiteContext = {
    atlas,
    options,
    hasConceptPage: (run, j) => pages.get(run)?.has(j) ?? false,
    onMedia: (_run, _row, file, sitePath) => media.set(sitePath, file),
  };
  // Runs left out of the report are not listed either (the selector would point nowhere).
  const shown: Atlas = { ...atlas, runs, bySlug: new Map(runs.map((r) => [r.slug, r])) };
  ctx.atlas = shown;
  await prepareOut(out);
  let files = 0;
  const write = async (rel: string, body: string | Uint8Array) => {
    const path = join(out, rel);
    await Deno.mkdir(dirname(path), { recursive: true });
    if (typeof body === "string") await Deno.writeTextFile(path, body);
    else await Deno.writeFile(path, body);
    files++;
  };
  const emit = async (rel: string) => {
    const res = await renderPath(ctx, `/${rel}`);
    if (!res) throw new Error(`report: no page for ${rel}`);
    await write(rel, res.body);
  };
  for (
    const rel of [
      "index.html",
      "assets/style.css",
      "assets/app.js",
      "assets/favicon.svg",
      "figures/pareto.svg",
      ...(compareInstance(atlas) ? ["compare.html"] : []),
    ]
  ) {
    await emit(rel);
  }
  for (const run of runs) {
    const base = `runs/${run.slug}`;
    for (
      const v of [
        "index.html",
        "concepts.html",
        "map.html",
        "bridges.html",
        "data/concepts.json",
        "data/concepts.csv",
        "data/search.js",
        "data/map.js",
        "figures/modality_histogram.svg",
        "figures/stability.svg",
        "figures/map.svg",
      ]
    ) await emit(`${base}/${v}`);
    const selected = [...pages.get(run)!].sort((a, b) => a - b);
    for (const j of selected) await emit(`${base}/concepts/${j}.html`);
    log(`report: ${run.label}: ${selected.length} concept pages`);
  }
  // Local images and their thumbnails, through the same checked routes as the server.
  for (const rel of media.keys()) await emit(rel);
  await write(REPORT_MARKER, `Concept Atlas static report of ${atlas.cache}\n`);
  log(`report: ${files} files in ${out}`);
  return { files, out };
}
