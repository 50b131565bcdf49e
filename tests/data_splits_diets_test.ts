/**
 * Pair-level train/eval splits (data/splits.ts), data diets (data/diets.ts) against brute force
 * and closed forms, the `diet` stage end to end, and the config sections.
 */
import assert from "node:assert/strict";
import { testContext } from "./helpers/stage_context.ts";
import { join } from "node:path";
import { assignSplits, countSplits } from "../data/splits.ts";
import { dietImageFraction, maxDietTotal, selectDiet } from "../data/diets.ts";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { Rng } from "../data/random.ts";
import { datasetSection } from "../tasks/config/dataset.ts";
import { DEFAULT_DIET_RATIOS, dietsSection } from "../tasks/config/diets.ts";
import { datasetStage } from "../tasks/dataset.ts";
import { dietInstanceParams, dietParams, dietStage } from "../tasks/diet.ts";
import type { InputArtifact } from "../pipeline/stage.ts";
import { UserError } from "../pipeline/errors.ts";

function ctxFor<P>(params: P, outDir: string, inputs: Record<string, InputArtifact> = {}) {
  const ctx = testContext(params, outDir, { id: "x", inputs });
  return { ctx, meta: ctx.meta, lines: ctx.lines };
}

/** Pair ids of `P` pairs with 1..4 captions each, rows grouped by pair. */
function pairIdsOf(P: number, seed: number): string[] {
  const rng = new Rng(seed);
  const out: string[] = [];
  for (let p = 0; p < P; p++) for (let k = 0; k <= 1 + rng.int(4); k++) out.push(`p${p}`);
  return out;
}

Deno.test("splits: by pair, exact eval count, deterministic per seed", () => {
  const ids = pairIdsOf(200, 1);
  const s = assignSplits(ids, 0.2, 7);
  const side = new Map<string, string>();
  ids.forEach((p, i) => {
    if (side.has(p)) assert.equal(s[i], side.get(p), `pair ${p} stays on one side`);
    side.set(p, s[i]);
  });
  assert.equal([...side.values()].filter((x) => x === "eval").length, 40);
  assert.deepEqual(assignSplits(ids, 0.2, 7), s);
  assert.notDeepEqual(assignSplits(ids, 0.2, 8), s);
  // At least one pair on each side even for extreme fractions.
  const few = ["a", "b", "c"];
  assert.equal(assignSplits(few, 0.01, 0).filter((x) => x === "eval").length, 1);
  assert.equal(assignSplits(few, 0.99, 0).filter((x) => x === "train").length, 1);
  assert.throws(() => assignSplits(ids, 1, 0), /dataset\.evalFraction/);
  const c = countSplits(["image", "text", "text"], ["train", "eval", "train"]);
  assert.deepEqual(c, { train: { image: 1, text: 1 }, eval: { image: 0, text: 1 } });
});

Deno.test("splits: order of first appearance; repeated pair ids change nothing; clamped counts", () => {
  // The embed stage splits its distinct image ids with assignSplits (tasks/embed.ts).
  const ids = Array.from({ length: 50 }, (_, i) => `p${i}`);
  const withDup = [...ids, ...ids.slice(0, 10)];
  const a = assignSplits(withDup, 0.2, 3);
  assert.equal(a.length, 60);
  assert.deepEqual(a.slice(50), a.slice(0, 10));
  assert.equal(a.slice(0, 50).filter((s) => s === "eval").length, 10);
  assert.deepEqual(assignSplits(ids, 0.2, 3), a.slice(0, 50));
  assert.notDeepEqual(assignSplits(ids, 0.2, 4), a.slice(0, 50));
  assert.equal(assignSplits(ids, 0.001, 1).filter((s) => s === "eval").length, 1);
  assert.equal(assignSplits(ids, 0.999, 1).filter((s) => s === "train").length, 1);
  assert.throws(() => assignSplits(ids, 0, 0), UserError);
  assert.throws(() => assignSplits(ids, 1.5, 0), UserError);
});

