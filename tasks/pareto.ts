/**
 * The `pareto` stage (method.md §3 "Pareto study"): R² against ℓ0 for every evaluated run.
 * Input list role `runs*` of `evaluate` instances. Writes `pareto.parquet` (one row per run,
 * pooled and per-modality scores) and `pareto.svg` (pooled R² against eval ℓ0, one line per
 * method — per method and diet when several diets are present — points sorted by ℓ0; the mean
 * over seeds at each k).
 */
import { z } from "zod";
import { defineStage, type InputArtifact, type StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { writeTable } from "../data/table_io.ts";
import { linePlot } from "../explorer/plot/mod.ts";
import { evaluateFiles, type MetricsJson } from "./evaluate.ts";

/** Files of a pareto key folder. */
export const paretoFiles = {
  /** One row per evaluated run: pooled and per-modality scores ({@link ParetoRow} and `run`). */
  table: "pareto.parquet",
  /** Pooled score against eval ℓ0, one line per method (and diet). */
  plot: "pareto.svg",
} as const;

/** Parameters of the pareto stage. */
export const paretoParamsSchema = z.strictObject({
  /** Score on the y axis. */
  metric: z.enum(["r2", "r2_zero"]).default("r2"),
  /** log10 ℓ0 axis. */
  logX: z.boolean().default(true),
});

/** Validated pareto parameters. */
export type ParetoParams = z.infer<typeof paretoParamsSchema>;

/** One row of the Pareto table. */
export interface ParetoRow {
  method: string;
  k: number;
  c: number;
  seed: number;
  diet: string;
  l0: number;
  r2: number;
  r2_zero: number;
  r2_image: number;
  r2_text: number;
  l0_image: number;
  l0_text: number;
  dead_fraction: number;
  run: string;
}

const num = (v: number | null | undefined) => (v === null || v === undefined ? NaN : v);

async function readRun(run: InputArtifact): Promise<ParetoRow> {
  const path = `${run.dir}/${evaluateFiles.metricsJson}`;
  let m: MetricsJson;
  try {
    m = JSON.parse(await Deno.readTextFile(path));
  } catch {
    throw new UserError(`${path}: missing or not JSON; re-run evaluate (--force evaluate)`);
  }
  const scope = (s: string) => m.scopes.find((x) => x.scope === s);
  const pooled = scope("pooled");
  if (!pooled) throw new UserError(`${path}: no pooled scope; re-run evaluate (--force evaluate)`);
  return {
    method: m.method,
    k: m.k,
    c: m.c,
    seed: m.seed,
    diet: m.diet,
    l0: num(pooled.l0),
    r2: num(pooled.r2),
    r2_zero: num(pooled.r2_zero),
    r2_image: num(scope("image")?.r2),
    r2_text: num(scope("text")?.r2),
    l0_image: num(scope("image")?.l0),
    l0_text: num(scope("text")?.l0),
    dead_fraction: num(pooled.dead_fraction),
    run: run.id,
  };
}

/** Pareto lines: per method (and diet when several), mean over seeds at each k, sorted by ℓ0. */
export function paretoSeries(
  rows: Pick<ParetoRow, "method" | "k" | "diet" | "l0" | "r2" | "r2_zero">[],
  metric: "r2" | "r2_zero",
): { label: string; x: number[]; y: number[] }[] {
  const diets = new Set(rows.map((r) => r.diet));
  const groups = new Map<string, Map<number, typeof rows>>();
  for (const r of rows) {
    const label = diets.size > 1 ? `${r.method} (${r.diet})` : r.method;
    if (!groups.has(label)) groups.set(label, new Map());
    const byK = groups.get(label)!;
    if (!byK.has(r.k)) byK.set(r.k, []);
    byK.get(r.k)!.push(r);
  }
  const out = [];
  for (const [label, byK] of [...groups].sort((a, b) => a[0].localeCompare(b[0]))) {
    const pts = [...byK.values()].map((rs) => ({
      x: rs.reduce((s, r) => s + r.l0, 0) / rs.length,
      y: rs.reduce((s, r) => s + r[metric], 0) / rs.length,
    })).sort((a, b) => a.x - b.x);
    out.push({ label, x: pts.map((p) => p.x), y: pts.map((p) => p.y) });
  }
  return out;
}

async function runPareto(ctx: StageContext<ParetoParams, typeof inputs>): Promise<void> {
  const runs = ctx.inputLists.runs;
  if (runs.length === 0) {
    throw new UserError("pareto: the input list `runs*` is empty; add evaluate runs");
  }
  const rows = await Promise.all(runs.map(readRun));
  rows.sort((a, b) =>
    a.method.localeCompare(b.method) || a.diet.localeCompare(b.diet) || a.k - b.k ||
    a.seed - b.seed
  );
  await writeTable(`${ctx.outDir}/${paretoFiles.table}`, {
    method: rows.map((r) => r.method),
    k: Int32Array.from(rows, (r) => r.k),
    c: Int32Array.from(rows, (r) => r.c),
    seed: Int32Array.from(rows, (r) => r.seed),
    diet: rows.map((r) => r.diet),
    l0: Float64Array.from(rows, (r) => r.l0),
    r2: Float64Array.from(rows, (r) => r.r2),
    r2_zero: Float64Array.from(rows, (r) => r.r2_zero),
    r2_image: Float64Array.from(rows, (r) => r.r2_image),
    r2_text: Float64Array.from(rows, (r) => r.r2_text),
    l0_image: Float64Array.from(rows, (r) => r.l0_image),
    l0_text: Float64Array.from(rows, (r) => r.l0_text),
    dead_fraction: Float64Array.from(rows, (r) => r.dead_fraction),
    run: rows.map((r) => r.run),
  });
  const metric = ctx.params.metric;
  const series = paretoSeries(rows, metric).map((s) => ({
    ...s,
    dashed: ["pca", "kmeans", "seminmf", "omp"].some((m) => s.label.startsWith(m)),
  }));
  const svg = linePlot({
    series,
    logX: ctx.params.logX,
    title: "Pareto study: reconstruction against sparsity (eval split)",
    xLabel: "ℓ0 (mean non-zero codes per row)",
    yLabel: metric === "r2" ? "R² (per-dimension mean)" : "R² (scalar mean, r2_zero)",
    caption: `pareto ${ctx.key.slice(0, 12)} · ${rows.length} runs · ${
      [...new Set(rows.map((r) => r.method))].join(", ")
    }`,
    id: "pareto",
  });
  await Deno.writeTextFile(`${ctx.outDir}/${paretoFiles.plot}`, svg);
  ctx.setMeta("runs", rows.length);
  ctx.setMeta("methods", [...new Set(rows.map((r) => r.method))]);
}

/** Input roles of the pareto stage. */
const inputs = { "runs*": "evaluate" } as const;

/** The `pareto` stage (input list `runs*` of evaluate). */
export const paretoStage = defineStage({
  name: "pareto",
  version: 1,
  description: "R² against ℓ0 for every method across the sparsity sweep (table and SVG)",
  inputs,
  params: paretoParamsSchema,
  outputs: Object.values(paretoFiles),
  run: runPareto,
});
