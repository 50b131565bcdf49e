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
import { defineStage, type StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { randomUnitRows } from "../data/rows.ts";
import { readEmbeddingsShown } from "./read_embeddings.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { f32List, writeTable } from "../data/table_io.ts";
import { withProgress } from "../pipeline/progress.ts";
import type { Column } from "../data/table_io.ts";
import { trainedFiles } from "../learn/trained.ts";
import { auroc } from "../analysis/auroc.ts";
import { fitLogisticProbe, probeScores } from "../analysis/logistic_probe.ts";
import { nullK, nullModel } from "../analysis/null_dictionary.ts";
import { syncProducts } from "../analysis/sync_products.ts";
import { gatherVectors, rowsOf } from "../analysis/embedding_rows.ts";
import {
  aurocSeparation,
  conceptProjections,
  directionAurocs,
  modalitySubspace,
  randomProjectionBaseline,
} from "../analysis/modality_subspace.ts";
import { median } from "../analysis/claims.ts";
import { conceptStatistics, imageFlags } from "../analysis/concept_stats.ts";
import { type ModalityConfig, modalityConfig } from "./config/analysis.ts";
import { datasetFiles } from "./dataset.ts";

/** Files of a modality key folder. */
export const modalityFiles = {
  subspaces: "subspaces.parquet",
  /** Per-concept projections (learned and null dictionary) and the null's modality scores. */
  projections: "projections.parquet",
  /** Concepts, null concepts, the probe and random directions as modality classifiers. */
  classifier: "classifier.parquet",
  summary: "summary.json",
} as const;

/** Input roles of the modality stage. */
const inputs = { train: "train", dataset: "dataset|embed" } as const;

async function run(ctx: StageContext<ModalityConfig, typeof inputs>): Promise<void> {
  const p = ctx.params;
  const { train, dataset } = ctx.inputs;
  const dict = await readDictionary(`${train.dir}/${trainedFiles.dictionary}`);
  const src = `${dataset.dir}/${datasetFiles.embeddings}`;
  const set = await readEmbeddingsShown(ctx.log, "read rows", src, { expectDim: dict.d });
  const { c, d } = dict;
  const products = await syncProducts();
  ctx.log.info(`modality: c=${c} d=${d}, products via ${products.name}`);

  const fitRows = rowsOf(set, p.fitSplit, p.maxRows, p.seed);
  const evalRows = rowsOf(set, "eval", p.maxRows, p.seed + 1);
  if (fitRows.length === 0) {
    throw new UserError(
      `analysis.modality.fitSplit: ${dataset.dir}/${datasetFiles.embeddings} has no ${p.fitSplit} rows; set fitSplit to the split that has rows`,
    );
  }
  if (evalRows.length === 0) {
    throw new UserError(
      `${dataset.dir}/${datasetFiles.embeddings}: column \`split\` has no eval rows`,
    );
  }
  const xFit = gatherVectors(set, fitRows);
  const yFit = imageFlags(fitRows.map((r) => set.modality[r]));
  const xEval = gatherVectors(set, evalRows);
  const yEval = imageFlags(evalRows.map((r) => set.modality[r]));

  const kNull = nullK(p.null.k, [train.params.k]);
  const nul = await withProgress(
    ctx.log,
    "null codes",
    evalRows.length,
    "rows",
    (onProgress) =>
      nullModel(xEval, evalRows.length, d, c, {
        seed: p.null.seed,
        k: kNull,
        scores: products.scores,
        onProgress,
      }),
  );
  const nullDict = nul.dictionary;
  const nullModality = conceptStatistics(nul.codes, yEval).modalityScore;

  const subMethod: string[] = [], subComponent: number[] = [];
  const subDirs: number[] = [];
  const projLearned: Record<string, Float64Array> = {};
  const projNull: Record<string, Float64Array> = {};
  const methods: Record<string, unknown> = {};
  // The full probe below is the `logistic` construction's fit (same rows, labels and options).
  let logisticFit: ReturnType<typeof fitLogisticProbe> | undefined;
  const bar = ctx.log.progress("subspaces", p.methods.length);
  for (const method of p.methods) {
    const sub = modalitySubspace(method, xFit, fitRows.length, d, yFit, {
      probe: { l2: p.l2 },
      onLogisticFit: (fit) => (logisticFit = fit),
      ldaShrinkage: p.ldaShrinkage,
      gram: products.gram,
      nullspace: {
        tolerance: p.nullspaceTolerance,
        maxDirections: p.nullspaceMaxDirections,
        seed: p.seed,
        onFit: (k, acc) =>
          ctx.log.info(
            `modality: nullspace, ${k} direction(s) out, probe accuracy ${acc.toFixed(3)}`,
          ),
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
  const rand = randomUnitRows(p.randomDirections, d, p.seed + 7);
  const classified = await withProgress(
    ctx.log,
    "classifiers",
    2 * c + p.randomDirections,
    "directions",
    (advance) => {
      const at = (base: number) => ({
        scores: products.scores,
        onProgress: (k: number) => advance(base + k),
      });
      const learned = directionAurocs(xEval, nEval, d, yEval, dict.directions, c, at(0));
      const nulls = directionAurocs(xEval, nEval, d, yEval, nullDict, c, at(c));
      const random = p.randomDirections > 0
        ? directionAurocs(xEval, nEval, d, yEval, rand, p.randomDirections, at(2 * c))
        : new Float64Array(0);
      return { learned, nulls, random };
    },
  );
  const { learned: learnedAuc, nulls: nullAuc, random: randAuc } = classified;
  const probe = logisticFit ?? fitLogisticProbe(xFit, fitRows.length, d, yFit, { l2: p.l2 });
  const probeAuc = auroc(probeScores(xEval, nEval, d, probe.w, probe.b), yEval);

  await writeTable(`${ctx.outDir}/${modalityFiles.subspaces}`, {
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
  await writeTable(`${ctx.outDir}/${modalityFiles.projections}`, projCols);

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
  await writeTable(`${ctx.outDir}/${modalityFiles.classifier}`, {
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
  await Deno.writeTextFile(
    `${ctx.outDir}/${modalityFiles.summary}`,
    JSON.stringify(summary, null, 2),
  );
  ctx.setMeta("c", c);
  ctx.setMeta("d", d);
}

/** The `modality` stage (inputs `train`, `dataset`; params = `analysis.modality`). */
export const modalityStage = defineStage({
  name: "modality",
  version: 1,
  description: "modality subspaces, concept projections vs k/d, concepts as modality classifiers",
  inputs,
  params: modalityConfig,
  outputs: Object.values(modalityFiles),
  run,
});
