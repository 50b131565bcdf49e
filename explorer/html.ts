/**
 * HTML building blocks shared by every view: escaping, number formatting, the page frame (nav,
 * run selector), provenance lines and relative links. Pages use relative links only, so the same
 * HTML works from the server and from a static folder.
 */
import type { Atlas, Instance, Run } from "./atlas.ts";
import { atlasSpaces } from "./spaces.ts";

/** Escape text for HTML element content and double-quoted attributes. */
export function esc(s: unknown): string {
  return String(s ?? "").replace(
    /[&<>"']/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!,
  );
}

/** A number for display: 4 significant digits, `–` for NaN / null. */
export function fmt(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (v === 0) return "0";
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(digits)));
  return v.toExponential(digits - 1);
}

/** Prefix that climbs from a page at `path` (e.g. `runs/x/concepts/3.html`) to the site root. */
export function rootOf(path: string): string {
  return "../".repeat(path.split("/").length - 1);
}

/** Where a figure or table comes from: dataset, stage keys, seeds, code version. */
export interface Provenance {
  dataset?: Instance;
  stages: (Instance | undefined)[];
  seeds?: Record<string, unknown>;
  codeVersion: string;
}

/** Seeds that determine a run: dataset seed and split seed, diet seed, train seed. */
export function runSeeds(run: Run): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const ds = run.dataset?.params ?? {};
  if (ds.seed !== undefined) out.dataset = ds.seed;
  if (ds.splitSeed !== undefined) out.split = ds.splitSeed;
  if (run.diet?.params.seed !== undefined) out.diet = run.diet.params.seed;
  if (run.train.params.seed !== undefined) out.train = run.train.params.seed;
  return out;
}

/** Provenance of a run's artifact made by `stages`. */
export function runProvenance(
  atlas: Atlas,
  run: Run,
  stages: (Instance | undefined)[],
): Provenance {
  return { dataset: run.dataset, stages, seeds: runSeeds(run), codeVersion: atlas.codeVersion };
}

/** Provenance as one plain-text line (for SVG captions and data files). */
export function provenanceText(p: Provenance): string {
  const parts: string[] = [];
  if (p.dataset) {
    parts.push(`dataset ${datasetName(p.dataset)} (key ${p.dataset.key.slice(0, 12)})`);
  }
  const st = p.stages.filter((s): s is Instance => !!s);
  if (st.length) {
    parts.push(`stages ${st.map((s) => `${s.stage} ${s.key.slice(0, 12)}`).join(", ")}`);
  }
  const seeds = Object.entries(p.seeds ?? {});
  if (seeds.length) parts.push(`seeds ${seeds.map(([k, v]) => `${k}=${v}`).join(" ")}`);
  parts.push(`code ${p.codeVersion}`);
  return parts.join(" · ");
}

/** Provenance in a few words: dataset, how many stages, code version. */
export function provenanceShort(p: Provenance): string {
  const n = p.stages.filter((s) => !!s).length;
  return [
    p.dataset ? `dataset ${datasetName(p.dataset)}` : "",
    n ? `${n} stage${n === 1 ? "" : "s"}` : "",
    `code ${p.codeVersion}`,
  ].filter(Boolean).join(" · ");
}

/**
 * Provenance as an HTML block: one short line (dataset, stage count, code version) that expands
 * to the dataset key, every stage key (ids in tooltips) and the seeds.
 */
export function provenanceHtml(p: Provenance): string {
  const st = p.stages.filter((s): s is Instance => !!s);
  const seeds = Object.entries(p.seeds ?? {});
  return `<details class="prov"><summary>Provenance: ${esc(provenanceShort(p))}</summary><p>${
    p.dataset
      ? `dataset <span class="dataset" title="${esc(p.dataset.id)}">${
        esc(datasetName(p.dataset))
      }</span> <code>${esc(p.dataset.key.slice(0, 12))}</code> · `
      : ""
  }${
    st.length
      ? `stage keys ${
        st.map((s) =>
          `<span class="stage-key" title="${esc(s.id)}">${esc(s.stage)} <code>${
            esc(s.key.slice(0, 12))
          }</code></span>`
        ).join(", ")
      } · `
      : ""
  }${
    seeds.length ? `seeds ${esc(seeds.map(([k, v]) => `${k}=${v}`).join(" "))} · ` : ""
  }code <code class="code-version">${esc(p.codeVersion)}</code></p></details>`;
}

