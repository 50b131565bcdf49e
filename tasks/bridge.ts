/**
 * The `bridge` stage (method.md §7). Inputs: `train` (dictionary.parquet), `encode` (codes.parquet
 * of the eval rows), `dataset` (embeddings.parquet: pair ids and modalities of the eval rows),
 * `concepts` (concepts.parquet: modality_score per concept). Computes the Bridge Score by blocks
 * of concepts (analysis/bridge.ts), and the same on the null dictionary (seeded random, same size, top-k codes on the eval rows).
 *
 * Outputs:
 * - `bridge_pairs.parquet`: rank, concept_image, concept_text, bridge, coactivation, cosine,
 *   modality_image, modality_text, unimodal (both single-modality at the unimodal threshold)
 * - `self_bridges.parquet`: concept, bridge (B_jj), coactivation, modality_score
 * - `bridge_mass.parquet`: concept, mass_image (Σ_j |B_ij|), mass_text (Σ_i |B_ij|), mean_image,
 *   mean_text
 * - `summary.json`: options, pair counts, unimodal top-pair values, and the null model's figures
 */
import { defineStage, type StageContext } from "../pipeline/stage.ts";
import { readEmbeddingsShown } from "./read_embeddings.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { readCodes } from "../data/codes_io.ts";
import { readModalityScores } from "../data/concepts_io.ts";
import { writeTable } from "../data/table_io.ts";
import { withProgress } from "../pipeline/progress.ts";
import { trainedFiles } from "../learn/trained.ts";
import { bridgeScores, pairCodes, unimodalPairValues } from "../analysis/bridge.ts";
import { nullK, nullModel } from "../analysis/null_dictionary.ts";
import { conceptStatistics, imageFlags } from "../analysis/concept_stats.ts";
import { syncProducts } from "../analysis/sync_products.ts";
import { unimodalFractionOf } from "../analysis/truth_checks.ts";
import { type BridgeConfig, bridgeConfig } from "./config/analysis.ts";
import { datasetFiles } from "./dataset.ts";
import { encodeFiles } from "./encode.ts";
import { conceptsFiles } from "./concepts.ts";

/** Files of a bridge key folder. */
export const bridgeFiles = {
  /** The top image→text concept pairs. */
  pairs: "bridge_pairs.parquet",
  selfBridges: "self_bridges.parquet",
  mass: "bridge_mass.parquet",
  /** Options, counts, unimodal pair values, and the null model's. */
  summary: "summary.json",
} as const;

/** Input roles of the bridge stage. */
const inputs = {
  train: "train",
  encode: "encode",
  dataset: "dataset|embed",
  concepts: "concepts",
} as const;

