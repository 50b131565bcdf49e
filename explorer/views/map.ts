/**
 * The concept map (`runs/<slug>/map.html`): concept directions projected on the dictionary's two
 * leading principal axes; colour = modality score, size = energy; a click opens the concept.
 */
import type { Run } from "../atlas.ts";
import { esc, fmt, page, provenanceHtml, provenanceText, rootOf } from "../html.ts";
import { scatterPlot } from "../plot/mod.ts";
import { conceptName, isDead, loadRunData, type RunData } from "../run_data.ts";
import { runFigureProvenance } from "./run.ts";
import { modalityColor, type SiteContext } from "./common.ts";

/** The map as SVG; point links are relative to a page whose root prefix is `root`. */
export function mapSvg(ctx: SiteContext, rd: RunData, root: string): string {
  const e = rd.columns.energy, m = rd.columns.modality_score;
  let eMax = 0;
  if (e) { for (let j = 0; j < rd.c; j++) if (e[j] > eMax) eMax = e[j]; }
  const points = [];
  for (let j = 0; j < rd.c; j++) {
    const ej = e ? e[j] : NaN, mj = m ? m[j] : NaN;
    points.push({
      x: rd.map[2 * j],
      y: rd.map[2 * j + 1],
      size: eMax > 0 && ej > 0 ? 2 + 8 * Math.sqrt(ej / eMax) : 1.5,
      color: modalityColor(mj),
      label: `${conceptName(rd, j)}: modality ${fmt(mj)}, energy ${fmt(ej)}`,
      href: ctx.hasConceptPage(rd.run, j)
        ? `${root}runs/${rd.run.slug}/concepts/${j}.html`
        : undefined,
    });
  }
  return scatterPlot({
    title: `Concept map (PCA of the dictionary) — ${rd.run.label}`,
    xLabel: `PC 1 (variance ${fmt(rd.mapVariance[0])})`,
    yLabel: `PC 2 (variance ${fmt(rd.mapVariance[1])})`,
    points,
    legend: [
      { label: "text-only (m = 0)", color: modalityColor(0) },
      { label: "mixed (m = 0.5)", color: modalityColor(0.5) },
      { label: "image-only (m = 1)", color: modalityColor(1) },
      { label: "dead (no m)", color: modalityColor(NaN) },
    ],
    width: 860,
    height: 640,
    caption: provenanceText(runFigureProvenance(ctx.atlas, rd.run, "map")),
    id: "map",
  });
}

/**
 * The map's data as a script registering `window.ATLAS_MAP[slug]` (loaded by assets/app.js; a
 * script so that the static report works over file://): PCA and (when the map stage ran) UMAP
 * coordinates, colour (modality score), radius (energy), name, flags.
 */
export function mapScript(ctx: SiteContext, rd: RunData): string {
  const e = rd.columns.energy, m = rd.columns.modality_score;
  let eMax = 0;
  if (e) { for (let j = 0; j < rd.c; j++) if (e[j] > eMax) eMax = e[j]; }
  const r4 = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(5)) : null);
  const idx = [...Array(rd.c).keys()];
  const data = {
    n: rd.c,
    pca: Array.from(rd.map, r4),
    umap: rd.umap ? Array.from(rd.umap, r4) : null,
    color: idx.map((j) => modalityColor(m ? m[j] : NaN)),
    size: idx.map((j) => {
      const ej = e ? e[j] : NaN;
      return eMax > 0 && ej > 0 ? Number((2 + 6 * Math.sqrt(ej / eMax)).toFixed(2)) : 1.5;
    }),
    name: idx.map((j) => conceptName(rd, j)),
    mod: idx.map((j) => fmt(m ? m[j] : NaN)),
    energy: idx.map((j) => fmt(e ? e[j] : NaN)),
    dead: idx.map((j) => (isDead(rd, j) ? 1 : 0)),
    page: idx.map((j) => (ctx.hasConceptPage(rd.run, j) ? 1 : 0)),
  };
  return `"use strict";(window.ATLAS_MAP=window.ATLAS_MAP||{})[${JSON.stringify(rd.run.slug)}]=${
    JSON.stringify(data).replace(/</g, "\\u003c")
  };\n`;
}

/** Render `runs/<slug>/map.html`: the interactive canvas map, the SVG as a download. */
export async function mapPage(ctx: SiteContext, run: Run): Promise<string> {
  const path = `runs/${run.slug}/map.html`;
  const root = rootOf(path);
  const rd = await loadRunData(ctx.atlas, run);
  const layouts = rd.umap
    ? '<option value="umap" selected>UMAP (map stage)</option><option value="pca">PCA</option>'
    : '<option value="pca" selected>PCA</option>';
  const body = `<p>Each point is a concept direction; colour: modality score (blue text-only, orange
image-only, grey dead); size: energy. Hover for its label, click to open it; scroll to zoom, drag to
pan.</p>
<p><label>layout <select id="map-layout">${layouts}</select></label>
<label class="toggle"><input type="checkbox" id="map-show-dead"> show dead concepts</label>
· <a class="download" href="figures/map.svg">PCA map as SVG</a></p>
<div class="map-wrap"><canvas id="map-canvas" width="900" height="640" data-root="${root}" data-run="${
    esc(run.slug)
  }"></canvas><div id="map-tip" hidden></div></div>
${provenanceHtml(runFigureProvenance(ctx.atlas, run, "map"))}`;
  return page({
    atlas: ctx.atlas,
    path,
    title: `Concept map — ${run.label}`,
    body,
    run,
    view: "map.html",
  });
}
