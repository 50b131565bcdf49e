/**
 * Concept labels (method.md §10): the log-odds scores against a float64 transcription of the
 * formula; tokenisation; the text-tower route on planted vocabulary directions; label accuracy
 * against planted truth on the synthetic world (≥ 90% of matched concepts named); on COCO-500, a
 * concept whose top captions share a word has that word in its label.
 */
import assert from "node:assert/strict";
import {
  captionCorpus,
  captionTerms,
  logOddsTerms,
  pickLabelTerms,
} from "../analysis/labels_caption.ts";
import { conceptCaptionRows, pairCaptionRows } from "../analysis/labels_select.ts";
import {
  centredUnitRows,
  directionsWithoutGap,
  towerLabels,
} from "../analysis/labels_text_tower.ts";
import { labelAccuracy, labelNames, truthLabels } from "../analysis/labels_truth.ts";
import { generateWorld } from "../data/synthetic_world.ts";
import { worldSection } from "../tasks/config/dataset.ts";
import { encodeTopK } from "../analysis/null_dictionary.ts";
import { Rng } from "../data/random.ts";
import { normalizeRows } from "../data/rows.ts";
import { importNpy } from "../data/import_npy.ts";
import { exists, missing } from "./helpers/prerequisites.ts";

const COCO = "../shared/data/coco500-clip-vitb16";

/** Caption labels of every concept of codes `z` over rows with texts `texts`. */
function captionLabels(
  z: ReturnType<typeof encodeTopK>,
  isImage: Uint8Array,
  pairIds: string[],
  texts: (string | null)[],
): { labels: string[]; source: string[]; rows: number[][] } {
  const corpus = captionCorpus(texts);
  const chosen = conceptCaptionRows(z, isImage, pairCaptionRows(pairIds, isImage));
  return {
    labels: chosen.map((ch) =>
      pickLabelTerms(
        logOddsTerms(corpus, ch.rows, { top: 12 }),
        3,
        1.96,
        0.8,
        Math.ceil(0.1 * ch.rows.length),
      ).map((t) => t.term).join(", ")
    ),
    source: chosen.map((ch) => ch.source),
    rows: chosen.map((ch) => ch.rows),
  };
}

Deno.test("labels: caption terms drop stop words, make bigrams within phrases only", () => {
  assert.deepEqual(captionTerms("A dog's frisbee, on the Green grass."), [
    "dog",
    "frisbee",
    "dog frisbee",
    "green",
    "grass",
    "green grass",
  ]);
  assert.deepEqual(captionTerms("caption of concepts: c3 c17"), [
    "caption",
    "concepts",
    "c3",
    "c17",
    "c3 c17",
  ]);
});

Deno.test("labels: log-odds z-scores equal the float64 formula (Monroe et al. 2008)", () => {
  const texts = [
    "red bus on street",
    "red bus parked",
    "a red car",
    "green tree",
    "tree and bus",
    "blue sky",
  ];
  const corpus = captionCorpus(texts);
  const a0 = 10;
  const got = logOddsTerms(corpus, [0, 1], { priorStrength: a0, top: 50, minCount: 1 });
  // Reference: count every term by hand.
  const all = texts.flatMap((t) => captionTerms(t));
  const sel = [0, 1].flatMap((q) => captionTerms(texts[q]));
  const N = all.length, n = sel.length;
  const want = new Map<string, number>();
  for (const w of new Set(sel)) {
    const y = sel.filter((x) => x === w).length, Y = all.filter((x) => x === w).length;
    const a = a0 * Y / N;
    const delta = Math.log((y + a) / (n + a0 - y - a)) - Math.log((Y + a) / (N + a0 - Y - a));
    const z = delta / Math.sqrt(1 / (y + a) + 1 / (Y + a));
    if (z > 0) want.set(w, z);
  }
  assert.equal(got.length, want.size);
  for (const t of got) assert.ok(Math.abs(t.z - want.get(t.term)!) < 1e-12, t.term);
  // "red bus" is in both selected captions and nowhere else: the best term.
  assert.equal(got[0].term, "red bus");
  assert.deepEqual(pickLabelTerms(got, 3, 0).map((t) => t.term).slice(0, 1), ["red bus"]);
  assert.ok(labelNames("red bus, parked", "parked") && !labelNames("red bus", "re"));
});