/** Short name of a dataset instance: its kind and source file or world. */
export function datasetName(ds: Instance): string {
  const p = ds.params;
  const kind = String(p.kind ?? ds.id);
  const path = typeof p.path === "string" && p.path
    ? p.path.split("/").filter(Boolean).slice(-2).join("/")
    : "";
  return path ? `${kind}: ${path}` : kind;
}

/** The page frame. `path` is the page's own site path (for relative links). */
export function page(opts: {
  atlas: Atlas;
  path: string;
  title: string;
  body: string;
  run?: Run;
  /** The current view inside the run folder (e.g. `concepts.html`), for the run selector. */
  view?: string;
}): string {
  const root = rootOf(opts.path);
  const run = opts.run;
  const runNav = run
    ? ` · <a href="${root}runs/${run.slug}/index.html">Run</a> · <a href="${root}runs/${run.slug}/concepts.html">Concepts</a> · <a href="${root}runs/${run.slug}/map.html">Map</a> · <a href="${root}runs/${run.slug}/bridges.html">Bridges</a>`
    : "";
  const options = opts.atlas.runs.map((r) =>
    `<option value="${esc(r.slug)}"${r === run ? " selected" : ""}>${esc(r.label)}</option>`
  ).join("");
  const selector = opts.atlas.runs.length
    ? `<label class="run-select">run <select id="run-select" data-root="${root}" data-view="${
      esc(opts.view ?? "index.html")
    }">${run ? "" : '<option value="">(choose a run)</option>'}${options}</select></label>`
    : "";
  // Studies of several spaces: a space selector (each space's main run) and the comparison page.
  const spaces = atlasSpaces(opts.atlas);
  const spaceNav = spaces.length
    ? ` <span class="space-select">space ${
      spaces.map((s) =>
        `<a class="space${run?.space === s.name ? " current" : ""}" data-space="${
          esc(s.name)
        }" href="${root}runs/${s.main.slug}/index.html">${esc(s.name)}</a>`
      ).join(" ")
    } · <a class="compare" href="${root}compare.html">Compare</a></span>`
    : "";
  const searchRun = run ?? opts.atlas.primary ?? opts.atlas.runs[0];
  const query = !!searchRun && !!opts.atlas.queryRuns?.has(searchRun.slug);
  const search = searchRun
    ? `<span class="search"><input type="search" id="search-box" placeholder="search concepts (label, caption${
      query ? ", any text" : ""
    })" autocomplete="off" aria-label="search concepts" data-root="${root}" data-run="${
      esc(searchRun.slug)
    }"${query ? ' data-query="1"' : ""}><span id="search-results" hidden></span></span>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(opts.title)} — Concept Atlas</title>
<link rel="stylesheet" href="${root}assets/style.css">
<link rel="icon" href="${root}assets/favicon.svg" type="image/svg+xml">
</head><body>
<nav><a href="${root}index.html"><b>Concept Atlas</b></a>${runNav}${spaceNav} ${search} ${selector}</nav>
<main>
<h1>${esc(opts.title)}</h1>
${opts.body}
</main>
<script src="${root}assets/app.js"></script>
</body></html>
`;
}

/** An inline SVG figure (the XML prolog, if any, removed) with its provenance below it. */
export function figure(svg: string, prov: Provenance, id: string, download?: string): string {
  const inline = svg.replace(/^<\?xml[^>]*>\s*/, "");
  return `<figure id="${esc(id)}">${inline}<figcaption>${provenanceHtml(prov)}${
    download ? ` <a class="download" href="${esc(download)}">SVG</a>` : ""
  }</figcaption></figure>`;
}

/** A simple table: headers and rows of already-escaped HTML cells. */
export function table(headers: string[], rows: string[][], attrs = ""): string {
  return `<table ${attrs}><thead><tr>${
    headers.map((h) => `<th>${h}</th>`).join("")
  }</tr></thead><tbody>${
    rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")
  }</tbody></table>`;
}
