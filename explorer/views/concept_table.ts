/**
 * The concept table (`runs/<slug>/concepts.html`): one row per concept — its number, its label
 * (labels stage) — with every per-concept
 * column the run has (energy, frequency, modality score, stability, projection on each modality
 * subspace, classifier AUROC, bridge mass), sortable by clicking a header and filterable by
 * min/max per column (assets/app.js); dead concepts are hidden until "show dead concepts" is
 * ticked. Also the same data as JSON and CSV files.
 */
import type { Run } from "../atlas.ts";
import { esc, fmt, page, provenanceHtml, provenanceText, rootOf } from "../html.ts";
import { isDead, loadRunData, type RunData } from "../run_data.ts";
import { runFigureProvenance } from "./run.ts";
import { conceptLink, type SiteContext } from "./common.ts";

/** Columns offered as filters (when the run has them). */
export const FILTER_COLUMNS = [
  "energy",
  "frequency",
  "modality_score",
  "stability",
  "auroc",
];

/** Display name of a per-concept column. */
export function columnTitle(name: string): string {
  if (name.startsWith("projection_")) return `projection (${name.slice(11)})`;
  return name.replace(/_/g, " ");
}

function attr(v: number): string {
  return Number.isFinite(v) ? String(v) : "";
}

/** Render `runs/<slug>/concepts.html`. */
export async function conceptTablePage(ctx: SiteContext, run: Run): Promise<string> {
  const atlas = ctx.atlas;
  const path = `runs/${run.slug}/concepts.html`;
  const root = rootOf(path);
  const rd = await loadRunData(atlas, run);
  const names = Object.keys(rd.columns);
  const order = [...Array(rd.c).keys()];
  const e = rd.columns.energy;
  if (e) {
    order.sort((a, b) =>
      (Number.isFinite(e[b]) ? e[b] : -1) - (Number.isFinite(e[a]) ? e[a] : -1) || a - b
    );
  }
  const filters = [...FILTER_COLUMNS, ...names.filter((n) => n.startsWith("projection_"))]
    .filter((n) => rd.columns[n])
    .map((n) =>
      `<label>${
        esc(columnTitle(n))
      } ≥ <input type="number" step="any" data-col="${n}" data-bound="min" id="min-${n}"> ≤ <input type="number" step="any" data-col="${n}" data-bound="max" id="max-${n}"></label>`
    ).join("");
  const dead = order.filter((j) => isDead(rd, j)).length;
  const head =
    `<tr><th data-col="concept">concept</th><th class="text" data-text="label">label</th>${
      names.map((n) => `<th data-col="${esc(n)}">${esc(columnTitle(n))}</th>`).join("")
    }</tr>`;
  const body = order.map((j) =>
    `<tr data-concept="${j}"${isDead(rd, j) ? ' data-dead="1" hidden' : ""} data-label="${
      esc(rd.labels[j])
    }" ${names.map((n) => `data-${esc(n)}="${attr(rd.columns[n][j])}"`).join(" ")}><td>${
      conceptLink(ctx, root, run, j)
    }</td><td class="text label">${esc(rd.labels[j] || "–")}</td>${
      names.map((n) => `<td class="col-${esc(n)}">${fmt(rd.columns[n][j])}</td>`).join("")
    }</tr>`
  ).join("\n");
  const html = `
<p>${rd.c} concepts (${dead} dead: never fire on the eval rows); <span id="shown-count">${
    rd.c - dead
  }</span> shown. Click a header to sort; set bounds to filter.
<label class="toggle"><input type="checkbox" id="show-dead"> show dead concepts</label> ·
Data: <a href="data/concepts.json">JSON</a> · <a href="data/concepts.csv">CSV</a>.</p>
<div class="filters">${filters}</div>
${provenanceHtml(runFigureProvenance(atlas, run, "table"))}
<table id="concept-table"><thead>${head}</thead><tbody>
${body}
</tbody></table>`;
  return page({
    atlas,
    path,
    title: `Concepts — ${run.label}`,
    body: html,
    run,
    view: "concepts.html",
  });
}

/** The per-concept table as JSON: {provenance, columns, rows: [{concept, ...}]} (NaN → null). */
export function conceptsJson(ctx: SiteContext, rd: RunData): string {
  const names = Object.keys(rd.columns);
  const rows = [...Array(rd.c).keys()].map((j) => {
    const r: Record<string, number | string | null> = { concept: j, label: rd.labels[j] };
    for (const n of names) r[n] = Number.isFinite(rd.columns[n][j]) ? rd.columns[n][j] : null;
    return r;
  });
  return JSON.stringify({
    run: rd.run.label,
    provenance: provenanceText(runFigureProvenance(ctx.atlas, rd.run, "table")),
    column_sources: rd.columnSource,
    columns: ["concept", "label", ...names],
    rows,
  });
}

/** The per-concept table as CSV (header row; empty cells for NaN). */
export function conceptsCsv(rd: RunData): string {
  const names = Object.keys(rd.columns);
  const lines = [["concept", "label", ...names].join(",")];
  const quote = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  for (let j = 0; j < rd.c; j++) {
    lines.push(
      [String(j), quote(rd.labels[j]), ...names.map((n) => attr(rd.columns[n][j]))].join(","),
    );
  }
  return lines.join("\n") + "\n";
}
