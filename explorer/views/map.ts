/**
 * The concept map (`runs/<slug>/map.html`): concept directions projected on the dictionary's two
 * leading principal axes; colour = modality score, size = energy; a click opens the concept.
 */
import type { Run } from "../atlas.ts";
import { figure, fmt, page, provenanceText, rootOf } from "../html.ts";
import { scatterPlot } from "../plot/mod.ts";
import { loadRunData, type RunData } from "../run_data.ts";
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
      label: `concept ${j}: modality ${fmt(mj)}, energy ${fmt(ej)}`,
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

/** Render `runs/<slug>/map.html`. */
export async function mapPage(ctx: SiteContext, run: Run): Promise<string> {
  const path = `runs/${run.slug}/map.html`;
  const root = rootOf(path);
  const rd = await loadRunData(ctx.atlas, run);
  const body =
    `<p>Each point is a concept direction; colour: modality score; size: energy. Click a point to open the concept.</p>
${
      figure(
        mapSvg(ctx, rd, root),
        runFigureProvenance(ctx.atlas, run, "map"),
        "concept-map",
        "figures/map.svg",
      )
    }`;
  return page({
    atlas: ctx.atlas,
    path,
    title: `Concept map — ${run.label}`,
    body,
    run,
    view: "map.html",
  });
}
