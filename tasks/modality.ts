/**
 * The `modality` stage (method.md §6). Inputs: `train` (dictionary.parquet), `dataset`
 * (embeddings.parquet). Fits every configured modality subspace on the `fitSplit` rows, projects
 * each concept on it (p_j = ‖M·D_jᵀ‖² against k/d), and scores each concept direction as an
 * image-vs-text classifier on the eval rows (AUROC), beside the full logistic probe, random
 * directions and the null dictionary (seeded random, same size, top-k codes on the eval rows).
 *
 * Outputs:
 * - `subspaces.parquet`: method utf8, component i32, direction fixed_size_list<float32>[d]
 * - `projections.parquet`: dictionary utf8 (`learned` | `null`), concept i32,
 *   projection_<method> f64 per method, modality_score f64 (null dictionary only; NaN for learned)
 * - `classifier.parquet`: kind utf8 (`learned` | `null` | `probe` | `random`), index i32,
 *   auroc f64, separation f64 (= |2·AUROC − 1|)
 * - `summary.json`: per method k, baseline k/d, median projection (learned and null), INLP
 *   accuracies; probe AUROC; median separations (learned, null, random); null model (seed, k).
 */
import type { Stage, StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { Rng } from "../data/random.ts";
import { randomUnitRows } from "../data/rows.ts";
import type { EmbeddingSet } from "../data/embeddings.ts";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { f32List, writeTable } from "../data/table_io.ts";
import type { Column } from "../data/table_io.ts";
import type { HostSparseCodes } from "../learn/learner.ts";
import { hostGemmProvider } from "../kernels/host_gemm.ts";
import { auroc } from "../analysis/auroc.ts";
import { fitLogisticProbe, probeScores } from "../analysis/logistic_probe.ts";
import type { GramFn } from "../analysis/lda.ts";
import type { CosineBlockFn } from "../analysis/bridge.ts";
import { encodeTopK, randomDictionary, type ScoreBlockFn } from "../analysis/null_dictionary.ts";
import {
  aurocSeparation,
  conceptProjections,
  directionAurocs,
  imageLabels,
  modalitySubspace,
  randomProjectionBaseline,
} from "../analysis/modality_subspace.ts";
import { median } from "../analysis/claims.ts";
import { conceptStatistics } from "../analysis/concept_stats.ts";
import { type ModalityConfig, modalityConfig, type NullModelConfig } from "./config/analysis.ts";

/** BLAS-backed synchronous products for the analyses, or JS defaults when BLAS is unavailable. */
export interface SyncProducts {
  scores?: ScoreBlockFn;
  gram?: GramFn;
  cosineBlock?: CosineBlockFn;
  /** Provider name, for the log. */
  name: string;
}

/** Products through the shared host GEMM provider when it is synchronous (OpenBLAS, JS). */
export async function syncProducts(): Promise<SyncProducts> {
  const p = await hostGemmProvider();
  if (!p.sync) return { name: `${p.name} (async: JS loops used)` };
  const run = (
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
  ) => {
    const c = new Float32Array(m * n);
    p.sgemm({ transA, transB, m, n, k, alpha: 1, beta: 0, a, b, c });
    return c;
  };
  return {
    name: p.name,
    scores: (x, rows, d, dict, c) => run(false, true, rows, c, d, x, dict),
    gram: (x, n, d) => run(true, false, d, d, n, x, x),
    cosineBlock: (dict, c, d, start, count) =>
      run(false, true, count, c, d, dict.subarray(start * d, (start + count) * d), dict),
  };
}

/** Row indices (table order) of `set` in `split`, optionally a seeded stratified subsample. */
export function rowsOf(
  set: EmbeddingSet,
  split: "train" | "eval" | "all",
  maxRows: number,
  seed: number,
): number[] {
  const rows: number[] = [];
  for (let i = 0; i < set.n; i++) if (split === "all" || set.split[i] === split) rows.push(i);
  if (maxRows <= 0 || rows.length <= maxRows) return rows;
  const rng = new Rng(seed);
  const out: number[] = [];
  for (const mod of ["image", "text"]) {
    const members = rows.filter((i) => set.modality[i] === mod);
    rng.shuffle(members);
    out.push(...members.slice(0, Math.round((members.length * maxRows) / rows.length)));
  }
  return out.sort((a, b) => a - b);
}

/** Vectors of the listed rows (rows×d). */
export function gatherVectors(set: EmbeddingSet, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * set.d);
  rows.forEach((r, q) => out.set(set.vectors.subarray(r * set.d, (r + 1) * set.d), q * set.d));
  return out;
}

