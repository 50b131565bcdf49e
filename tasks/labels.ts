/**
 * The `labels` stage (method.md §10): a short label and its evidence for every concept of one run.
 * Inputs: `encode` (codes of the eval rows), `dataset` (embeddings.parquet: the eval rows' texts in
 * `source`, and, for a synthetic world, the planted truth tables; an `embed` instance also names
 * the text tower's model folder), `train` (dictionary.parquet).
 *
 * Output `labels.parquet`, one row per concept:
 * - `concept` i32, `label` utf8 (the caption label, else the text-tower label, else empty)
 * - `source` utf8: `captions` | `image pairs` | `none` (which captions the caption label reads)
 * - `caption_label` utf8, `caption_evidence` utf8 (`term z=… n=…/N=…` per term, `; `-separated),
 *   `captions_used` i32, `caption_rows` i32 (caption rows where the concept fires)
 * - `tower_label` utf8, `tower_evidence` utf8 (`term cos=…`): only with a text tower
 * - `truth_concept` i32, `truth_name` utf8, `truth_kind` utf8, `truth_cosine` f64: only on a
 *   synthetic world (−1 / empty / NaN otherwise)
 * Also `summary.json` (counts, label accuracy against truth) and `vocabulary.parquet` when the
 * text tower ran (term, count).
 */
import { z } from "zod";
import { defineStage, type StageContext } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";
import { exists } from "../pipeline/cache.ts";
import { readEmbeddingsCached } from "./read_embeddings.ts";
import { readCodes } from "../data/codes_io.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { writeTable } from "../data/table_io.ts";
import { readGroundTruth, TRUTH_FILES } from "../data/ground_truth_io.ts";
import type { GroundTruth } from "../data/ground_truth.ts";
import {
  captionCorpus,
  type LabelTerm,
  logOddsTerms,
  pickLabelTerms,
} from "../analysis/labels_caption.ts";
import { conceptCaptionRows, pairCaptionRows } from "../analysis/labels_select.ts";
import {
  centredUnitRows,
  directionsWithoutGap,
  towerLabels,
  vocabularyOf,
} from "../analysis/labels_text_tower.ts";
import { labelAccuracy, type TruthLabel, truthLabels } from "../analysis/labels_truth.ts";
import { syncProducts } from "../analysis/sync_products.ts";
import { openTextTower } from "../embed/text_tower.ts";
import { datasetFiles } from "./dataset.ts";
import { trainedFiles } from "../learn/trained.ts";

/** Parameters of the labels stage. */
export const labelsParams = z.strictObject({
  /** N: top-activating captions (or images, for image-only concepts) per concept. */
  top: z.number().int().min(1).default(50),
  /** A concept firing on fewer caption rows takes the captions of its top images' pairs. */
  minCaptions: z.number().int().min(1).default(5),
  /** α₀ of the informative Dirichlet prior. */
  priorStrength: z.number().gt(0).default(100),
  /** Terms per label (at most). */
  terms: z.number().int().min(1).max(10).default(3),
  /** A term after the first enters the label only with z at least this. */
  minZ: z.number().default(1.96),
  /** A term after the first must occur in at least this fraction of the captions read. */
  minTermShare: z.number().min(0).max(1).default(0.1),
  /** Text tower: `none` skips it; `auto` uses the embed model when the data comes from one. */
  tower: z.enum(["auto", "none"]).default("auto"),
  /** Text tower: prompt template (`{}` is the vocabulary entry). */
  towerPrompt: z.string().default("{}"),
  /** Text tower: vocabulary size (most frequent words and bigrams of the captions). */
  towerVocabulary: z.number().int().min(1).default(4096),
  /** Truth labels: a match below this cosine does not count as matched in the accuracy. */
  truthCosine: z.number().min(-1).max(1).default(0.7),
});

/** Validated labels parameters. */
export type LabelsParams = z.infer<typeof labelsParams>;

/** Evidence text of caption terms. */
function captionEvidence(terms: readonly LabelTerm[]): string {
  return terms.map((t) => `${t.term} z=${t.z.toFixed(2)} n=${t.count}/N=${t.corpusCount}`)
    .join("; ");
}

