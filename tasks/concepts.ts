/**
 * The `concepts` stage (method.md §4). Inputs: `encode` (codes.parquet of the eval rows),
 * `dataset` (embeddings.parquet: the eval rows give each code row its modality), optional
 * `train` (dictionary.parquet: fixes the number of concepts c).
 *
 * Outputs:
 * - `concepts.parquet`: concept i32, energy f64, frequency f64, energy_image f64, energy_text f64,
 *   frequency_image f64, frequency_text f64, modality_score f64 (NaN for dead concepts)
 * - `modality_histogram.parquet`: bin i32, lo f64, hi f64, count i32, energy f64
 * - `modality_histogram.svg`
 * - `summary.json`: sizes, live/dead counts, the unimodal fraction (plain and energy-weighted)
 */
import { defineStage, type StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { readEmbeddingsCached } from "./read_embeddings.ts";
import { readCodes } from "../data/codes_io.ts";
import { readTableInfo, writeTable } from "../data/table_io.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import {
  conceptStatistics,
  imageFlags,
  modalityHistogram,
  unimodalFraction,
} from "../analysis/concept_stats.ts";
import { histogram } from "../explorer/plot/mod.ts";
import { type ConceptsConfig, conceptsConfig } from "./config/analysis_match.ts";
import { trainedFiles } from "../learn/trained.ts";
import { datasetFiles } from "./dataset.ts";
import { encodeFiles } from "./encode.ts";

/** Files of a concepts key folder. */
export const conceptsFiles = {
  /** Per-concept statistics and modality score (read with data/concepts_io.ts). */
  concepts: "concepts.parquet",
  histogram: "modality_histogram.parquet",
  histogramSvg: "modality_histogram.svg",
  summary: "summary.json",
} as const;

/** Input roles of the concepts stage. */
const inputs = { encode: "encode", dataset: "dataset|embed", "train?": "train" } as const;

/** The concepts stage's run context. */
type Ctx = StageContext<ConceptsConfig, typeof inputs>;

/** Number of concepts: the train dictionary's, else the encode manifest's, else the codes file's. */
async function conceptCount(ctx: Ctx, codesPath: string): Promise<number> {
  const train = ctx.inputs.train;
  if (train) return (await readDictionary(`${train.dir}/${trainedFiles.dictionary}`)).c;
  const fromMeta = Number(ctx.inputs.encode.meta?.cols);
  if (Number.isInteger(fromMeta) && fromMeta > 0) return fromMeta;
  const fromFile = Number((await readTableInfo(codesPath)).metadata.cols);
  if (Number.isInteger(fromFile) && fromFile > 0) return fromFile;
  throw new UserError(
    `${codesPath}: the number of concepts is unknown (no \`cols\` metadata); bind the \`train\` input`,
  );
}

/** JSON-safe number (NaN and ±∞ become null). */
function num(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

async function run(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  const { encode, dataset, train } = ctx.inputs;
  const embPath = `${dataset.dir}/${datasetFiles.embeddings}`;
  const codesPath = `${encode.dir}/${encodeFiles.codes}`;
  const set = await readEmbeddingsCached(embPath, { split: "eval", source: false });
  if (set.n === 0) {
    throw new UserError(`${embPath}: column \`split\` has no eval rows; configure an eval split`);
  }
  const c = await conceptCount(ctx, codesPath);
  const fileRows = Number((await readTableInfo(codesPath)).metadata.rows);
  if (Number.isInteger(fileRows) && fileRows !== set.n) {
    throw new UserError(
      `${codesPath}: encodes ${fileRows} rows but ${embPath} has ${set.n} eval rows; re-run encode on this dataset`,
    );
  }
  const codes = await readCodes(codesPath, set.n, c);
  const stats = conceptStatistics(codes, imageFlags(set.modality));
  const out = (file: string) => `${ctx.outDir}/${file}`;
  const uni = unimodalFraction(stats, { low: p.unimodalLow, high: p.unimodalHigh });
  const hist = modalityHistogram(stats, p.histogramBins);

  const concept = new Int32Array(c);
  for (let j = 0; j < c; j++) concept[j] = j;
  await writeTable(out(conceptsFiles.concepts), {
    concept,
    energy: stats.energy,
    frequency: stats.frequency,
    energy_image: stats.energyImage,
    energy_text: stats.energyText,
    frequency_image: stats.frequencyImage,
    frequency_text: stats.frequencyText,
    modality_score: stats.modalityScore,
  });
  const bins = p.histogramBins;
  await writeTable(out(conceptsFiles.histogram), {
    bin: Int32Array.from({ length: bins }, (_, b) => b),
    lo: hist.edges.slice(0, bins),
    hi: hist.edges.slice(1),
    count: hist.counts,
    energy: hist.energy,
  });
  await Deno.writeTextFile(
    out(conceptsFiles.histogramSvg),
    histogram({
      edges: hist.edges,
      counts: hist.counts,
      title: "Modality score of live concepts",
      xLabel: "modality score m_j (0 = text only, 1 = image only)",
      yLabel: "concepts",
      caption: `${ctx.id} · encode ${encode.key.slice(0, 12)} · dataset ${
        dataset.key.slice(0, 12)
      } · unimodal ${(100 * uni.fraction).toFixed(1)}% (m<${p.unimodalLow} or m>${p.unimodalHigh})`,
    }),
  );
  const summary = {
    concepts: c,
    rows: set.n,
    image_rows: stats.nImage,
    text_rows: stats.nText,
    live: uni.live,
    dead: c - uni.live,
    unimodal: {
      low: uni.low,
      high: uni.high,
      image_only: uni.imageOnly,
      text_only: uni.textOnly,
      fraction: num(uni.fraction),
      energy_weighted_fraction: num(uni.energyWeightedFraction),
    },
    histogram: { bins, counts: Array.from(hist.counts) },
    inputs: {
      encode: encode.id,
      dataset: dataset.id,
      ...(train ? { train: train.id } : {}),
    },
  };
  await Deno.writeTextFile(out(conceptsFiles.summary), JSON.stringify(summary, null, 2) + "\n");
  ctx.setMeta("concepts", c);
  ctx.setMeta("rows", set.n);
  ctx.setMeta("live", uni.live);
  ctx.setMeta("unimodal_fraction", num(uni.fraction));
  ctx.log.info(
    `concepts: ${uni.live}/${c} live, unimodal ${(100 * uni.fraction).toFixed(1)}% ` +
      `(energy-weighted ${(100 * uni.energyWeightedFraction).toFixed(1)}%)`,
  );
}

/** The `concepts` stage (inputs `encode`, `dataset`, optional `train`). */
export const conceptsStage = defineStage({
  name: "concepts",
  version: 1,
  description: "concept energy, frequency and modality score; unimodal fraction and histogram",
  inputs,
  params: conceptsConfig,
  outputs: Object.values(conceptsFiles),
  run,
});
