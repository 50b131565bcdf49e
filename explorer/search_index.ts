/**
 * The search index of a run (`runs/<slug>/data/search.js`): per concept its label, the other
 * label routes, and the texts of its top-activating captions, as a script that registers itself
 * on `window.ATLAS_SEARCH[slug]` — a script, not JSON, so that the static report can load it over
 * file:// where fetch() is refused. The search box (assets/app.js) scores the entries in the page.
 */
import type { RunData } from "./run_data.ts";
import { isDead } from "./run_data.ts";
import { topActivations } from "./activations.ts";
import type { SiteContext } from "./views/common.ts";

/** Top captions per concept kept in the index (each cut to 160 characters). */
const CAPTIONS_PER_CONCEPT = 3;

/** One concept's entry: [concept, label, other label text, caption text, energy, flags]. */
export type SearchEntry = [number, string, string, string, number, number];

/** The index entries of a loaded run (flags: 1 = has a page, 2 = dead). */
export function searchEntries(ctx: SiteContext, rd: RunData): SearchEntry[] {
  const out: SearchEntry[] = [];
  const e = rd.columns.energy;
  for (let j = 0; j < rd.c; j++) {
    const info = rd.labelInfo;
    const other = info ? [info.towerLabel[j], info.truthName[j]].filter((s) => s).join(" · ") : "";
    let captions = "";
    if (rd.cols && rd.rows) {
      captions = topActivations(rd.cols, j, rd.rows.isImage, false, CAPTIONS_PER_CONCEPT)
        .map((a) => (rd.rows!.source[a.row] ?? "").slice(0, 160)).join(" | ");
    }
    const flags = (ctx.hasConceptPage(rd.run, j) ? 1 : 0) | (isDead(rd, j) ? 2 : 0);
    const energy = e && Number.isFinite(e[j]) ? Number(e[j].toPrecision(4)) : 0;
    out.push([j, rd.labels[j] ?? "", other, captions, energy, flags]);
  }
  return out;
}

/** The index as a script (JSON inside; `</` escaped so that no text can close a script tag). */
export function searchScript(ctx: SiteContext, rd: RunData): string {
  const data = JSON.stringify({ run: rd.run.label, entries: searchEntries(ctx, rd) })
    .replace(/</g, "\\u003c");
  return `"use strict";(window.ATLAS_SEARCH=window.ATLAS_SEARCH||{})[${
    JSON.stringify(rd.run.slug)
  }]=${data};\n`;
}
