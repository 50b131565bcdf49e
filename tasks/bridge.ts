/**
 * The `bridge` stage (method.md §7). Inputs: `train` (dictionary.parquet), `encode` (codes.parquet
 * of the eval rows), `dataset` (embeddings.parquet: pair ids and modalities of the eval rows),
 * `concepts` (concepts.parquet: modality_score per concept). Computes the Bridge Score sparsely,
 * and the same on the null dictionary (seeded random, same size, top-k codes on the eval rows).
 *
 * Outputs:
 * - `bridge_pairs.parquet`: rank, concept_image, concept_text, bridge, coactivation, cosine,
 *   modality_image, modality_text, unimodal (both single-modality at the unimodal threshold)
 * - `self_bridges.parquet`: concept, bridge (B_jj), coactivation, modality_score
 * - `bridge_mass.parquet`: concept, mass_image (Σ_j |B_ij|), mass_text (Σ_i |B_ij|), mean_image,
 *   mean_text
 * - `summary.json`: options, pair counts, unimodal top-pair values, and the null model's figures
 */
import type { Stage, StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { readCodes } from "../data/codes_io.ts";
import { readTable, writeTable } from "../data/table_io.ts";
import { type BridgeResult, bridgeScores, pairCodes } from "../analysis/bridge.ts";
import { encodeTopK, randomDictionary } from "../analysis/null_dictionary.ts";
import { imageLabels } from "../analysis/modality_subspace.ts";
import { unimodalFractionOf } from "../analysis/truth_checks.ts";
import { type BridgeConfig, bridgeConfig } from "./config/analysis.ts";
import { codesModalityScores, gatherVectors, nullK, syncProducts } from "./modality.ts";

/** Read the `modality_score` column of a concepts table (c rows, in concept order). */
export async function readModalityScores(path: string, c: number): Promise<Float64Array> {
  const t = await readTable(path);
  const concept = t.concept as ArrayLike<number> | undefined;
  const score = t.modality_score as ArrayLike<number> | undefined;
  if (!concept || !score || typeof score[0] === "string") {
    throw new UserError(
      `${path}: columns \`concept\` and numeric \`modality_score\` are required; re-run concepts`,
    );
  }
  const out = new Float64Array(c).fill(NaN);
  for (let r = 0; r < concept.length; r++) {
    const j = Number(concept[r]);
    if (!(j >= 0 && j < c)) {
      throw new UserError(`${path}: column \`concept\` row ${r} holds ${j}, outside 0..${c - 1}`);
    }
    out[j] = Number(score[r]);
  }
  return out;
}

/** Values of top pairs joining an image-only (m > 1 − t) and a text-only (m < t) concept. */
export function unimodalPairValues(
  r: BridgeResult,
  m: ArrayLike<number>,
  t: number,
): number[] {
  return r.top.filter((p) => m[p.i] > 1 - t && m[p.j] < t).map((p) => p.value);
}

async function run(ctx: StageContext<BridgeConfig>): Promise<void> {
  const p = ctx.params;
  const { train, encode, dataset, concepts } = ctx.inputs;
  if (!train || !encode || !dataset || !concepts) {
    throw new UserError("bridge: needs inputs `train`, `encode`, `dataset` and `concepts`");
  }
  const dict = await readDictionary(`${train.dir}/dictionary.parquet`);
  const { c, d } = dict;
  const set = await readEmbeddings(`${dataset.dir}/embeddings.parquet`, {
    split: "eval",
    expectDim: d,
    source: false,
  });
  const codes = await readCodes(`${encode.dir}/codes.parquet`, set.n, c);
  const m = await readModalityScores(`${concepts.dir}/concepts.parquet`, c);
  const products = await syncProducts();
  const opts = {
    normalisation: p.normalisation,
    topN: p.topN,
    imageMin: p.imageMin,
    textMax: p.textMax,
    cosineBlock: products.cosineBlock,
  } as const;
  const paired = pairCodes(codes, set.pairIds, set.modality, p.pairing);
  const r = bridgeScores(paired, dict.directions, c, d, { ...opts, modalityScore: m });
  ctx.log.info(`bridge: ${r.pairs} pairs, ${r.coactivePairs} co-active concept pairs`);

  // Null model: same rows, random dictionary of the same size, top-k codes.
  const kNull = nullK(p.null, train.params);
  const nullDict = randomDictionary(c, d, p.null.seed);
  const nullCodes = encodeTopK(
    gatherVectors(set, [...Array(set.n).keys()]),
    set.n,
    d,
    nullDict,
    c,
    kNull,
    {
      scores: products.scores,
    },
  );
  const nullM = codesModalityScores(nullCodes, imageLabels(set.modality));
  const nr = bridgeScores(
    pairCodes(nullCodes, set.pairIds, set.modality, p.pairing),
    nullDict,
    c,
    d,
    {
      ...opts,
      modalityScore: nullM,
    },
  );

  const t = p.unimodalThreshold;
  await writeTable(`${ctx.outDir}/bridge_pairs.parquet`, {
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
  await writeTable(`${ctx.outDir}/self_bridges.parquet`, {
    concept,
    bridge: r.selfBridge,
    coactivation: r.selfCoactivation,
    modality_score: m,
  });
  await writeTable(`${ctx.outDir}/bridge_mass.parquet`, {
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
  await Deno.writeTextFile(`${ctx.outDir}/summary.json`, JSON.stringify(summary, null, 2));
  ctx.setMeta("pairs", r.pairs);
  ctx.setMeta("coactive_pairs", r.coactivePairs);
}

/** The `bridge` stage (inputs `train`, `encode`, `dataset`, `concepts`; params = `analysis.bridge`). */
export const bridgeStage: Stage<BridgeConfig> = {
  name: "bridge",
  version: 1,
  description: "Bridge Score: top image→text concept pairs, self-bridges, bridge mass (+ null)",
  inputs: { train: "train", encode: "encode", dataset: "dataset|embed", concepts: "concepts" },
  params: bridgeConfig,
  outputs: ["bridge_pairs.parquet", "self_bridges.parquet", "bridge_mass.parquet", "summary.json"],
  run,
};
