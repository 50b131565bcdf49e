/**
 * The overview page (`index.html`): dataset, model, runs, the Pareto plot (R² against ℓ0 of every
 * evaluated run), the primary run's modality-score histogram and stability against frequency,
 * the claims and validation tables — each with its provenance.
 */
import { join } from "node:path";
import { readTable } from "../../data/table_io.ts";
import { scatterPlot } from "../plot/mod.ts";
import type { Atlas, ClaimRow, Instance, Run } from "../atlas.ts";
import { instancesOf } from "../atlas.ts";
import {
  datasetName,
  esc,
  figure,
  fmt,
  page,
  provenanceHtml,
  provenanceText,
  table,
} from "../html.ts";
import type { SiteContext } from "./common.ts";
import { modalityHistogramSvg, runFigureProvenance, stabilitySvg } from "./run.ts";
import { loadRunData } from "../run_data.ts";

/** Pooled metrics of a run's evaluate stage (null when absent). */
export async function pooledMetrics(
  run: Run,
): Promise<Record<string, number> | null> {
  const ev = run.evaluate;
  if (!ev || !ev.files.includes("metrics.parquet")) return null;
  const t = await readTable(join(ev.dir, "metrics.parquet"));
  const scope = t.scope as (string | null)[] | undefined;
  const r = scope ? scope.indexOf("pooled") : 0;
  if (r < 0) return null;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(t)) {
    if (ArrayBuffer.isView(v)) out[k] = Number((v as unknown as ArrayLike<number>)[r]);
  }
  return out;
}

/** The Pareto plot: pooled R² against ℓ0 for every evaluated run, one colour per method. */
export async function paretoSvg(
  atlas: Atlas,
  root: string,
): Promise<{ svg: string; stages: Instance[] }> {
  const methods = [...new Set(atlas.runs.map((r) => String(r.train.params.method ?? "?")))];
  const points = [];
  const stages: Instance[] = [];
  for (const run of atlas.runs) {
    const m = await pooledMetrics(run);
    if (!m || !Number.isFinite(m.l0) || !Number.isFinite(m.r2)) continue;
    stages.push(run.evaluate!);
    points.push({
      x: Math.max(m.l0, 1e-3),
      y: m.r2,
      color: methods.indexOf(String(run.train.params.method ?? "?")),
      label: `${run.label}: ℓ0 ${fmt(m.l0)}, R² ${fmt(m.r2)}`,
      href: `${root}runs/${run.slug}/index.html`,
    });
  }
  const svg = scatterPlot({
    title: "Pareto: R² against ℓ0 (eval split, pooled)",
    xLabel: "ℓ0 (mean non-zero codes per row)",
    yLabel: "R²",
    points,
    logX: true,
    legend: methods.map((m, q) => ({ label: m, color: q })),
    caption: provenanceText({ stages: [], codeVersion: atlas.codeVersion }),
    id: "pareto",
  });
  return { svg, stages };
}

function claimTable(rows: ClaimRow[], kind: "claims" | "validation"): string {
  const headers = kind === "claims"
    ? ["claim", "value", "null value", "holds"]
    : ["check", "value", "threshold", "holds"];
  return table(
    headers.map((h, q) => (q === 0 ? `<span class="text">${h}</span>` : h)),
    rows.map((r) => [
      `<span class="claim-name">${esc(r.claim)}</span>`,
      `<span class="claim-value">${fmt(r.value)}</span>`,
      fmt(kind === "claims" ? r.null_value : r.threshold),
      `<span class="holds-${r.holds}">${r.holds === null ? "–" : r.holds ? "yes" : "no"}</span>`,
    ]),
    `class="${kind}-table" id="${kind}-table"`,
  );
}

/** Claims of the record, else of a `claims` stage's claims.json. */
async function claimsOf(atlas: Atlas): Promise<{ rows: ClaimRow[]; inst?: Instance }> {
  const inst = instancesOf(atlas, "claims")[0];
  if (atlas.claims.length) return { rows: atlas.claims, inst };
  if (inst?.files.includes("claims.json")) {
    const v = JSON.parse(await Deno.readTextFile(join(inst.dir, "claims.json")));
    if (Array.isArray(v)) {
      return {
        rows: v.map((r) => ({
          claim: String(r.claim),
          value: typeof r.value === "number" ? r.value : null,
          null_value: typeof r.null_value === "number" ? r.null_value : null,
          holds: typeof r.holds === "boolean" ? r.holds : null,
        })),
        inst,
      };
    }
  }
  return { rows: [], inst };
}

