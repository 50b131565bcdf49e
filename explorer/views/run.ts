/**
 * The run page (`runs/<slug>/index.html`): parameters, eval metrics per scope, the modality-score
 * histogram (learned beside the null dictionary when the modality stage gives it) and stability
 * against frequency (matched cosine in the other runs), each with its provenance.
 */
import { join } from "node:path";
import { readTable } from "../../data/table_io.ts";
import { histogram, scatterPlot } from "../plot/mod.ts";
import type { Atlas, Instance, Run } from "../atlas.ts";
import {
  esc,
  figure,
  fmt,
  page,
  type Provenance,
  provenanceHtml,
  provenanceText,
  rootOf,
  runProvenance,
  table,
} from "../html.ts";
import { conceptName, loadRunData, type RunData } from "../run_data.ts";
import { namedLink, type SiteContext } from "./common.ts";

/** Provenance of a run figure: `modality` (concepts, modality), `stability` (matches), `map`. */
export function runFigureProvenance(
  atlas: Atlas,
  run: Run,
  kind: "modality" | "stability" | "map" | "table" | "bridge",
): Provenance {
  const st: (Instance | undefined)[] = [run.train];
  if (kind !== "map") st.push(run.encode, run.concepts);
  if (kind === "modality" || kind === "table") st.push(run.modality);
  if (kind === "stability" || kind === "table") st.push(...run.matches.map((m) => m.match));
  if (kind === "bridge" || kind === "table") st.push(run.bridge);
  return runProvenance(atlas, run, st);
}

/** Modality-score histogram (20 bins on [0, 1]) of live concepts, with the null dictionary's. */
export function modalityHistogramSvg(atlas: Atlas, rd: RunData, nullScores?: Float64Array): string {
  const bins = 20;
  const edges = Array.from({ length: bins + 1 }, (_, q) => q / bins);
  const count = (v: ArrayLike<number> | undefined) => {
    const out = new Array<number>(bins).fill(0);
    if (!v) return out;
    for (let j = 0; j < v.length; j++) {
      if (Number.isFinite(v[j])) out[Math.min(bins - 1, Math.max(0, Math.floor(v[j] * bins)))]++;
    }
    return out;
  };
  const series = [{ label: "learned", counts: count(rd.columns.modality_score) }];
  if (nullScores) series.push({ label: "null dictionary", counts: count(nullScores) });
  return histogram({
    title: `Modality score of live concepts — ${rd.run.label}`,
    xLabel: "modality score m (0 text-only, 1 image-only)",
    yLabel: "concepts",
    edges,
    series,
    caption: provenanceText(runFigureProvenance(atlas, rd.run, "modality")),
    id: `mh-${rd.run.slug}`,
  });
}

/** Null dictionary modality scores from the modality stage's projections table, if any. */
export async function nullModalityScores(run: Run): Promise<Float64Array | undefined> {
  const m = run.modality;
  if (!m || !m.files.includes("projections.parquet")) return undefined;
  const t = await readTable(join(m.dir, "projections.parquet"));
  const dict = t.dictionary as (string | null)[] | undefined;
  const ms = t.modality_score;
  if (!dict || !ms || !ArrayBuffer.isView(ms)) return undefined;
  const v = ms as unknown as ArrayLike<number>;
  return Float64Array.from(dict.flatMap((k, r) => (k === "null" ? [v[r]] : [])));
}

/** Stability (mean matched cosine) against frequency, one point per concept, linked. */
export function stabilitySvg(ctx: SiteContext, rd: RunData, root: string): string {
  const s = rd.columns.stability, f = rd.columns.frequency;
  const points = [];
  if (s && f) {
    for (let j = 0; j < rd.c; j++) {
      if (!(f[j] > 0) || !Number.isFinite(s[j])) continue;
      points.push({
        x: f[j],
        y: s[j],
        color: 0,
        label: `${conceptName(rd, j)}: frequency ${fmt(f[j])}, stability ${fmt(s[j])}`,
        href: ctx.hasConceptPage(rd.run, j)
          ? `${root}runs/${rd.run.slug}/concepts/${j}.html`
          : undefined,
      });
    }
  }
  return scatterPlot({
    title: `Stability against frequency — ${rd.run.label}`,
    xLabel: "frequency P(z > 0)",
    yLabel: "stability (matched cosine)",
    points,
    logX: true,
    caption: provenanceText(runFigureProvenance(ctx.atlas, rd.run, "stability")),
    id: `st-${rd.run.slug}`,
  });
}

