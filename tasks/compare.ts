/**
 * The `compare` stage (method.md §9): every embedding space of the study side by side. Inputs are
 * lists over all spaces; each instance belongs to the space named first in its id
 * (`pareto[space=clip]`, `embed[model=clip]`), and `params.spaces` gives the order.
 *
 * - `data*` (dataset | embed, one per space): d and rows (manifest meta);
 * - `pareto*` (one per space): pareto.parquet;
 * - `claims*` (one per space and seed, first seed first): claims.json;
 * - `validate*` (synthetic spaces): validation.json;
 * - `concepts*` (the primary run of the first diet, per seed): summary.json (c, unimodal fractions);
 * - `seedMatches*`, `dietMatches*`: stability.json (stability by frequency decile);
 * - `bridges*` (the primary run of the first diet, per seed where built): summary.json.
 *
 * Writes `pareto.parquet` (every space's Pareto rows with `space`, `d` and `front`), `pareto.svg`
 * (one panel per space, shared axes), `claims.parquet` (claims and truth checks per space: the
 * first seed's value beside its null, the spread over seeds), `stability.parquet` (per space,
 * scope and frequency decile), `spaces.parquet` (one row per space: sizes, unimodal fractions
 * plain and energy-weighted, bridge statistics, verdict counts) and `summary.json` (one verdict
 * line per space; read by the run summary and the explorer).
 */
import { z } from "zod";
import {
  defineStage,
  type InputArtifact,
  type StageContext,
  type StageInputLists,
} from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { readTable, writeTable } from "../data/table_io.ts";
import { linePlot, panelGrid } from "../explorer/plot/mod.ts";
import {
  binsOverCurves,
  type ClaimOverSeeds,
  claimsOverSeeds,
  formatSpread,
  paretoFrontMask,
  type SeedClaim,
  type Spread,
  spreadOf,
} from "../analysis/compare.ts";
import type { ValidationCheck } from "../analysis/truth_checks.ts";
import { compareConfig } from "./config/analysis.ts";
import { spaceName } from "./config/spaces.ts";
import { paretoFiles, paretoSeries } from "./pareto.ts";
import { claimsFiles } from "./claims.ts";
import { validateFiles } from "./validate.ts";
import { conceptsFiles } from "./concepts.ts";
import { matchFiles } from "./match.ts";
import { bridgeFiles } from "./bridge.ts";
import { spaceOfInstanceId } from "../explorer/spaces.ts";

/** Parameters of the compare stage: `analysis.compare` plus the spaces in order. */
export const compareParams = compareConfig.extend({
  /** Space names in the study's order. */
  spaces: z.array(spaceName).min(1),
});

/** Validated compare parameters. */
export type CompareParams = z.infer<typeof compareParams>;

/** Files of a compare key folder. */
export const compareFiles = {
  /** Every space's Pareto rows with `space`, `d` and `front`. */
  pareto: "pareto.parquet",
  /** One Pareto panel per space, shared axes. */
  paretoPlot: "pareto.svg",
  /** Claims and truth checks per space (first seed's value, its null, the spread over seeds). */
  claims: "claims.parquet",
  /** Stability per space, scope and frequency decile. */
  stability: "stability.parquet",
  /** One row per space: sizes, unimodal fractions, bridge statistics, verdict counts. */
  spaces: "spaces.parquet",
  /** One verdict line per space ({@link SpaceVerdict} and figures); read by the run summary. */
  summary: "summary.json",
} as const;

/** Input roles of the compare stage: lists over every space. */
const inputs = {
  "data*": "dataset|embed",
  "pareto*": "pareto",
  "claims*": "claims",
  "validate*": "validate",
  "concepts*": "concepts",
  "seedMatches*": "match",
  "dietMatches*": "match",
  "bridges*": "bridge",
} as const;

/** Context of the compare stage's `run`. */
type CompareContext = StageContext<CompareParams, typeof inputs>;