/** Render `index.html`. */
export async function overviewPage(ctx: SiteContext): Promise<string> {
  const atlas = ctx.atlas;
  const path = "index.html";
  const root = "";
  const datasets = instancesOf(atlas, "dataset");
  const ds = datasets[0];
  const embed = (atlas.config.embed ?? {}) as Record<string, unknown>;
  const dsRows = datasets.map((d) => [
    `<span class="text dataset-name">${esc(datasetName(d))}</span>`,
    `<code>${esc(d.key.slice(0, 12))}</code>`,
    esc(JSON.stringify(d.meta.rows ?? d.meta.n ?? "")),
    esc(JSON.stringify(d.meta.d ?? d.meta.dim ?? "")),
    esc(d.params.seed ?? ""),
  ]);
  const model = instancesOf(atlas, "embed")[0];
  const modelText = model
    ? `${esc(String(model.params.model ?? model.params.preset ?? model.id))} (embed <code>${
      esc(model.key.slice(0, 12))
    }</code>)`
    : embed.model
    ? esc(String(embed.model))
    : "none (the dataset holds embeddings: synthetic world or imported arrays)";

  const runRows: string[][] = [];
  for (const run of atlas.runs) {
    const m = await pooledMetrics(run);
    const p = run.train.params;
    runRows.push([
      `<a class="run-link" href="runs/${run.slug}/index.html">${esc(run.label)}</a>${
        run.primary ? ' <b class="primary-mark">primary</b>' : ""
      }`,
      esc(p.method ?? ""),
      esc(p.k ?? ""),
      esc(p.seed ?? ""),
      esc(p.diet ?? run.diet?.params.ratio ?? ""),
      fmt(m?.r2),
      fmt(m?.l0),
      fmt(m?.dead_fraction),
      `<code>${esc(run.train.key.slice(0, 12))}</code>`,
    ]);
  }
  const pareto = await paretoSvg(atlas, root);
  const claims = await claimsOf(atlas);
  const validate = instancesOf(atlas, "validate")[0];

  // The primary run's modality histogram and stability plot (the study's `train.primary` run;
  // without a recorded config, the first run with concepts).
  const primary = atlas.primary ?? atlas.runs.find((r) => r.concepts || r.encode) ??
    atlas.runs[0];
  let primaryFigs = "";
  if (primary) {
    const rd = await loadRunData(atlas, primary);
    primaryFigs = `<h2>Primary run: <a id="primary-run" href="runs/${primary.slug}/index.html">${
      esc(primary.label)
    }</a></h2><div class="grid">${
      figure(
        modalityHistogramSvg(atlas, rd),
        runFigureProvenance(atlas, primary, "modality"),
        "overview-modality-histogram",
      )
    }${
      figure(
        await stabilitySvg(ctx, rd, root),
        runFigureProvenance(atlas, primary, "stability"),
        "overview-stability",
      )
    }</div>`;
  }
  const body = `
<h2>Dataset</h2>
${
    table(
      ['<span class="text">dataset</span>', "key", "rows", "d", "seed"],
      dsRows,
      'id="dataset-table"',
    )
  }
${provenanceHtml({ dataset: ds, stages: datasets, codeVersion: atlas.codeVersion })}
<h2>Model</h2><p id="model">${modelText}</p>
<h2>Runs (${atlas.runs.length})</h2>
${
    table(
      ["run", "method", "k", "seed", "diet", "R²", "ℓ0", "dead", "train key"],
      runRows,
      'id="runs-table"',
    )
  }
<h2>Pareto</h2>
${
    pareto.stages.length
      ? figure(
        pareto.svg,
        {
          dataset: ds,
          stages: [...instancesOf(atlas, "pareto"), ...pareto.stages],
          seeds: { train: [...new Set(atlas.runs.map((r) => r.train.params.seed))].join(",") },
          codeVersion: atlas.codeVersion,
        },
        "pareto-figure",
        "figures/pareto.svg",
      )
      : '<p class="empty">No evaluate stage in this cache: no Pareto points.</p>'
  }
${primaryFigs}
<h2>Claims</h2>
${
    claims.rows.length
      ? claimTable(claims.rows, "claims") +
        provenanceHtml({ dataset: ds, stages: [claims.inst], codeVersion: atlas.codeVersion })
      : '<p class="empty">No claims recorded for this run.</p>'
  }
${
    atlas.validation.length
      ? `<h2>Validation against planted truth</h2>${claimTable(atlas.validation, "validation")}${
        provenanceHtml({ dataset: ds, stages: [validate], codeVersion: atlas.codeVersion })
      }`
      : ""
  }
<p class="prov">Cache <code>${esc(atlas.cache)}</code> · code <code>${
    esc(atlas.codeVersion)
  }</code></p>`;
  return page({ atlas, path, title: "Overview", body });
}