Deno.test("diets: maxDietTotal equals brute force", () => {
  const rng = new Rng(3);
  for (let t = 0; t < 300; t++) {
    const I = rng.int(60), T = rng.int(60);
    const r = [0, 1, 1 / 6, 5 / 6, 0.5, rng.uniform()][t % 6];
    let brute = 0;
    for (let N = 0; N <= I + T; N++) {
      const ni = Math.round(N * r);
      const mixed = r > 0 && r < 1;
      if (ni <= I && N - ni <= T && !(mixed && N > 0 && (ni === 0 || N - ni === 0))) brute = N;
    }
    assert.equal(maxDietTotal(r, I, T), brute, `I=${I} T=${T} r=${r}`);
  }
});

Deno.test("diets: exact counts per ratio at a fixed total, auto total, sub-sample of the rows", () => {
  // 100 images, 500 captions (natural 1:5).
  const modality: ("image" | "text")[] = [];
  for (let p = 0; p < 100; p++) modality.push("image", "text", "text", "text", "text", "text");
  // Auto total over the default grid: 5:1 allows round(N·5/6) ≤ 100 → N = 120 (1:5 allows 600).
  const expected: Record<string, [number, number]> = {
    natural: [20, 100],
    "1:1": [60, 60],
    "1:5": [20, 100],
    "5:1": [100, 20],
  };
  for (const ratio of DEFAULT_DIET_RATIOS) {
    const sel = selectDiet(modality, ratio, 0, 1, DEFAULT_DIET_RATIOS);
    assert.equal(sel.total, 120, ratio);
    assert.deepEqual([sel.images, sel.texts], expected[ratio], ratio);
    const rows = Array.from(sel.rows);
    assert.equal(new Set(rows).size, 120);
    assert.deepEqual(rows, [...rows].sort((a, b) => a - b), "table order kept");
    assert.equal(rows.filter((r) => modality[r] === "image").length, expected[ratio][0]);
    assert.deepEqual(selectDiet(modality, ratio, 0, 1, DEFAULT_DIET_RATIOS).rows, sel.rows);
    assert.notDeepEqual(selectDiet(modality, ratio, 0, 2, DEFAULT_DIET_RATIOS).rows, sel.rows);
  }
  // Explicit total, natural keeps the data's fraction; the whole data at its own total.
  assert.deepEqual(
    [selectDiet(modality, "natural", 600, 0).images, selectDiet(modality, "natural", 600, 0).texts],
    [100, 500],
  );
  assert.equal(dietImageFraction("1:5", 0.3), 1 / 6);
  assert.equal(dietImageFraction("natural", 0.3), 0.3);
  assert.throws(() => dietImageFraction("2-1", 0.3), UserError);
});

Deno.test("diets: an impossible diet is an error saying the most the data allows", () => {
  const modality: ("image" | "text")[] = [];
  for (let p = 0; p < 100; p++) modality.push("image", "text", "text", "text", "text", "text");
  assert.throws(
    () => selectDiet(modality, "5:1", 200, 0),
    (e: unknown) =>
      e instanceof UserError &&
      /diet 5:1 of 200 rows needs 167 images and 33 captions but the train split has 100 images and 500 captions; the most this data allows at 5:1 is 120 rows/
        .test(e.message),
  );
  assert.throws(() => selectDiet(["image", "image"], "1:1", 0, 0), /cannot feed every ratio/);
  assert.throws(() => selectDiet([], "1:1", 0, 0), /no train rows/);
});