/** Render `runs/<slug>/index.html`. */
export async function runPage(ctx: SiteContext, run: Run): Promise<string> {
  const atlas = ctx.atlas;
  const path = `runs/${run.slug}/index.html`;
  const root = rootOf(path);
  const rd = await loadRunData(atlas, run);
  let metrics = '<p class="empty">No evaluate stage for this run.</p>';
  if (run.evaluate?.files.includes("metrics.parquet")) {
    const t = await readTable(join(run.evaluate.dir, "metrics.parquet"));
    const scope = (t.scope as (string | null)[] | undefined) ?? [];
    const cols = ["r2", "r2_zero", "l0", "dead_fraction", "n_rows"].filter((k) => t[k]);
    metrics = table(
      ['<span class="text">scope</span>', ...cols],
      scope.map((s, r) => [
        esc(s),
        ...cols.map((k) =>
          `<span data-metric="${k}">${fmt((t[k] as unknown as ArrayLike<number>)[r])}</span>`
        ),
      ]),
      'id="metrics-table"',
    ) + provenanceHtml(runProvenance(atlas, run, [run.train, run.encode, run.evaluate]));
  }
  const params = Object.entries(run.train.params).map(([k, v]) => [
    `<span class="text">${esc(k)}</span>`,
    `<code>${esc(JSON.stringify(v))}</code>`,
  ]);
  const live = rd.columns.frequency
    ? Array.from(rd.columns.frequency).filter((f) => f > 0).length
    : NaN;
  const matches = run.matches.map((m) => {
    const partner = atlas.runs.find((r) => r.train.key === m.partnerKey);
    return `<li>${
      partner
        ? `<a href="${root}runs/${partner.slug}/index.html">${esc(partner.label)}</a>`
        : esc(m.partnerKey)
    } (match <code>${esc(m.match.key.slice(0, 12))}</code>)</li>`;
  }).join("");
  const topEnergy = rd.columns.energy
    ? [...Array(rd.c).keys()].sort((a, b) => rd.columns.energy[b] - rd.columns.energy[a]).slice(
      0,
      10,
    )
    : [];
  const body = `
<p id="run-summary">Train instance <code>${
    esc(run.train.id)
  }</code>; c = <span id="run-c">${rd.c}</span> concepts,
d = ${rd.d}; live concepts on the eval rows: <span id="run-live">${fmt(live)}</span>.</p>
<p>Views: <a href="concepts.html">concept table</a> · <a href="map.html">concept map</a> ·
<a href="bridges.html">bridges</a> · data: <a href="data/concepts.json">concepts.json</a>,
<a href="data/concepts.csv">concepts.csv</a></p>
<h2>Metrics (eval split)</h2>${metrics}
<h2>Figures</h2><div class="grid">${
    figure(
      modalityHistogramSvg(atlas, rd, await nullModalityScores(run)),
      runFigureProvenance(atlas, run, "modality"),
      "modality-histogram",
      "figures/modality_histogram.svg",
    )
  }${
    run.matches.length
      ? figure(
        stabilitySvg(ctx, rd, root),
        runFigureProvenance(atlas, run, "stability"),
        "stability",
        "figures/stability.svg",
      )
      : '<p class="empty">No match stage involves this run: no stability figure.</p>'
  }</div>
<h2>Highest-energy concepts</h2><p>${
    topEnergy.map((j) => namedLink(ctx, root, rd, j)).join(" · ")
  }</p>
<h2>Matched runs</h2>${
    matches ? `<ul id="matched-runs">${matches}</ul>` : '<p class="empty">none</p>'
  }
<h2>Parameters</h2>${table(["parameter", "value"], params)}
${provenanceHtml(runProvenance(atlas, run, [run.train]))}`;
  return page({ atlas, path, title: `Run ${run.label}`, body, run, view: "index.html" });
}