/** Short names of the claims and checks for the one-line verdicts. */
export const SHORT_NAMES: Record<string, string> = {
  saes_beat_baselines_on_pareto: "SAEs beat baselines",
  frequent_more_stable_across_seeds: "frequent stable (seeds)",
  frequent_more_stable_across_diets: "frequent stable (diets)",
  concepts_nearly_orthogonal_to_modality_subspace: "orthogonal to modality",
  concepts_poor_modality_classifiers: "poor modality classifiers",
  most_concepts_unimodal: "mostly unimodal",
  bridges_between_unimodal_concepts: "unimodal bridges",
  planted_recovered: "planted recovered",
  stability_frequent_minus_rare: "planted frequent stable",
  bridge_twin_precision: "bridges are twins",
  unimodal_fraction_gap: "planted unimodal fraction",
};

/** The space an instance id belongs to: its first `space=` (or an embed's `model=`) coordinate. */
export const spaceOfId: (id: string) => string | null = spaceOfInstanceId;

/** One space's verdicts and figures (summary.json `spaces[]`). */
export interface SpaceVerdict {
  space: string;
  d: number;
  c: number;
  rows: number;
  /** One line: the space, its sizes, the claims that hold and fail, the truth checks. */
  line: string;
  claims: (ClaimOverSeeds & { spreadText: string })[];
  validation: ValidationCheck[];
}

async function readJson<T>(path: string): Promise<T> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    throw new UserError(`${path}: missing or not JSON; re-run its stage (--force)`);
  }
}

const finite = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : NaN);

/** The inputs of a list role grouped by space (instances without a space are an error). */
function bySpace(
  ctx: CompareContext,
  role: keyof StageInputLists<typeof inputs>,
): Map<string, InputArtifact[]> {
  const out = new Map<string, InputArtifact[]>(ctx.params.spaces.map((s) => [s, []]));
  for (const a of ctx.inputLists[role]) {
    const s = spaceOfId(a.id);
    if (s === null || !out.has(s)) {
      throw new UserError(
        `compare: input ${a.id} (${role}) names no space of ${ctx.params.spaces.join(", ")}`,
      );
    }
    out.get(s)!.push(a);
  }
  return out;
}

/** Float64 column, or NaNs when absent. */
function f64(col: unknown, n: number): Float64Array {
  return ArrayBuffer.isView(col)
    ? Float64Array.from(col as unknown as ArrayLike<number>)
    : new Float64Array(n).fill(NaN);
}

interface ParetoRows {
  space: string[];
  method: string[];
  k: number[];
  c: number[];
  d: number[];
  seed: number[];
  diet: string[];
  l0: number[];
  r2: number[];
  r2_zero: number[];
  front: boolean[];
  run: string[];
}

const spreadColumns = (prefix: string, s: Spread[]) => ({
  [`${prefix}mean`]: Float64Array.from(s, (x) => x.mean),
  [`${prefix}sd`]: Float64Array.from(s, (x) => x.sd),
  [`${prefix}min`]: Float64Array.from(s, (x) => x.min),
  [`${prefix}max`]: Float64Array.from(s, (x) => x.max),
  [`${prefix}n`]: Int32Array.from(s, (x) => x.n),
});