/**
 * Modality score m_j = E_img[z_j] / (E_img[z_j] + E_txt[z_j]) of codes whose row r has modality
 * `isImage[r]` (per-modality means; NaN for dead concepts): analysis/concept_stats.ts. Length cols.
 */
export function codesModalityScores(z: HostSparseCodes, isImage: ArrayLike<number>): Float64Array {
  return conceptStatistics(z, isImage).modalityScore;
}

/** k of the null model: configured, else the train run's `k` parameter, else `fallback`. */
export function nullK(
  cfg: NullModelConfig,
  trainParams: Record<string, unknown>,
  fallback = 8,
): number {
  if (cfg.k > 0) return cfg.k;
  const k = Number(trainParams.k);
  return Number.isInteger(k) && k > 0 ? k : fallback;
}

async function run(ctx: StageContext<ModalityConfig>): Promise<void> {
  const p = ctx.params;
  const train = ctx.inputs.train, dataset = ctx.inputs.dataset;
  if (!train || !dataset) throw new UserError("modality: needs inputs `train` and `dataset`");
  const dict = await readDictionary(`${train.dir}/dictionary.parquet`);
  const set = await readEmbeddings(`${dataset.dir}/embeddings.parquet`, { expectDim: dict.d });
  const { c, d } = dict;
  const products = await syncProducts();
  ctx.log.info(`modality: c=${c} d=${d}, products via ${products.name}`);

  const fitRows = rowsOf(set, p.fitSplit, p.maxRows, p.seed);
  const evalRows = rowsOf(set, "eval", p.maxRows, p.seed + 1);
  if (fitRows.length === 0) {
    throw new UserError(
      `analysis.modality.fitSplit: ${dataset.dir}/embeddings.parquet has no ${p.fitSplit} rows; set fitSplit to the split that has rows`,
    );
  }
  if (evalRows.length === 0) {
    throw new UserError(`${dataset.dir}/embeddings.parquet: column \`split\` has no eval rows`);
  }
  const xFit = gatherVectors(set, fitRows);
  const yFit = imageLabels(fitRows.map((r) => set.modality[r]));
  const xEval = gatherVectors(set, evalRows);
  const yEval = imageLabels(evalRows.map((r) => set.modality[r]));

  const kNull = nullK(p.null, train.params);
  const nullDict = randomDictionary(c, d, p.null.seed);
  const nullCodes = encodeTopK(xEval, evalRows.length, d, nullDict, c, kNull, {
    scores: products.scores,
  });
  const nullModality = codesModalityScores(nullCodes, yEval);

  const subMethod: string[] = [], subComponent: number[] = [];
  const subDirs: number[] = [];
  const projLearned: Record<string, Float64Array> = {};
  const projNull: Record<string, Float64Array> = {};
  const methods: Record<string, unknown> = {};
  const bar = ctx.log.progress("subspaces", p.methods.length);
  for (const method of p.methods) {
    const sub = modalitySubspace(method, xFit, fitRows.length, d, yFit, {
      probe: { l2: p.l2 },
      ldaShrinkage: p.ldaShrinkage,
      gram: products.gram,
      nullspace: {
        tolerance: p.nullspaceTolerance,
        maxDirections: p.nullspaceMaxDirections,
        seed: p.seed,
      },
    });
    for (let r = 0; r < sub.k; r++) {
      subMethod.push(method);
      subComponent.push(r);
      subDirs.push(...sub.basis.subarray(r * d, (r + 1) * d));
    }
    projLearned[method] = conceptProjections(sub.basis, sub.k, d, dict.directions, c);
    projNull[method] = conceptProjections(sub.basis, sub.k, d, nullDict, c);
    const baseline = randomProjectionBaseline(sub.k, d);
    const below = (v: Float64Array) => v.filter((x) => x < baseline).length / v.length;
    methods[method] = {
      k: sub.k,
      baseline,
      median_projection: median(projLearned[method]),
      null_median_projection: median(projNull[method]),
      fraction_below_baseline: below(projLearned[method]),
      null_fraction_below_baseline: below(projNull[method]),
      ...(sub.accuracies ? { nullspace_accuracies: sub.accuracies } : {}),
    };
    bar.tick(1, method);
  }
  bar.done();

  // Concepts, null concepts, the full probe and random directions as classifiers on eval rows.
  const nEval = evalRows.length;
  const learnedAuc = directionAurocs(xEval, nEval, d, yEval, dict.directions, c, {
    scores: products.scores,
  });
  const nullAuc = directionAurocs(xEval, nEval, d, yEval, nullDict, c, { scores: products.scores });
  const probe = fitLogisticProbe(xFit, fitRows.length, d, yFit, { l2: p.l2 });
  const probeAuc = auroc(probeScores(xEval, nEval, d, probe.w, probe.b), yEval);
  const rand = randomUnitRows(p.randomDirections, d, p.seed + 7);
  const randAuc = p.randomDirections > 0
    ? directionAurocs(xEval, nEval, d, yEval, rand, p.randomDirections, { scores: products.scores })
    : new Float64Array(0);

  await writeTable(`${ctx.outDir}/subspaces.parquet`, {
    method: subMethod,
    component: Int32Array.from(subComponent),
    direction: f32List(Float32Array.from(subDirs), d),
  });
  const projCols: Record<string, Column> = {
    dictionary: [...Array(c).fill("learned"), ...Array(c).fill("null")],
    concept: Int32Array.from({ length: 2 * c }, (_, q) => q % c),
  };
  for (const method of p.methods) {
    const col = new Float64Array(2 * c);
    col.set(projLearned[method], 0);
    col.set(projNull[method], c);
    projCols[`projection_${method}`] = col;
  }
  const ms = new Float64Array(2 * c).fill(NaN);
  ms.set(nullModality, c);
  projCols.modality_score = ms;
  await writeTable(`${ctx.outDir}/projections.parquet`, projCols);

  const kinds: string[] = [], index: number[] = [], aucs: number[] = [];
  const push = (kind: string, v: ArrayLike<number>) => {
    for (let q = 0; q < v.length; q++) {
      kinds.push(kind);
      index.push(q);
      aucs.push(v[q]);
    }
  };
  push("learned", learnedAuc);
  push("null", nullAuc);
  push("probe", [probeAuc]);
  push("random", randAuc);
  await writeTable(`${ctx.outDir}/classifier.parquet`, {
    kind: kinds,
    index: Int32Array.from(index),
    auroc: Float64Array.from(aucs),
    separation: Float64Array.from(aucs, aurocSeparation),
  });
  const summary = {
    c,
    d,
    fit_rows: fitRows.length,
    eval_rows: nEval,
    methods,
    probe_auroc: probeAuc,
    probe_separation: aurocSeparation(probeAuc),
    median_separation: median(Array.from(learnedAuc, aurocSeparation)),
    null_median_separation: median(Array.from(nullAuc, aurocSeparation)),
    random_median_separation: median(Array.from(randAuc, aurocSeparation)),
    null_model: { seed: p.null.seed, k: kNull },
    products: products.name,
  };
  await Deno.writeTextFile(`${ctx.outDir}/summary.json`, JSON.stringify(summary, null, 2));
  ctx.setMeta("c", c);
  ctx.setMeta("d", d);
}

/** The `modality` stage (inputs `train`, `dataset`; params = `analysis.modality`). */
export const modalityStage: Stage<ModalityConfig> = {
  name: "modality",
  version: 1,
  description: "modality subspaces, concept projections vs k/d, concepts as modality classifiers",
  inputs: { train: "train", dataset: "dataset|embed" },
  params: modalityConfig,
  outputs: ["subspaces.parquet", "projections.parquet", "classifier.parquet", "summary.json"],
  run,
};