async function run(ctx: StageContext<BridgeConfig, typeof inputs>): Promise<void> {
  const p = ctx.params;
  const { train, encode, dataset, concepts } = ctx.inputs;
  const dict = await readDictionary(`${train.dir}/${trainedFiles.dictionary}`);
  const { c, d } = dict;
  const src = `${dataset.dir}/${datasetFiles.embeddings}`;
  const set = await readEmbeddingsShown(ctx.log, "read eval rows", src, {
    split: "eval",
    expectDim: d,
    source: false,
  });
  const codes = await readCodes(`${encode.dir}/${encodeFiles.codes}`, set.n, c);
  const m = await readModalityScores(`${concepts.dir}/${conceptsFiles.concepts}`, c);
  const products = await syncProducts();
  const opts = {
    normalisation: p.normalisation,
    topN: p.topN,
    imageMin: p.imageMin,
    textMax: p.textMax,
    cosineBlock: products.cosineBlock,
  } as const;
  const paired = pairCodes(codes, set.pairIds, set.modality, p.pairing);
  const r = await withProgress(
    ctx.log,
    "bridge",
    c,
    "concepts",
    (onProgress) =>
      bridgeScores(paired, dict.directions, c, d, { ...opts, modalityScore: m, onProgress }),
  );
  ctx.log.info(`bridge: ${r.pairs} pairs, ${r.coactivePairs} co-active concept pairs`);

  // Null model: same rows, random dictionary of the same size, top-k codes.
  const kNull = nullK(p.null.k, [train.params.k]);
  const nul = await withProgress(
    ctx.log,
    "null codes",
    set.n,
    "rows",
    (onProgress) =>
      nullModel(set.vectors, set.n, d, c, {
        seed: p.null.seed,
        k: kNull,
        scores: products.scores,
        onProgress,
      }),
  );
  const nullM = conceptStatistics(nul.codes, imageFlags(set.modality)).modalityScore;
  const nullPaired = pairCodes(nul.codes, set.pairIds, set.modality, p.pairing);
  const nr = await withProgress(
    ctx.log,
    "null bridge",
    c,
    "concepts",
    (onProgress) =>
      bridgeScores(nullPaired, nul.dictionary, c, d, { ...opts, modalityScore: nullM, onProgress }),
  );

  const t = p.unimodalThreshold;
  await writeTable(`${ctx.outDir}/${bridgeFiles.pairs}`, {
    rank: Int32Array.from(r.top, (_, q) => q + 1),
    concept_image: Int32Array.from(r.top, (x) => x.i),
    concept_text: Int32Array.from(r.top, (x) => x.j),
    bridge: Float64Array.from(r.top, (x) => x.value),
    coactivation: Float64Array.from(r.top, (x) => x.coactivation),
    cosine: Float64Array.from(r.top, (x) => x.cosine),
    modality_image: Float64Array.from(r.top, (x) => m[x.i]),
    modality_text: Float64Array.from(r.top, (x) => m[x.j]),
    unimodal: r.top.map((x) => m[x.i] > 1 - t && m[x.j] < t),
  });
  const concept = Int32Array.from({ length: c }, (_, j) => j);
  await writeTable(`${ctx.outDir}/${bridgeFiles.selfBridges}`, {
    concept,
    bridge: r.selfBridge,
    coactivation: r.selfCoactivation,
    modality_score: m,
  });
  await writeTable(`${ctx.outDir}/${bridgeFiles.mass}`, {
    concept,
    mass_image: r.massImage,
    mass_text: r.massText,
    mean_image: r.meanImage,
    mean_text: r.meanText,
  });
  const uni = unimodalPairValues(r, m, t);
  const nullUni = unimodalPairValues(nr, nullM, t);
  const summary = {
    normalisation: p.normalisation,
    pairing: p.pairing,
    pairs: r.pairs,
    coactive_pairs: r.coactivePairs,
    top_n: r.top.length,
    top_value: r.top[0]?.value ?? 0,
    unimodal_threshold: t,
    unimodal_pairs: uni.length,
    unimodal_pair_values: uni,
    null_model: {
      seed: p.null.seed,
      k: kNull,
      coactive_pairs: nr.coactivePairs,
      top_n: nr.top.length,
      top_value: nr.top[0]?.value ?? 0,
      unimodal_pairs: nullUni.length,
      unimodal_pair_values: nullUni,
      unimodal_fraction: unimodalFractionOf(nullM, t),
    },
  };
  await Deno.writeTextFile(
    `${ctx.outDir}/${bridgeFiles.summary}`,
    JSON.stringify(summary, null, 2),
  );
  ctx.setMeta("pairs", r.pairs);
  ctx.setMeta("coactive_pairs", r.coactivePairs);
}

/** The `bridge` stage (inputs `train`, `encode`, `dataset`, `concepts`; params = `analysis.bridge`). */
export const bridgeStage = defineStage({
  name: "bridge",
  // 2: co-activations by blocks of concepts, cosines from the BLAS block product (float32) and
  // the bridge mass summed in concept order (values agree with version 1 to ~1e-6 relative).
  version: 2,
  description: "Bridge Score: top image→text concept pairs, self-bridges, bridge mass (+ null)",
  inputs,
  params: bridgeConfig,
  outputs: Object.values(bridgeFiles),
  run,
});