async function run(ctx: CompareContext): Promise<void> {
  const p = ctx.params;
  const data = bySpace(ctx, "data"), pareto = bySpace(ctx, "pareto");
  const claims = bySpace(ctx, "claims"), validate = bySpace(ctx, "validate");
  const concepts = bySpace(ctx, "concepts"), bridges = bySpace(ctx, "bridges");
  const seedMatches = bySpace(ctx, "seedMatches"), dietMatches = bySpace(ctx, "dietMatches");

  // ---- Pareto rows of every space -------------------------------------------------------------
  const pr: ParetoRows = {
    space: [],
    method: [],
    k: [],
    c: [],
    d: [],
    seed: [],
    diet: [],
    l0: [],
    r2: [],
    r2_zero: [],
    front: [],
    run: [],
  };
  const dims = new Map<string, { d: number; rows: number }>();
  for (const space of p.spaces) {
    const dataIn = data.get(space)![0];
    dims.set(space, {
      d: Number(dataIn?.meta.d ?? NaN),
      rows: Number(dataIn?.meta.n ?? NaN),
    });
    for (const a of pareto.get(space)!) {
      const path = `${a.dir}/${paretoFiles.table}`;
      const t = await readTable(path);
      const method = t.method as string[];
      const n = method.length;
      const l0 = f64(t.l0, n), score = f64(t[p.metric], n);
      const front = paretoFrontMask(l0, score);
      for (let i = 0; i < n; i++) {
        pr.space.push(space);
        pr.method.push(method[i]);
        pr.k.push((t.k as Int32Array)[i]);
        pr.c.push((t.c as Int32Array)[i]);
        pr.d.push(dims.get(space)!.d);
        pr.seed.push((t.seed as Int32Array)[i]);
        pr.diet.push((t.diet as string[])[i]);
        pr.l0.push(l0[i]);
        pr.r2.push(f64(t.r2, n)[i]);
        pr.r2_zero.push(f64(t.r2_zero, n)[i]);
        pr.front.push(front[i]);
        pr.run.push((t.run as string[])[i]);
      }
    }
  }
  await writeTable(`${ctx.outDir}/${compareFiles.pareto}`, {
    space: pr.space,
    method: pr.method,
    k: Int32Array.from(pr.k),
    c: Int32Array.from(pr.c),
    d: Int32Array.from(pr.d),
    seed: Int32Array.from(pr.seed),
    diet: pr.diet,
    l0: Float64Array.from(pr.l0),
    r2: Float64Array.from(pr.r2),
    r2_zero: Float64Array.from(pr.r2_zero),
    front: pr.front,
    run: pr.run,
  });

  // ---- Pareto panels, one per space, shared axes ---------------------------------------------
  const score = p.metric === "r2" ? pr.r2 : pr.r2_zero;
  const xs = pr.l0.filter((x) => Number.isFinite(x) && (!p.logX || x > 0));
  const ys = score.filter(Number.isFinite);
  const xDomain: [number, number] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [1, 10];
  const yDomain: [number, number] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  const panels = p.spaces.map((space, i) => {
    const rows = pr.space.flatMap((s, j) => (s === space ? [j] : []));
    const series = paretoSeries(
      rows.map((j) => ({
        method: pr.method[j],
        k: pr.k[j],
        diet: pr.diet[j],
        l0: pr.l0[j],
        r2: pr.r2[j],
        r2_zero: pr.r2_zero[j],
      })),
      p.metric,
    ).map((s) => ({
      ...s,
      dashed: ["pca", "kmeans", "seminmf", "omp"].some((m) => s.label.startsWith(m)),
    }));
    const dm = dims.get(space)!;
    return linePlot({
      series,
      logX: p.logX,
      xDomain,
      yDomain,
      title: `${space} (d=${dm.d})`,
      xLabel: "ℓ0 (mean non-zero codes per row)",
      yLabel: p.metric === "r2" ? "R² (eval)" : "R² (scalar mean)",
      width: 520,
      height: 360,
      id: `pareto-${i}`,
    });
  });
  await Deno.writeTextFile(
    `${ctx.outDir}/${compareFiles.paretoPlot}`,
    panelGrid({
      panels,
      title: "Pareto fronts per embedding space (shared axes)",
      caption: `compare ${ctx.key.slice(0, 12)} · ${
        p.spaces.map((s, i) =>
          `${s}: pareto ${pareto.get(s)![0]?.key.slice(0, 12) ?? "?"}${
            i < p.spaces.length - 1 ? "" : ""
          }`
        ).join(" · ")
      }`,
    }),
  );

  // ---- claims and truth checks per space ------------------------------------------------------
  const verdicts: SpaceVerdict[] = [];
  const cl = {
    space: [] as string[],
    kind: [] as string[],
    name: [] as string[],
    value: [] as number[],
    null_value: [] as number[],
    threshold: [] as number[],
    holds: [] as boolean[],
    holds_seeds: [] as number[],
    spread: [] as Spread[],
    nullSpread: [] as Spread[],
  };
  for (const space of p.spaces) {
    const perSeed: SeedClaim[][] = [];
    for (const a of claims.get(space)!) {
      // JSON writes NaN as null: read it back as NaN.
      const rows = await readJson<SeedClaim[]>(`${a.dir}/${claimsFiles.claims}`);
      perSeed.push(
        rows.map((c) => ({ ...c, value: finite(c.value), null_value: finite(c.null_value) })),
      );
    }
    const folded = claimsOverSeeds(perSeed);
    const checks: ValidationCheck[] = [];
    for (const a of validate.get(space)!) {
      const rows = await readJson<ValidationCheck[]>(`${a.dir}/${validateFiles.checks}`);
      checks.push(
        ...rows.map((v) => ({ ...v, value: finite(v.value), threshold: finite(v.threshold) })),
      );
    }
    for (const c of folded) {
      cl.space.push(space);
      cl.kind.push("claim");
      cl.name.push(c.claim);
      cl.value.push(c.value);
      cl.null_value.push(c.null_value);
      cl.threshold.push(NaN);
      cl.holds.push(c.holds);
      cl.holds_seeds.push(c.holdsCount);
      cl.spread.push(c.spread);
      cl.nullSpread.push(c.nullSpread);
    }
    for (const v of checks) {
      cl.space.push(space);
      cl.kind.push("check");
      cl.name.push(v.check);
      cl.value.push(v.value);
      cl.null_value.push(NaN);
      cl.threshold.push(v.threshold);
      cl.holds.push(v.holds);
      cl.holds_seeds.push(v.holds ? 1 : 0);
      cl.spread.push(spreadOf([v.value]));
      cl.nullSpread.push(spreadOf([]));
    }
    const c0 = concepts.get(space)![0];
    const c = c0
      ? Number(
        (await readJson<{ concepts: number }>(`${c0.dir}/${conceptsFiles.summary}`)).concepts,
      )
      : NaN;
    const dm = dims.get(space)!;
    const holds = folded.filter((x) => x.holds), fails = folded.filter((x) => !x.holds);
    const name = (id: string) => SHORT_NAMES[id] ?? id;
    const parts = [
      `${space} (d=${dm.d}, c=${c}, ${dm.rows} rows): ${holds.length} of ${folded.length} claims hold`,
    ];
    if (holds.length) parts.push(`holds: ${holds.map((x) => name(x.claim)).join(", ")}`);
    if (fails.length) parts.push(`fails: ${fails.map((x) => name(x.claim)).join(", ")}`);
    if (checks.length) {
      parts.push(`truth ${checks.filter((v) => v.holds).length}/${checks.length} checks pass`);
    }
    verdicts.push({
      space,
      d: dm.d,
      c,
      rows: dm.rows,
      line: parts.join("; "),
      claims: folded.map((x) => ({ ...x, spreadText: formatSpread(x.spread, p.fewSeeds) })),
      validation: checks,
    });
  }
  await writeTable(`${ctx.outDir}/${compareFiles.claims}`, {
    space: cl.space,
    kind: cl.kind,
    name: cl.name,
    value: Float64Array.from(cl.value),
    null_value: Float64Array.from(cl.null_value),
    threshold: Float64Array.from(cl.threshold),
    holds: cl.holds,
    holds_seeds: Int32Array.from(cl.holds_seeds),
    ...spreadColumns("seed_", cl.spread),
    ...spreadColumns("null_seed_", cl.nullSpread),
  });

  // ---- stability by frequency decile ----------------------------------------------------------
  const st = {
    space: [] as string[],
    scope: [] as string[],
    bin: [] as number[],
    s: [] as Spread[],
  };
  for (const space of p.spaces) {
    for (const [scope, matches] of [["seeds", seedMatches], ["diets", dietMatches]] as const) {
      const curves: number[][] = [];
      for (const a of matches.get(space)!) {
        const j = await readJson<{ by_frequency: { mean_cosine: number | null }[] }>(
          `${a.dir}/${matchFiles.stability}`,
        );
        curves.push(j.by_frequency.map((b) => finite(b.mean_cosine)));
      }
      binsOverCurves(curves).forEach((s, b) => {
        st.space.push(space);
        st.scope.push(scope);
        st.bin.push(b + 1);
        st.s.push(s);
      });
    }
  }
  await writeTable(`${ctx.outDir}/${compareFiles.stability}`, {
    space: st.space,
    scope: st.scope,
    decile: Int32Array.from(st.bin),
    ...spreadColumns("cosine_", st.s),
  });

  // ---- per-space figures: unimodal fraction and bridges, over the seeds ------------------------
  const unimodal: Spread[] = [], weighted: Spread[] = [];
  const bridgeTop: Spread[] = [], bridgeUni: Spread[] = [], bridgeCoactive: Spread[] = [];
  const nullTop: Spread[] = [], nullUni: Spread[] = [];
  for (const space of p.spaces) {
    const u: number[] = [], w: number[] = [];
    for (const a of concepts.get(space)!) {
      const s = await readJson<
        { unimodal: { fraction: number; energy_weighted_fraction: number } }
      >(
        `${a.dir}/${conceptsFiles.summary}`,
      );
      u.push(finite(s.unimodal?.fraction));
      w.push(finite(s.unimodal?.energy_weighted_fraction));
    }
    unimodal.push(spreadOf(u));
    weighted.push(spreadOf(w));
    const top: number[] = [],
      uni: number[] = [],
      co: number[] = [],
      nt: number[] = [],
      nu: number[] = [];
    for (const a of bridges.get(space)!) {
      const s = await readJson<Record<string, unknown> & { null_model?: Record<string, unknown> }>(
        `${a.dir}/${bridgeFiles.summary}`,
      );
      top.push(finite(s.top_value));
      uni.push(finite(s.unimodal_pairs));
      co.push(finite(s.coactive_pairs));
      nt.push(finite(s.null_model?.top_value));
      nu.push(finite(s.null_model?.unimodal_pairs));
    }
    bridgeTop.push(spreadOf(top));
    bridgeUni.push(spreadOf(uni));
    bridgeCoactive.push(spreadOf(co));
    nullTop.push(spreadOf(nt));
    nullUni.push(spreadOf(nu));
  }
  await writeTable(`${ctx.outDir}/${compareFiles.spaces}`, {
    space: [...p.spaces],
    d: Int32Array.from(verdicts, (v) => v.d),
    c: Int32Array.from(verdicts, (v) => v.c),
    rows: Int32Array.from(verdicts, (v) => v.rows),
    claims_hold: Int32Array.from(verdicts, (v) => v.claims.filter((c) => c.holds).length),
    claims: Int32Array.from(verdicts, (v) => v.claims.length),
    checks_pass: Int32Array.from(verdicts, (v) => v.validation.filter((c) => c.holds).length),
    checks: Int32Array.from(verdicts, (v) => v.validation.length),
    ...spreadColumns("unimodal_fraction_", unimodal),
    ...spreadColumns("unimodal_energy_weighted_", weighted),
    ...spreadColumns("bridge_top_value_", bridgeTop),
    ...spreadColumns("bridge_unimodal_pairs_", bridgeUni),
    ...spreadColumns("bridge_coactive_pairs_", bridgeCoactive),
    ...spreadColumns("null_bridge_top_value_", nullTop),
    ...spreadColumns("null_bridge_unimodal_pairs_", nullUni),
  });

  const summary = {
    metric: p.metric,
    spaces: verdicts.map((v, i) => ({
      ...v,
      unimodal_fraction: unimodal[i],
      unimodal_energy_weighted: weighted[i],
      bridge_top_value: bridgeTop[i],
      bridge_unimodal_pairs: bridgeUni[i],
      pareto: pareto.get(v.space)![0]?.id ?? null,
      runs: {
        claims: claims.get(v.space)!.map((a) => a.id),
        concepts: concepts.get(v.space)!.map((a) => a.id),
        bridges: bridges.get(v.space)!.map((a) => a.id),
      },
    })),
  };
  await Deno.writeTextFile(
    `${ctx.outDir}/${compareFiles.summary}`,
    JSON.stringify(
      summary,
      (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
      2,
    ) +
      "\n",
  );
  ctx.setMeta("spaces", p.spaces);
  ctx.setMeta("verdicts", verdicts.map((v) => v.line));
  for (const v of verdicts) ctx.log.info(v.line);
}

/** The `compare` stage (list inputs over every space; params = `analysis.compare` + spaces). */
export const compareStage = defineStage({
  name: "compare",
  version: 1,
  description: "every embedding space side by side: Pareto panels, claims, stability, bridges",
  inputs,
  params: compareParams,
  outputs: Object.values(compareFiles),
  run,
});