/** Mean of the rows of `x` (n×d) where `keep[r]`. */
function meanOf(x: Float32Array, n: number, d: number, keep: (r: number) => boolean): Float64Array {
  const m = new Float64Array(d);
  let k = 0;
  for (let r = 0; r < n; r++) {
    if (!keep(r)) continue;
    k++;
    for (let t = 0; t < d; t++) m[t] += x[r * d + t];
  }
  for (let t = 0; t < d; t++) m[t] /= Math.max(1, k);
  return m;
}

/** Files of a `labels` key folder. */
export const labelsFiles = {
  /** One row per concept: label, source, evidence (explorer's `label` column). */
  labels: "labels.parquet",
  /** Label accuracy against planted truth (synthetic worlds) and counts. */
  summary: "summary.json",
} as const;

const inputs = { encode: "encode", dataset: "dataset|embed", train: "train" } as const;

async function run(ctx: StageContext<LabelsParams, typeof inputs>): Promise<void> {
  const p = ctx.params;
  const { encode, dataset, train } = ctx.inputs;
  const embPath = `${dataset.dir}/${datasetFiles.embeddings}`;
  const set = await readEmbeddingsCached(embPath, { split: "eval" });
  if (set.n === 0) {
    throw new UserError(`${embPath}: column \`split\` has no eval rows; configure an eval split`);
  }
  const dict = await readDictionary(`${train.dir}/${trainedFiles.dictionary}`);
  const { c, d } = dict;
  if (d !== set.d) {
    throw new UserError(`${embPath}: d = ${set.d} but the dictionary has d = ${d}`);
  }
  const codes = await readCodes(`${encode.dir}/codes.parquet`, set.n, c);
  const isImage = Uint8Array.from(set.modality, (m) => (m === "image" ? 1 : 0));
  const texts = set.modality.map((m, r) => (m === "text" ? set.source?.[r] ?? null : null));

  // ---- captions --------------------------------------------------------------------------
  const corpus = captionCorpus(texts);
  const chosen = conceptCaptionRows(codes, isImage, pairCaptionRows(set.pairIds, isImage), {
    top: p.top,
    minCaptions: p.minCaptions,
  });
  const captionLabel: string[] = [], captionEv: string[] = [];
  const bar = ctx.log.progress("labels: captions", c, "concepts");
  for (let j = 0; j < c; j++) {
    const scored = logOddsTerms(corpus, chosen[j].rows, {
      priorStrength: p.priorStrength,
      top: 4 * p.terms,
    });
    const picked = pickLabelTerms(
      scored,
      p.terms,
      p.minZ,
      0.8,
      Math.ceil(p.minTermShare * chosen[j].rows.length),
    );
    captionLabel.push(picked.map((t) => t.term).join(", "));
    captionEv.push(captionEvidence(picked));
    if ((j & 255) === 255) bar.tick(256);
  }
  bar.tick(c & 255);
  bar.done();

  // ---- text tower --------------------------------------------------------------------------
  let towerLabel: string[] | null = null, towerEv: string[] | null = null;
  let vocab: string[] = [];
  const model = dataset.stage === "embed" ? dataset.params.model as Record<string, unknown> : null;
  if (p.tower === "auto" && model && corpus.terms.length > 0) {
    vocab = vocabularyOf(corpus.terms, corpus.count, { max: p.towerVocabulary });
    if (vocab.length > 0) {
      const encoder = await openTextTower(model, dataset.meta);
      let emb: Float32Array;
      try {
        ctx.log.info(`labels: embedding ${vocab.length} vocabulary entries with the text tower`);
        emb = await encoder.embedTexts(vocab.map((w) => p.towerPrompt.replaceAll("{}", w)));
      } finally {
        await encoder.release();
      }
      if (emb.length !== vocab.length * d) {
        throw new UserError(
          `labels: the text tower gives ${
            emb.length / vocab.length
          }-dimensional embeddings but the dictionary has d = ${d}`,
        );
      }
      const textMean = meanOf(set.vectors, set.n, d, (r) => isImage[r] === 0);
      const imageMean = meanOf(set.vectors, set.n, d, (r) => isImage[r] === 1);
      const gap = Float64Array.from(imageMean, (v, t) => v - textMean[t]);
      const tl = await towerLabels(
        directionsWithoutGap(dict.directions, c, d, gap),
        c,
        centredUnitRows(emb, vocab.length, d, textMean),
        vocab.length,
        d,
        p.terms,
      );
      towerLabel = tl.map((ts) => ts.map((t) => vocab[t.entry]).join(", "));
      towerEv = tl.map((ts) =>
        ts.map((t) => `${vocab[t.entry]} cos=${t.cosine.toFixed(3)}`).join("; ")
      );
    }
  }

  // ---- truth ---------------------------------------------------------------------------------
  let truth: TruthLabel[] | null = null;
  if (await exists(`${dataset.dir}/${TRUTH_FILES.directions}`)) {
    const gt: GroundTruth = await readGroundTruth(dataset.dir);
    if (gt.d === d) truth = truthLabels(gt, dict.directions, c, (await syncProducts()).scores);
  }

  const label = captionLabel.map((l, j) => l || towerLabel?.[j] || "");
  await writeTable(`${ctx.outDir}/${labelsFiles.labels}`, {
    concept: Int32Array.from({ length: c }, (_, j) => j),
    label,
    source: chosen.map((x) => x.source),
    caption_label: captionLabel,
    caption_evidence: captionEv,
    captions_used: Int32Array.from(chosen, (x) => x.rows.length),
    caption_rows: Int32Array.from(chosen, (x) => x.firingCaptions),
    tower_label: towerLabel ?? new Array(c).fill(""),
    tower_evidence: towerEv ?? new Array(c).fill(""),
    truth_concept: Int32Array.from({ length: c }, (_, j) => truth?.[j].concept ?? -1),
    truth_name: Array.from({ length: c }, (_, j) => truth?.[j].name ?? ""),
    truth_kind: Array.from({ length: c }, (_, j) => truth?.[j].kind ?? ""),
    truth_cosine: Float64Array.from({ length: c }, (_, j) => truth?.[j].cosine ?? NaN),
  });
  if (towerLabel) {
    await writeTable(`${ctx.outDir}/vocabulary.parquet`, {
      term: vocab,
      count: Int32Array.from(vocab, (w) => corpus.count[corpus.terms.indexOf(w)]),
    });
  }
  const accuracy = truth
    ? {
      all: labelAccuracy(captionLabel, truth, p.truthCosine),
      // Concepts that fire (have captions to read) and whose planted concept reaches captions.
      captioned: labelAccuracy(
        captionLabel,
        truth,
        p.truthCosine,
        (j) => truth![j].kind !== "image" && chosen[j].source !== "none",
      ),
    }
    : null;
  const summary = {
    concepts: c,
    labelled: label.filter((l) => l !== "").length,
    sources: {
      captions: chosen.filter((x) => x.source === "captions").length,
      image_pairs: chosen.filter((x) => x.source === "image pairs").length,
      none: chosen.filter((x) => x.source === "none").length,
    },
    caption_corpus: {
      documents: texts.filter((t) => t !== null).length,
      terms: corpus.terms.length,
    },
    tower: towerLabel ? { vocabulary: vocab.length, prompt: p.towerPrompt } : null,
    truth_accuracy: accuracy,
  };
  await Deno.writeTextFile(
    `${ctx.outDir}/${labelsFiles.summary}`,
    JSON.stringify(summary, null, 2) + "\n",
  );
  ctx.setMeta("concepts", c);
  ctx.setMeta("labelled", summary.labelled);
  if (accuracy) ctx.setMeta("label_accuracy", accuracy.captioned.fraction);
  ctx.log.info(
    `labels: ${summary.labelled}/${c} concepts labelled` +
      (accuracy
        ? `; names the planted concept in ${accuracy.captioned.named}/${accuracy.captioned.matched} matched captioned concepts`
        : ""),
  );
}

/** The `labels` stage (inputs `encode`, `dataset`, `train`). */
export const labelsStage = defineStage({
  name: "labels",
  version: 1,
  description: "concept labels from captions (log-odds), the text tower and planted truth",
  inputs,
  params: labelsParams,
  outputs: Object.values(labelsFiles),
  run,
});
