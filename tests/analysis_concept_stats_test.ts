import assert from "node:assert/strict";
import { testArtifacts, testContext } from "./helpers/stage_context.ts";
import { Rng } from "../data/random.ts";
import type { HostSparseCodes } from "../learn/learner.ts";
import {
  conceptStatistics,
  imageFlags,
  modalityHistogram,
  unimodalFraction,
} from "../analysis/concept_stats.ts";
import { binnedMeans, quantileBinIndex } from "../analysis/deciles.ts";
import { encodeTopK } from "../analysis/null_dictionary.ts";
import { generateWorld, type WorldParams } from "../data/synthetic_world.ts";
import { worldSection } from "../tasks/config/dataset.ts";
import { writeEmbeddings } from "../data/embeddings_io.ts";
import { writeCodes } from "../data/codes_io.ts";
import { writeDictionary } from "../data/dictionary_io.ts";
import { readTable } from "../data/table_io.ts";
import { UserError } from "../pipeline/errors.ts";
import { conceptsStage } from "../tasks/concepts.ts";
import { conceptsConfig } from "../tasks/config/analysis_match.ts";

function close(a: number, b: number, tol = 1e-12): boolean {
  return (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
}

/** Random CSR codes with some stored zeros. */
function randomCodes(n: number, c: number, rng: Rng): HostSparseCodes {
  const rowPtr = new Int32Array(n + 1);
  const index: number[] = [], value: number[] = [];
  for (let r = 0; r < n; r++) {
    const k = rng.int(5);
    const used = new Set<number>();
    for (let t = 0; t < k; t++) {
      // concepts c-1 and c-2 never fire (dead)
      const j = rng.int(c - 2);
      if (used.has(j)) continue;
      used.add(j);
      index.push(j);
      value.push(rng.uniform() < 0.1 ? 0 : rng.uniform() * 2);
    }
    rowPtr[r + 1] = index.length;
  }
  return {
    rows: n,
    cols: c,
    rowPtr,
    index: Int32Array.from(index),
    value: Float32Array.from(value),
  };
}

Deno.test("concept statistics equal a direct dense computation", () => {
  const rng = new Rng(3);
  const n = 600, c = 40;
  const z = randomCodes(n, c, rng);
  const isImage = new Uint8Array(n);
  for (let r = 0; r < n; r++) isImage[r] = rng.uniform() < 1 / 6 ? 1 : 0;
  const st = conceptStatistics(z, isImage);
  // dense reference
  const dense = new Float64Array(n * c);
  for (let r = 0; r < n; r++) {
    for (let e = z.rowPtr[r]; e < z.rowPtr[r + 1]; e++) dense[r * c + z.index[e]] = z.value[e];
  }
  let nI = 0;
  for (let r = 0; r < n; r++) nI += isImage[r];
  assert.equal(st.nImage, nI);
  assert.equal(st.nText, n - nI);
  for (let j = 0; j < c; j++) {
    let e = 0, f = 0, eI = 0, eT = 0, fI = 0, fT = 0;
    for (let r = 0; r < n; r++) {
      const x = dense[r * c + j];
      e += x;
      f += x > 0 ? 1 : 0;
      if (isImage[r]) {
        eI += x;
        fI += x > 0 ? 1 : 0;
      } else {
        eT += x;
        fT += x > 0 ? 1 : 0;
      }
    }
    assert.ok(close(st.energy[j], e / n), `energy ${j}`);
    assert.ok(close(st.frequency[j], f / n), `frequency ${j}`);
    assert.ok(close(st.energyImage[j], eI / nI));
    assert.ok(close(st.energyText[j], eT / (n - nI)));
    assert.ok(close(st.frequencyImage[j], fI / nI));
    assert.ok(close(st.frequencyText[j], fT / (n - nI)));
    const m = eI / nI + eT / (n - nI) > 0 ? (eI / nI) / (eI / nI + eT / (n - nI)) : NaN;
    assert.ok(close(st.modalityScore[j], m), `modality ${j}: ${st.modalityScore[j]} vs ${m}`);
  }
  assert.ok(Number.isNaN(st.modalityScore[c - 1]), "dead concept has NaN modality score");
});

Deno.test("modality score cancels the 1:5 imbalance; unimodal fraction plain and energy-weighted", () => {
  // 10 image rows, 50 text rows. Concept 0: image only; 1: text only; 2: same mean in both
  // modalities (fires on every row with 1.0); 3: dead.
  const nI = 10, nT = 50, n = nI + nT;
  const rowPtr = new Int32Array(n + 1), index: number[] = [], value: number[] = [];
  const modality: string[] = [];
  for (let r = 0; r < n; r++) {
    const img = r < nI;
    modality.push(img ? "image" : "text");
    index.push(img ? 0 : 1, 2);
    value.push(img ? 3 : 0.5, 1);
    rowPtr[r + 1] = index.length;
  }
  const z = {
    rows: n,
    cols: 4,
    rowPtr,
    index: Int32Array.from(index),
    value: Float32Array.from(value),
  };
  const st = conceptStatistics(z, imageFlags(modality));
  assert.equal(st.modalityScore[0], 1);
  assert.equal(st.modalityScore[1], 0);
  assert.ok(Math.abs(st.modalityScore[2] - 0.5) < 1e-15, "imbalance cancels");
  assert.ok(Number.isNaN(st.modalityScore[3]));
  const u = unimodalFraction(st);
  assert.equal(u.live, 3);
  assert.equal(u.imageOnly, 1);
  assert.equal(u.textOnly, 1);
  assert.ok(Math.abs(u.fraction - 2 / 3) < 1e-15);
  // energies: 3·10/60 = 0.5, 0.5·50/60, 1 → weighted (0.5 + 0.41667) / (0.5 + 0.41667 + 1)
  const e0 = 0.5, e1 = 25 / 60, e2 = 1;
  assert.ok(Math.abs(u.energyWeightedFraction - (e0 + e1) / (e0 + e1 + e2)) < 1e-12);
  // A stricter threshold makes nothing unimodal except exact 0 and 1; a loose one everything.
  assert.equal(unimodalFraction(st, { low: 0.5, high: 0.5 }).fraction, 2 / 3);
  assert.throws(() => unimodalFraction(st, { low: 0.9, high: 0.1 }), RangeError);
  const h = modalityHistogram(st, 4);
  assert.deepEqual(Array.from(h.counts), [1, 0, 1, 1]);
  assert.ok(Math.abs(h.energy[3] - e0) < 1e-12);
});

Deno.test("planted image-only concepts score near 1 and text-only near 0 after top-k encoding", () => {
  const params = worldSection.parse({ images: 600 }) as WorldParams;
  const w = generateWorld(params, 7);
  const { set, truth } = w;
  // Dictionary = the planted directions; codes = top-k encoding of the embeddings.
  const z = encodeTopK(set.vectors, set.n, set.d, truth.directions, truth.m, 8);
  const st = conceptStatistics(z, imageFlags(set.modality));
  const img: number[] = [], txt: number[] = [];
  for (let i = 0; i < truth.m; i++) {
    const kind = truth.conceptKind[truth.directionConcept[i]];
    if (Number.isNaN(st.modalityScore[i])) continue;
    if (kind === "image") img.push(st.modalityScore[i]);
    if (kind === "text") txt.push(st.modalityScore[i]);
  }
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  assert.ok(img.length > 10 && txt.length > 10);
  assert.ok(mean(img) > 0.9, `image-only mean modality score ${mean(img)}`);
  assert.ok(mean(txt) < 0.1, `text-only mean modality score ${mean(txt)}`);
});

Deno.test("quantile bins: equal sizes, ordered keys, deterministic ties, exclusions", () => {
  const key = [5, 1, 1, 3, NaN, 2, 9, 7, 1, 4, 6];
  const idx = quantileBinIndex(key, 5, key.map((_, i) => i !== 10));
  assert.equal(idx[4], -1, "NaN key excluded");
  assert.equal(idx[10], -1, "excluded by mask");
  // 9 included items → bins of sizes 2,2,2,2,1 by rank; ties broken by index (1, 2, 8).
  assert.deepEqual(Array.from(idx), [3, 0, 0, 2, -1, 1, 4, 3, 1, 2, -1]);
  const bins = binnedMeans(key, key.map((k) => k * 10), 5, key.map((_, i) => i !== 10));
  assert.deepEqual(bins.map((b) => b.count), [2, 2, 2, 2, 1]);
  assert.deepEqual(bins.map((b) => b.mean), [10, 15, 35, 60, 90]);
  assert.deepEqual(bins.map((b) => [b.keyMin, b.keyMax]), [[1, 1], [1, 2], [3, 4], [5, 7], [9, 9]]);
});

// ---- the concepts stage, run with a hand-made StageContext ---------------------------------------

/** A StageContext over folders (inputs by role → dir), logging into `lines`. */
function stageCtx<P>(
  params: P,
  outDir: string,
  inputs: Record<string, string>,
  meta: Record<string, Record<string, unknown>> = {},
) {
  const opts = {
    id: "concepts[test]",
    inputs: testArtifacts(inputs, {}, meta),
    partialDir: outDir,
  };
  return testContext(params, outDir, opts);
}

Deno.test("concepts stage writes the statistics of the eval rows and rejects mismatched codes", async () => {
  const root = await Deno.makeTempDir({ prefix: "concepts_stage_" });
  try {
    const params = worldSection.parse({ images: 120, d: 32, sharedConcepts: 24 }) as WorldParams;
    const { set, truth } = generateWorld(params, 3);
    // every third image and its captions go to eval
    const split = set.pairIds.map((p) => (Number(p.slice(3)) % 3 === 0 ? "eval" : "train"));
    const full = { ...set, split: split as ("train" | "eval")[] };
    for (const dir of ["dataset", "train", "encode", "out", "out2"]) {
      await Deno.mkdir(`${root}/${dir}`);
    }
    await writeEmbeddings(`${root}/dataset/embeddings.parquet`, full);
    const evalRows = split.flatMap((s, i) => (s === "eval" ? [i] : []));
    const xEval = new Float32Array(evalRows.length * set.d);
    evalRows.forEach((r, q) =>
      xEval.set(set.vectors.subarray(r * set.d, (r + 1) * set.d), q * set.d)
    );
    const c = truth.m;
    const z = encodeTopK(xEval, evalRows.length, set.d, truth.directions, c, 4);
    await writeCodes(`${root}/encode/codes.parquet`, z);
    await writeDictionary(`${root}/train/dictionary.parquet`, truth.directions, c, set.d);

    const p = conceptsConfig.parse({ histogramBins: 10 });
    const ctx = stageCtx(p, `${root}/out`, {
      encode: `${root}/encode`,
      dataset: `${root}/dataset`,
      "train?": `${root}/train`,
    });
    await conceptsStage.run(ctx);
    for (const f of conceptsStage.outputs) await Deno.stat(`${root}/out/${f}`);
    const want = conceptStatistics(z, imageFlags(evalRows.map((r) => set.modality[r])));
    const t = await readTable(`${root}/out/concepts.parquet`, {
      concept: "i32",
      energy: "f64",
      frequency: "f64",
      frequency_text: "f64",
      modality_score: "f64",
    });
    assert.equal(t.concept.length, c);
    for (let j = 0; j < c; j++) {
      assert.equal(t.concept[j], j);
      assert.ok(close(t.energy[j], want.energy[j]));
      assert.ok(close(t.frequency[j], want.frequency[j]));
      assert.ok(close(t.frequency_text[j], want.frequencyText[j]));
      assert.ok(close(t.modality_score[j], want.modalityScore[j]));
    }
    const summary = JSON.parse(await Deno.readTextFile(`${root}/out/summary.json`));
    const uni = unimodalFraction(want);
    assert.equal(summary.concepts, c);
    assert.equal(summary.rows, evalRows.length);
    assert.equal(summary.live, uni.live);
    assert.ok(close(summary.unimodal.fraction, uni.fraction));
    const h = await readTable(`${root}/out/modality_histogram.parquet`, { count: "i32" });
    assert.equal(h.count.reduce((s, x) => s + x, 0), uni.live);
    assert.match(await Deno.readTextFile(`${root}/out/modality_histogram.svg`), /^<svg/);

    // Codes of another dataset (fewer rows) are refused with a message naming the file.
    const short = { ...z, rows: z.rows - 3, rowPtr: z.rowPtr.slice(0, z.rows - 2) };
    await writeCodes(`${root}/encode/codes.parquet`, short);
    const bad = stageCtx(p, `${root}/out2`, {
      encode: `${root}/encode`,
      dataset: `${root}/dataset`,
    });
    await assert.rejects(() => conceptsStage.run(bad), (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /codes\.parquet: encodes \d+ rows but .* eval rows/);
      return true;
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