Deno.test("labels: a phrase replaces its word, boilerplate in most captions is dropped", () => {
  const t = (term: string, z: number, count: number) => ({ term, z, count, corpusCount: 0 });
  // "hot dog" holds 9 of the 10 uses of "dog": it replaces it; "dog park" (3 of 10) does not.
  assert.deepEqual(
    pickLabelTerms([t("dog", 9, 10), t("hot dog", 8, 9), t("dog park", 7, 3), t("bun", 5, 4)])
      .map((x) => x.term),
    ["hot dog", "bun"],
  );
  // The selected captions are short, so the template words are over-represented in them.
  const texts = Array.from(
    { length: 20 },
    (_, q) => q < 4 ? "caption of things: x0" : `caption of things: y${q % 3} z${q % 4} w${q % 5}`,
  );
  const corpus = captionCorpus(texts);
  const sel = [0, 1, 2, 3];
  const got = logOddsTerms(corpus, sel, { minCount: 1, top: 20 }).map((x) => x.term);
  assert.deepEqual(got, ["x0"]);
  const all = logOddsTerms(corpus, sel, { minCount: 1, top: 20, maxDocumentFrequency: 1 });
  assert.ok(all.some((x) => x.term === "caption"), "without the cut the template word scores");
});

Deno.test("labels: the text tower finds the vocabulary entry of a direction despite the modality gap", async () => {
  const d = 16, v = 40, c = 10;
  const rng = new Rng(5);
  const vocab = normalizeRows(rng.fillNormal(new Float32Array(v * d)), v, d);
  const textMean = Float32Array.from({ length: d }, () => 0.3 * rng.normal());
  const gap = Float32Array.from({ length: d }, () => rng.normal());
  // Embeddings of the entries: the text mean plus the entry's direction.
  const emb = Float32Array.from(vocab, (x, i) => x + textMean[i % d]);
  // Concept j points at entry 3j plus a large component along the gap.
  const dict = new Float32Array(c * d);
  for (let j = 0; j < c; j++) {
    for (let t = 0; t < d; t++) dict[j * d + t] = vocab[(3 * j) * d + t] + 2 * gap[t];
  }
  const prepared = centredUnitRows(emb, v, d, textMean);
  const withGap = await towerLabels(directionsWithoutGap(dict, c, d, gap), c, prepared, v, d, 1);
  // Fails without the gap removal: the gap dominates the raw directions.
  const raw = await towerLabels(directionsWithoutGap(dict, c, d), c, prepared, v, d, 1);
  let hits = 0, rawHits = 0;
  for (let j = 0; j < c; j++) {
    if (withGap[j][0].entry === 3 * j) hits++;
    if (raw[j][0].entry === 3 * j) rawHits++;
  }
  assert.ok(hits >= 9, `${hits}/10 found`);
  assert.ok(rawHits < hits, `raw directions find ${rawHits}`);
});

