/**
 * The `match` stage (method.md §5): stability of run a's concepts in run b. Inputs: `a`, `b`
 * (train: dictionary.parquet) and `concepts_a` (concepts of run a: frequency and energy).
 * The exact maximum-cosine one-to-one matching (analysis/assignment.ts, certified optimal) of the
 * rows of D_a and D_b, S = D_a·D_bᵀ through the host GEMM.
 *
 * Outputs:
 * - `matches.parquet`: concept_a i32, concept_b i32 (−1: unmatched, only when c_a > c_b),
 *   cosine f64 (s_j; NaN when unmatched), frequency f64, energy f64 (of concept_a in run a)
 * - `stability.json`: overall stability, live/dead means, s_j by frequency and energy quantile
 *   bins, top-N most frequent against the rest, the solver's certificate
 * - `stability_vs_frequency.svg`: mean s_j per frequency and per energy decile
 */
import { defineStage, type StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { readTable, writeTable } from "../data/table_io.ts";
import { normalizedRows } from "../data/rows.ts";
import { hostGemm } from "../kernels/host_gemm.ts";
import type { QuantileBin } from "../analysis/deciles.ts";
import {
  matchDictionaries,
  type SimilarityFn,
  stabilityReport,
  unitRowDeviation,
} from "../analysis/stability.ts";
import { linePlot } from "../explorer/plot/mod.ts";
import { type MatchConfig, matchConfig } from "./config/analysis_match.ts";
import { trainedFiles } from "../learn/trained.ts";
import { conceptsFiles } from "./concepts.ts";

/** Files of a match key folder. */
export const matchFiles = {
  /** One row per concept of run a: its match in run b, cosine, frequency, energy. */
  matches: "matches.parquet",
  stability: "stability.json",
  plot: "stability_vs_frequency.svg",
} as const;

/** Input roles of the match stage: runs `a` and `b`, and the concepts of run a. */
const inputs = { a: "train", b: "train", concepts_a: "concepts" } as const;

/** S = A·Bᵀ through the shared host GEMM (OpenBLAS when available). */
export const hostSimilarity: SimilarityFn = (a, ca, b, cb, d) =>
  hostGemm(a, b, ca, d, cb, { transB: true });

/** JSON-safe number (NaN and ±∞ become null). */
function num(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function binsJson(bins: QuantileBin[]) {
  return bins.map((q) => ({
    bin: q.bin,
    count: q.count,
    key_min: num(q.keyMin),
    key_max: num(q.keyMax),
    mean_cosine: num(q.mean),
  }));
}

/** Read a dictionary, renormalising its rows (with a warning) when they are not unit. */
async function unitDictionary(ctx: StageContext<MatchConfig, typeof inputs>, role: "a" | "b") {
  const path = `${ctx.inputs[role].dir}/${trainedFiles.dictionary}`;
  const dict = await readDictionary(path);
  const dev = unitRowDeviation(dict.directions, dict.c, dict.d);
  if (dev > 1e-3) {
    ctx.log.warn(
      `${path}: rows are not unit (max |‖D_j‖ − 1| = ${dev.toExponential(2)}); normalising`,
    );
    dict.directions = normalizedRows(dict.directions, dict.c, dict.d);
  }
  return { ...dict, path };
}

async function run(ctx: StageContext<MatchConfig, typeof inputs>): Promise<void> {
  const p = ctx.params;
  const { a, b, concepts_a: conceptsA } = ctx.inputs;
  const da = await unitDictionary(ctx, "a");
  const db = await unitDictionary(ctx, "b");
  if (da.d !== db.d) {
    throw new UserError(
      `${db.path}: dimension ${db.d} differs from ${da.path} (${da.d}); match runs on the same embeddings`,
    );
  }
  const statsPath = `${conceptsA.dir}/${conceptsFiles.concepts}`;
  const st = await readTable(statsPath, { concept: "i32", frequency: "f64", energy: "f64" });
  if (st.concept.length !== da.c) {
    throw new UserError(
      `${statsPath}: ${st.concept.length} concepts but ${da.path} has ${da.c}; bind concepts_a to the concepts of run a`,
    );
  }
  const frequency = new Float64Array(da.c), energy = new Float64Array(da.c);
  for (let r = 0; r < da.c; r++) {
    const j = st.concept[r];
    if (j < 0 || j >= da.c) {
      throw new UserError(`${statsPath}: column \`concept\` row ${r} holds ${j}; re-run concepts`);
    }
    frequency[j] = st.frequency[r];
    energy[j] = st.energy[r];
  }

  const t0 = performance.now();
  const match = await matchDictionaries(da.directions, da.c, db.directions, db.c, da.d, {
    similarity: hostSimilarity,
    method: p.solver === "dense" ? "dense" : "auto",
    candidatesPerRow: p.candidatesPerRow,
    candidatesPerCol: p.candidatesPerCol,
  });
  const seconds = (performance.now() - t0) / 1000;
  const rep = stabilityReport(match, frequency, energy, {
    bins: p.bins,
    topN: p.topN,
    includeDead: p.includeDead,
  });

  const conceptA = new Int32Array(da.c);
  for (let j = 0; j < da.c; j++) conceptA[j] = j;
  await writeTable(`${ctx.outDir}/${matchFiles.matches}`, {
    concept_a: conceptA,
    concept_b: match.matchOfA,
    cosine: match.cosine,
    frequency,
    energy,
  });
  const sv = match.solver;
  const stability = {
    overall: num(rep.overall),
    concepts_a: da.c,
    concepts_b: db.c,
    d: da.d,
    matched: Math.min(da.c, db.c),
    live: rep.live,
    dead: rep.dead,
    mean_live: num(rep.meanLive),
    mean_dead: num(rep.meanDead),
    bins: p.bins,
    include_dead: p.includeDead,
    by_frequency: binsJson(rep.byFrequency),
    by_energy: binsJson(rep.byEnergy),
    top_n: {
      n: rep.topN.n,
      mean_top: num(rep.topN.meanTop),
      mean_rest: num(rep.topN.meanRest),
      count_top: rep.topN.countTop,
      count_rest: rep.topN.countRest,
      gap: num(rep.topN.meanTop - rep.topN.meanRest),
    },
    solver: {
      method: sv.method,
      certified: sv.certified,
      rounds: sv.rounds,
      candidate_edges: sv.candidateEdges,
      min_reduced_cost: sv.minReducedCost,
    },
    runs: { a: a.id, b: b.id, concepts_a: conceptsA.id },
  };
  await Deno.writeTextFile(
    `${ctx.outDir}/${matchFiles.stability}`,
    JSON.stringify(stability, null, 2) + "\n",
  );
  const x = rep.byFrequency.map((q) => q.bin + 1);
  await Deno.writeTextFile(
    `${ctx.outDir}/${matchFiles.plot}`,
    linePlot({
      series: [
        { label: "frequency decile", x, y: rep.byFrequency.map((q) => q.mean) },
        { label: "energy decile", x, y: rep.byEnergy.map((q) => q.mean), dashed: true },
      ],
      title: `Stability of run a's concepts in run b (overall ${rep.overall.toFixed(3)})`,
      xLabel: `quantile bin (1 = rarest / lowest energy, ${p.bins} = most frequent)`,
      yLabel: "mean cosine to the matched concept",
      caption: `${ctx.id} · a ${a.id} (${a.key.slice(0, 12)}) · b ${b.id} (${b.key.slice(0, 12)})`,
    }),
  );
  ctx.setMeta("concepts_a", da.c);
  ctx.setMeta("concepts_b", db.c);
  ctx.setMeta("stability", num(rep.overall));
  ctx.log.info(
    `match: stability ${rep.overall.toFixed(4)} over ${Math.min(da.c, db.c)} pairs ` +
      `(${sv.method} solver, ${sv.rounds} round(s), certified) in ${seconds.toFixed(2)} s`,
  );
}

/** The `match` stage (inputs `a`, `b`: train; `concepts_a`: concepts of run a). */
export const matchStage = defineStage({
  name: "match",
  version: 1,
  description: "exact concept matching of two runs; stability by frequency and energy",
  inputs,
  params: matchConfig,
  outputs: Object.values(matchFiles),
  run,
});