Deno.test("diet stage: train rows of one diet from a dataset stage's output", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dsDir = join(root, "dataset");
    await Deno.mkdir(dsDir);
    const ds = ctxFor(
      datasetSection.parse({
        world: { d: 16, images: 300, captionsPerImage: 3, sharedConcepts: 10 },
      }),
      dsDir,
    );
    await datasetStage.run(ds.ctx);
    const input: InputArtifact = {
      id: "dataset",
      stage: "dataset",
      key: "1".repeat(64),
      dir: dsDir,
      params: {},
      meta: ds.meta,
    };
    const all = await readEmbeddings(join(dsDir, "embeddings.parquet"));
    const trainIds = new Set(all.ids.filter((_, i) => all.split[i] === "train"));
    // 240 train images, 720 captions: auto total over the default grid = 1.2·240 = 288.
    const section = dietsSection.parse({});
    for (const ratio of section.ratios) {
      const out = join(root, `diet-${ratio.replace(":", "_")}`);
      await Deno.mkdir(out);
      const p = dietParams.parse(dietInstanceParams(section, ratio, 0));
      const c = ctxFor(p, out, { dataset: input });
      await dietStage.run(c.ctx);
      const set = await readEmbeddings(join(out, "embeddings.parquet"));
      assert.equal(set.n, 288, ratio);
      const images = set.modality.filter((m) => m === "image").length;
      const want = ratio === "natural" ? 72 : Math.round(288 * dietImageFraction(ratio, 0));
      assert.equal(images, want, ratio);
      assert.ok(set.ids.every((id) => trainIds.has(id)), "only train rows");
      assert.equal(c.meta.n, 288);
    }
    // Impossible: nothing written.
    const bad = join(root, "bad");
    await Deno.mkdir(bad);
    const p = dietParams.parse({ ratio: "5:1", total: 1000 });
    await assert.rejects(
      () => dietStage.run(ctxFor(p, bad, { dataset: input }).ctx),
      /the most this data allows at 5:1 is 288 rows/,
    );
    assert.deepEqual([...Deno.readDirSync(bad)], []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dataset stage: centre subtracts the train mean (float64 reference)", async () => {
  const root = await Deno.makeTempDir();
  try {
    const world = { d: 8, images: 60, captionsPerImage: 1, sharedConcepts: 4 };
    const plain = ctxFor(datasetSection.parse({ world }), join(root, "a"));
    const centred = ctxFor(datasetSection.parse({ world, centre: true }), join(root, "b"));
    for (const c of [plain, centred]) {
      await Deno.mkdir(c.ctx.outDir);
      await datasetStage.run(c.ctx);
    }
    const a = await readEmbeddings(join(root, "a", "embeddings.parquet"));
    const b = await readEmbeddings(join(root, "b", "embeddings.parquet"));
    const mean = new Float64Array(8);
    let k = 0;
    for (let r = 0; r < a.n; r++) {
      if (a.split[r] !== "train") continue;
      k++;
      for (let i = 0; i < 8; i++) mean[i] += a.vectors[r * 8 + i];
    }
    for (let r = 0; r < a.n; r++) {
      for (let i = 0; i < 8; i++) {
        assert.ok(Math.abs(b.vectors[r * 8 + i] - (a.vectors[r * 8 + i] - mean[i] / k)) < 1e-6);
      }
    }
    assert.ok(Math.abs(mean[0] / k) > 1e-3, "the mean was not already zero");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("config: dataset and diets sections take defaults and reject unknown keys", () => {
  const d = datasetSection.parse({});
  assert.equal(d.kind, "synthetic");
  assert.equal(d.world.d, 128);
  assert.equal(d.world.images, 8000);
  assert.throws(() => datasetSection.parse({ nope: 1 }));
  assert.throws(() => datasetSection.parse({ kind: "csv" }));
  const s = dietsSection.parse({});
  assert.deepEqual(s.ratios, ["natural", "1:1", "1:5", "5:1"]);
  assert.deepEqual(s.seeds, [0]);
  assert.equal(s.total, 0);
  assert.throws(() => dietsSection.parse({ ratios: ["1:0"] }));
  assert.throws(() => dietsSection.parse({ extra: true }));
});