Deno.test("labels: on the synthetic world, labels name the matched planted concept (≥ 90%)", () => {
  const { set, truth } = generateWorld({ ...worldSection.parse({}), images: 2500 }, 11);
  const d = set.d, m = truth.m;
  // A dictionary of every planted direction slightly perturbed (cos ≈ 0.95), plus 32 random ones.
  const rng = new Rng(3);
  const extra = 32, c = m + extra;
  const dict = new Float32Array(c * d);
  for (let p = 0; p < m; p++) {
    for (let t = 0; t < d; t++) {
      dict[p * d + t] = truth.directions[p * d + t] + 0.3 * rng.normal() / Math.sqrt(d);
    }
  }
  rng.fillNormal(dict.subarray(m * d));
  normalizeRows(dict, c, d);
  const z = encodeTopK(set.vectors, set.n, d, dict, c, 8);
  const isImage = Uint8Array.from(set.modality, (x) => (x === "image" ? 1 : 0));
  const texts = set.modality.map((x, r) => (x === "text" ? set.source![r] : null));
  const { labels, source } = captionLabels(z, isImage, set.pairIds, texts);
  const tl = truthLabels(truth, dict, c);
  const acc = labelAccuracy(
    labels,
    tl,
    0.7,
    (j) => tl[j].kind !== "image" && source[j] !== "none",
  );
  assert.ok(acc.matched >= 100, `matched ${acc.matched}`);
  assert.ok(acc.fraction >= 0.9, `named ${acc.named}/${acc.matched}`);
  // Image-only planted concepts are labelled from the captions of their images' pairs.
  const imageOnly = tl.map((_, j) => j).filter((j) => tl[j].kind === "image" && tl[j].cosine > 0.7);
  const viaPairs = imageOnly.filter((j) => source[j] === "image pairs").length;
  assert.ok(
    viaPairs >= 0.75 * imageOnly.length,
    `${viaPairs}/${imageOnly.length} via image pairs: ${imageOnly.map((j) => source[j])}`,
  );
});

Deno.test({
  name: "labels: on COCO-500, a concept whose top captions share a word has it in its label",
  ignore: missing("coco500", await exists(`${COCO}/pairs.json`)),
  async fn() {
    const set = await importNpy({
      path: `${COCO}/image_text_embeddings.npy`,
      pairs: `${COCO}/pairs.json`,
    });
    const d = set.d;
    const isImage = Uint8Array.from(set.modality, (x) => (x === "image" ? 1 : 0));
    const texts = set.modality.map((x, r) => (x === "text" ? set.source![r] : null));
    // Concept directions: the centred mean caption embedding of captions with a frequent word.
    const words = new Map<string, number[]>();
    texts.forEach((t, r) => {
      if (t === null) return;
      for (const w of new Set(captionTerms(t).filter((x) => !x.includes(" ")))) {
        if (!words.has(w)) words.set(w, []);
        words.get(w)!.push(r);
      }
    });
    const textRows = texts.flatMap((t, r) => (t === null ? [] : [r]));
    const mean = new Float64Array(d);
    for (const r of textRows) for (let t = 0; t < d; t++) mean[t] += set.vectors[r * d + t];
    for (let t = 0; t < d; t++) mean[t] /= textRows.length;
    const chosenWords = [...words.entries()].filter(([, rows]) => rows.length >= 15)
      .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1)).slice(0, 40);
    const c = chosenWords.length;
    const dict = new Float32Array(c * d);
    chosenWords.forEach(([, rows], j) => {
      for (const r of rows) {
        for (let t = 0; t < d; t++) dict[j * d + t] += set.vectors[r * d + t] - mean[t];
      }
    });
    normalizeRows(dict, c, d);
    const z = encodeTopK(set.vectors, set.n, d, dict, c, 4);
    const { labels, rows } = captionLabels(z, isImage, set.pairIds, texts);
    // For each concept: words shared by at least 60% of its (≥ 10) top captions.
    let checked = 0, named = 0;
    const misses: string[] = [];
    for (let j = 0; j < c; j++) {
      const top = rows[j];
      if (top.length < 10) continue;
      const df = new Map<string, number>();
      for (const r of top) {
        for (const w of new Set(captionTerms(texts[r]!).filter((x) => !x.includes(" ")))) {
          df.set(w, (df.get(w) ?? 0) + 1);
        }
      }
      const shared = [...df.entries()].filter(([, n]) => n >= 0.6 * top.length);
      if (shared.length === 0) continue;
      // The most shared word must be in the label (as a word or inside a bigram).
      shared.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      const w = shared[0][0];
      checked++;
      if (labelNames(labels[j], w)) named++;
      else misses.push(`${w} → "${labels[j]}"`);
    }
    assert.ok(checked >= 10, `checked ${checked}`);
    assert.ok(named >= 0.9 * checked, `${named}/${checked}; misses: ${misses.join("; ")}`);
  },
});
