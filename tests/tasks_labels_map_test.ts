/**
 * The `labels` and `map` stages run as the engine runs them (hand-made contexts): labels from
 * captions and from a real (tiny) text tower name the word each planted concept was built from;
 * the map's PCA equals the explorer's PCA and its UMAP keeps planted clusters apart, bit-identical
 * on a second run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { testContext } from "./helpers/stage_context.ts";
import type { InputArtifact } from "../pipeline/stage.ts";
import type { EmbeddingSet, Modality, Split } from "../data/embeddings.ts";
import { writeEmbeddings } from "../data/embeddings_io.ts";
import { writeDictionary } from "../data/dictionary_io.ts";
import { writeCodes } from "../data/codes_io.ts";
import { readTable } from "../data/table_io.ts";
import { Rng } from "../data/random.ts";
import { normalizeRows } from "../data/rows.ts";
import { encodeTopK } from "../analysis/null_dictionary.ts";
import { pcaMap } from "../analysis/layout_pca.ts";
import { nearestNeighbours } from "../analysis/layout_knn.ts";
import { labelsParams, labelsStage } from "../tasks/labels.ts";
import { textQuery } from "../tasks/text_query.ts";
import { trainParamsSchema, trainStage } from "../tasks/train.ts";
import { encodeAll, loadTrained } from "../learn/trained.ts";
import { createBackend } from "../kernels/select.ts";
import { mapParams, mapStage } from "../tasks/map.ts";
import { writeTinyDualEncoder } from "../embed/testing/tiny_dual_encoder.ts";
import { DualEncoder } from "../embed/dual_encoder.ts";

function artifact(id: string, stage: string, dir: string, params: Record<string, unknown> = {}) {
  return { id, stage, key: "0".repeat(64), dir, params, meta: {} } as InputArtifact;
}

Deno.test("labels stage: captions and the text tower name the planted words", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "labels_stage_" });
  try {
    const words = ["red", "green", "blue", "dog", "cat", "boat", "sky", "tree"];
    const model = join(tmp, "model");
    await writeTinyDualEncoder(model, { dim: 16, hidden: 32, words, seed: 3 });
    const enc = await DualEncoder.load(model);
    const d = 16, c = words.length;
    // Captions: two of the words each; images: their caption's embedding plus noise.
    const rng = new Rng(1);
    const texts: string[] = [];
    for (let p = 0; p < 160; p++) {
      const a = rng.int(c);
      let b = rng.int(c);
      while (b === a) b = rng.int(c);
      texts.push(`${words[a]} ${words[b]}`);
    }
    const capEmb = await enc.embedTexts(texts);
    const wordEmb = await enc.embedTexts(words);
    await enc.release();
    const n = 2 * texts.length;
    const vectors = new Float32Array(n * d);
    const ids: string[] = [], pairIds: string[] = [], modality: Modality[] = [];
    const split: Split[] = [], source: string[] = [];
    texts.forEach((t, p) => {
      for (let q = 0; q < d; q++) {
        vectors[(2 * p) * d + q] = capEmb[p * d + q] + 0.01 * rng.normal();
        vectors[(2 * p + 1) * d + q] = capEmb[p * d + q];
      }
      ids.push(`img${p}`, `cap${p}`);
      pairIds.push(`img${p}`, `img${p}`);
      modality.push("image", "text");
      split.push("eval", "eval");
      source.push(`pic_${p}.jpg`, t);
    });
    normalizeRows(vectors, n, d);
    const set: EmbeddingSet = { n, d, vectors, ids, pairIds, modality, split, source };
    // Concept j: word j's embedding centred by the caption mean.
    const mean = new Float64Array(d);
    for (let p = 0; p < texts.length; p++) {
      for (let q = 0; q < d; q++) mean[q] += vectors[(2 * p + 1) * d + q] / texts.length;
    }
    const dict = Float32Array.from(wordEmb, (v, i) => v - mean[i % d]);
    normalizeRows(dict, c, d);
    const centred = Float32Array.from(vectors, (v, i) => v - mean[i % d]);
    const codes = encodeTopK(centred, n, d, dict, c, 2);
    const dsDir = join(tmp, "ds"), trDir = join(tmp, "train"), enDir = join(tmp, "encode");
    for (const p of [dsDir, trDir, enDir]) await Deno.mkdir(p);
    await writeEmbeddings(join(dsDir, "embeddings.parquet"), set);
    await writeDictionary(join(trDir, "dictionary.parquet"), dict, c, d);
    await writeCodes(join(enDir, "codes.parquet"), codes);
    const out = join(tmp, "out");
    await Deno.mkdir(out);
    const ctx = testContext(labelsParams.parse({}), out, {
      inputs: {
        encode: artifact("encode", "encode", enDir),
        dataset: artifact("embed[model=tiny]", "embed", dsDir, {
          model: { name: "tiny", path: model },
        }),
        train: artifact("train", "train", trDir),
      },
    });
    await labelsStage.run(ctx);
    const t = await readTable(join(out, "labels.parquet"));
    const label = t.label as string[], tower = t.tower_label as string[];
    let captionHits = 0, towerHits = 0;
    for (let j = 0; j < c; j++) {
      if (label[j].split(", ")[0] === words[j]) captionHits++;
      if (tower[j].split(", ")[0] === words[j]) towerHits++;
    }
    assert.ok(captionHits >= c - 1, `caption labels ${label}`);
    assert.ok(towerHits >= c - 1, `tower labels ${tower}`);
    assert.deepEqual(Array.from(t.truth_concept as Int32Array), new Array(c).fill(-1));
    const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    assert.equal(summary.tower.vocabulary > 0, true);
    assert.equal(summary.truth_accuracy, null);

    // The serve command's free-text query: embed with the tower, encode with a trained run.
    const dietDir = join(tmp, "diet"), runDir = join(tmp, "run");
    for (const p of [dietDir, runDir]) await Deno.mkdir(p);
    await writeEmbeddings(join(dietDir, "embeddings.parquet"), {
      ...set,
      split: set.split.map(() => "train" as Split),
    });
    await trainStage.run(
      testContext(
        trainParamsSchema.parse({ method: "topk", k: 2, c: 8, seed: 1 }),
        runDir,
        { inputs: { diet: artifact("diet", "diet", dietDir) } },
      ),
    );
    const query = textQuery();
    try {
      const embed = { params: { model: { name: "tiny", path: model } } };
      const got = await query.activations(embed, { dir: runDir }, "red dog");
      const tower = await DualEncoder.load(model);
      const x = await tower.embedTexts(["red dog"]);
      await tower.release();
      const backend = await createBackend("cpu");
      const z = await encodeAll(await loadTrained(runDir), x, 1, backend);
      backend.close();
      const want = new Float32Array(8);
      for (let e = z.rowPtr[0]; e < z.rowPtr[1]; e++) want[z.index[e]] = z.value[e];
      assert.deepEqual(Array.from(got), Array.from(want));
      assert.equal(Array.from(got).filter((v) => v > 0).length, 2);
    } finally {
      await query.close();
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("map: exact neighbours equal a float64 brute-force ranking", async () => {
  const c = 300, d = 10, k = 7;
  const x = normalizeRows(new Rng(8).fillNormal(new Float32Array(c * d)), c, d);
  const nn = await nearestNeighbours(x, c, d, k, 64);
  for (let i = 0; i < c; i++) {
    const dist = Array.from({ length: c }, (_, j) => {
      let s = 0;
      for (let t = 0; t < d; t++) s += (x[i * d + t] - x[j * d + t]) ** 2;
      return { j, s: Math.sqrt(s) };
    }).sort((a, b) => (a.j === i ? -1 : b.j === i ? 1 : a.s - b.s || a.j - b.j));
    assert.deepEqual(nn.indices[i], dist.slice(0, k).map((e) => e.j), `row ${i}`);
    nn.distances[i].forEach((v, q) => assert.ok(Math.abs(v - dist[q].s) < 1e-3));
  }
});

Deno.test("map stage: PCA as the explorer's, UMAP keeps planted clusters apart, deterministic", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "map_stage_" });
  try {
    const d = 24, per = 25, k = 3, c = per * k;
    const rng = new Rng(4);
    const centres = normalizeRows(rng.fillNormal(new Float32Array(k * d)), k, d);
    const dict = new Float32Array(c * d);
    for (let j = 0; j < c; j++) {
      for (let t = 0; t < d; t++) {
        dict[j * d + t] = centres[Math.floor(j / per) * d + t] + 0.08 * rng.normal();
      }
    }
    normalizeRows(dict, c, d);
    const trDir = join(tmp, "train");
    await Deno.mkdir(trDir);
    await writeDictionary(join(trDir, "dictionary.parquet"), dict, c, d);
    const runOnce = async (name: string) => {
      const out = join(tmp, name);
      await Deno.mkdir(out);
      await mapStage.run(
        testContext(mapParams.parse({ epochs: 200 }), out, {
          inputs: { train: artifact("train", "train", trDir) },
        }),
      );
      return out;
    };
    const a = await runOnce("a"), b = await runOnce("b");
    assert.deepEqual(
      await Deno.readFile(join(a, "layout.parquet")),
      await Deno.readFile(join(b, "layout.parquet")),
    );
    const t = await readTable(join(a, "layout.parquet"));
    const px = t.pca_x as Float64Array, py = t.pca_y as Float64Array;
    const ref = pcaMap(dict, c, d);
    for (let j = 0; j < c; j++) {
      assert.ok(Math.abs(Math.abs(px[j]) - Math.abs(ref.xy[2 * j])) < 1e-4, `pca x ${j}`);
      assert.ok(Math.abs(Math.abs(py[j]) - Math.abs(ref.xy[2 * j + 1])) < 1e-4, `pca y ${j}`);
    }
    const ux = t.umap_x as Float64Array, uy = t.umap_y as Float64Array;
    const dist = (i: number, j: number) => Math.hypot(ux[i] - ux[j], uy[i] - uy[j]);
    let intra = 0, inter = Infinity;
    for (let i = 0; i < c; i++) {
      for (let j = i + 1; j < c; j++) {
        if (Math.floor(i / per) === Math.floor(j / per)) intra = Math.max(intra, dist(i, j));
        else inter = Math.min(inter, dist(i, j));
      }
    }
    assert.ok(inter > intra, `closest across clusters ${inter}, farthest within ${intra}`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
