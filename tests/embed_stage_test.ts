/**
 * The embed stage end to end on the tiny ONNX dual encoder: COCO / CSV / Parquet sources, the
 * embeddings table (schema, split by pair, source, vectors against the float64 reference),
 * resumption from shards, and clean failures that leave no partial shard.
 */
import assert from "node:assert/strict";
import { testContext } from "./helpers/stage_context.ts";
import * as transformers from "@huggingface/transformers";
import { type EmbedParams, embedParams, embedParamsFor, embedStage } from "../tasks/embed.ts";
import { embedSection } from "../tasks/config/embed.ts";
import { writeTinyDualEncoder } from "../embed/testing/tiny_dual_encoder.ts";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { writeTable } from "../data/table_io.ts";
import { Rng } from "../data/random.ts";
import { UserError } from "../pipeline/errors.ts";
import { assertClose, refImage, refText } from "./helpers/tiny_onnx.ts";

const S = 8;

interface Fixture {
  dir: string;
  pixels: Map<string, Uint8ClampedArray>;
  captions: { image: string; caption: string }[];
}

/** Five PNG images (exact pixels), two captions each, plus a COCO JSON, a CSV and a Parquet. */
async function fixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "embed_stage_" });
  await Deno.mkdir(`${dir}/imgs`);
  const rng = new Rng(11);
  const pixels = new Map<string, Uint8ClampedArray>();
  const words = ["cat", "dog", "red", "blue", "green", "sky", "house", "mat"];
  const captions: Fixture["captions"] = [];
  for (let i = 0; i < 5; i++) {
    const name = `im${i}.png`;
    const px = new Uint8ClampedArray(S * S * 3).map(() => rng.int(256));
    pixels.set(name, px);
    await new transformers.RawImage(px, S, S, 3).save(`${dir}/imgs/${name}`);
    captions.push({ image: name, caption: `a ${words[i]} on the ${words[i + 1]}` });
    captions.push({ image: name, caption: `The ${words[i + 2]}, "quoted" photo` });
  }
  const coco = {
    images: [...pixels.keys()].map((f, i) => ({ id: 100 + i, file_name: f })),
    annotations: captions.map((c, k) => ({
      id: 1000 + k,
      image_id: 100 + Number(c.image.slice(2, 3)),
      caption: c.caption,
    })),
  };
  await Deno.writeTextFile(`${dir}/captions.json`, JSON.stringify(coco));
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  await Deno.writeTextFile(
    `${dir}/pairs.csv`,
    "image,caption\r\n" + captions.map((c) => `imgs/${c.image},${q(c.caption)}`).join("\r\n"),
  );
  await writeTable(`${dir}/pairs.parquet`, {
    image: captions.map((c) => `imgs/${c.image}`),
    caption: captions.map((c) => c.caption),
  });
  await writeTinyDualEncoder(`${dir}/model`);
  return { dir, pixels, captions };
}

function context(params: EmbedParams, outDir: string, partialDir: string) {
  return testContext(params, outDir, { id: "embed[test]", partialDir });
}

async function listDir(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch {
    // absent folder: empty
  }
  return out.sort();
}

/** Every file but `plan.json` in the plan folders of a partial folder (`plan-…/name`). */
async function shardFiles(partial: string): Promise<string[]> {
  const out: string[] = [];
  for (const plan of await listDir(partial)) {
    for (const f of await listDir(`${partial}/${plan}`)) {
      if (f !== "plan.json") out.push(`${plan}/${f}`);
    }
  }
  return out.sort();
}

function params(f: Fixture, over: Record<string, unknown> = {}): EmbedParams {
  return embedParams.parse({
    model: { name: "tiny", path: `${f.dir}/model` },
    source: { format: "coco", path: `${f.dir}/captions.json`, images: `${f.dir}/imgs` },
    imageBatch: 2,
    textBatch: 3,
    shardSize: 4,
    threads: 1,
    evalFraction: 0.4,
    seed: 5,
    ...over,
  });
}

Deno.test("embed stage: COCO source gives the embeddings table, vectors match the reference", async () => {
  const f = await fixture();
  try {
    const w = await writeTinyDualEncoder(`${f.dir}/model`); // same seed: same weights
    const ctx = context(params(f), `${f.dir}/out`, `${f.dir}/partial`);
    await Deno.mkdir(ctx.outDir);
    await embedStage.run(ctx);
    const e = await readEmbeddings(`${ctx.outDir}/embeddings.parquet`);
    assert.equal(e.n, 15);
    assert.equal(e.d, w.dim);
    assert.equal(ctx.ticks.reduce((a, b) => a + b, 0), 15);
    // images first (dataset order), then captions (dataset order)
    assert.deepEqual(e.ids.slice(0, 6), [
      "image:100",
      "image:101",
      "image:102",
      "image:103",
      "image:104",
      "text:1000",
    ]);
    assert.deepEqual(e.modality.slice(4, 6), ["image", "text"]);
    assert.equal(e.pairIds[5], "100");
    assert.equal(e.source![0], "im0.png");
    assert.equal(e.source![5], f.captions[0].caption);
    // split by pair: a caption shares its image's split; 2 of 5 pairs in eval
    const splitOf = new Map<string, string>();
    for (let i = 0; i < 5; i++) splitOf.set(e.pairIds[i], e.split[i]);
    for (let i = 5; i < 15; i++) assert.equal(e.split[i], splitOf.get(e.pairIds[i]));
    assert.equal([...splitOf.values()].filter((s) => s === "eval").length, 2);
    // vectors
    for (let i = 0; i < 5; i++) {
      assertClose(e.vectors, i, refImage(w, f.pixels.get(`im${i}.png`)!), 1e-5);
    }
    for (let k = 0; k < 10; k++) {
      assertClose(e.vectors, 5 + k, refText(w, f.captions[k].caption, 77), 1e-5);
    }
    // CSV and Parquet sources give the same vectors, with path-based ids
    for (const format of ["csv", "parquet"] as const) {
      const out = `${f.dir}/out_${format}`;
      await Deno.mkdir(out);
      const c2 = context(
        params(f, { source: { format, path: `${f.dir}/pairs.${format}` } }),
        out,
        `${f.dir}/partial_${format}`,
      );
      await embedStage.run(c2);
      const e2 = await readEmbeddings(`${out}/embeddings.parquet`);
      assert.equal(e2.n, 15);
      assert.equal(e2.ids[0], "image:imgs/im0.png");
      assert.equal(e2.pairIds[6], "imgs/im0.png");
      assert.equal(e2.source![6], f.captions[1].caption);
      for (let j = 0; j < e.vectors.length; j++) {
        assert.ok(Math.abs(e2.vectors[j] - e.vectors[j]) < 1e-6, `${format} vector entry ${j}`);
      }
    }
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("embed stage: an interrupted run resumes from its finished shards", async () => {
  const f = await fixture();
  try {
    const good = await Deno.readFile(`${f.dir}/imgs/im3.png`);
    await Deno.writeTextFile(`${f.dir}/imgs/im3.png`, "corrupt");
    const partial = `${f.dir}/partial`;
    const ctx = context(params(f), `${f.dir}/out`, partial);
    await Deno.mkdir(ctx.outDir);
    await assert.rejects(() => embedStage.run(ctx), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /im3\.png cannot be decoded/);
      return true;
    });
    // shard 0 (images 0..3) failed on im3: nothing but the plan is left
    assert.deepEqual(await shardFiles(partial), []);
    assert.equal((await listDir(partial)).length, 1, "one plan folder");
    // with shard size 2, the first shard (im0, im1) completes before im3 fails
    const p2 = params(f, { shardSize: 2 });
    const c2 = context(p2, `${f.dir}/out`, partial);
    await assert.rejects(() => embedStage.run(c2), UserError);
    const made = await shardFiles(partial);
    assert.equal(made.length, 1);
    assert.match(made[0], /^plan-[0-9a-f]{16}\/image-000000\.shard$/);
    const before = (await Deno.stat(`${partial}/${made[0]}`)).mtime!.getTime();
    await Deno.writeFile(`${f.dir}/imgs/im3.png`, good);
    await new Promise((r) => setTimeout(r, 20));
    const c3 = context(p2, `${f.dir}/out`, partial);
    await embedStage.run(c3);
    assert.ok(c3.lines.some((m) => /resumed 1 finished shard/.test(m)), c3.lines.join("\n"));
    assert.equal((await Deno.stat(`${partial}/${made[0]}`)).mtime!.getTime(), before);
    const resumed = await readEmbeddings(`${f.dir}/out/embeddings.parquet`);
    // a clean run in fresh folders gives the same table
    await Deno.mkdir(`${f.dir}/clean`);
    await embedStage.run(context(p2, `${f.dir}/clean`, `${f.dir}/partial_clean`));
    const clean = await readEmbeddings(`${f.dir}/clean/embeddings.parquet`);
    assert.deepEqual(resumed.ids, clean.ids);
    assert.deepEqual(resumed.split, clean.split);
    assert.deepEqual([...resumed.vectors], [...clean.vectors]);
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("embed stage: bad inputs give one-line UserErrors and leave no shard", async () => {
  const f = await fixture();
  try {
    const cases: [string, () => Promise<EmbedParams>, RegExp][] = [
      ["empty caption", async () => {
        const j = JSON.parse(await Deno.readTextFile(`${f.dir}/captions.json`));
        j.annotations[3].caption = "   ";
        await Deno.writeTextFile(`${f.dir}/empty.json`, JSON.stringify(j));
        return params(f, {
          source: { format: "coco", path: `${f.dir}/empty.json`, images: `${f.dir}/imgs` },
        });
      }, /annotations\[3\] \(image 101\) has an empty caption/],
      ["empty CSV caption", async () => {
        await Deno.writeTextFile(
          `${f.dir}/e.csv`,
          'image,caption\nimgs/im0.png,"a cat"\nimgs/im1.png,""\n',
        );
        return params(f, { source: { format: "csv", path: `${f.dir}/e.csv` } });
      }, /e\.csv: row 3: column `caption` is empty/],
      ["missing model file", async () => {
        await writeTinyDualEncoder(`${f.dir}/m2`);
        await Deno.remove(`${f.dir}/m2/onnx/vision_model.onnx`);
        return params(f, { model: { name: "m2", path: `${f.dir}/m2` } });
      }, /vision_model\.onnx: missing/],
      ["missing output name", async () => {
        await writeTinyDualEncoder(`${f.dir}/m3`, { imageOutput: "last_hidden_state" });
        return params(f, { model: { name: "m3", path: `${f.dir}/m3` } });
      }, /no output "image_embeds" \(outputs: last_hidden_state\)/],
      ["unreadable image", async () => {
        await Deno.writeTextFile(`${f.dir}/imgs/im0.png`, "not a png");
        return params(f);
      }, /im0\.png cannot be decoded/],
      ["missing image", async () => {
        await Deno.remove(`${f.dir}/imgs/im0.png`);
        return params(f);
      }, /im0\.png cannot be read/],
    ];
    for (const [name, make, pattern] of cases) {
      const partial = `${f.dir}/partial_${name.replaceAll(" ", "_")}`;
      const out = `${f.dir}/out_${name.replaceAll(" ", "_")}`;
      await Deno.mkdir(out);
      const ctx = context(await make(), out, partial);
      await assert.rejects(() => embedStage.run(ctx), (e) => {
        assert.ok(e instanceof UserError, `${name}: ${e}`);
        assert.match(e.message, pattern, name);
        assert.ok(!e.message.includes("\n"), `${name}: one line`);
        return true;
      });
      const left = await shardFiles(partial);
      assert.deepEqual(left, [], `${name}: no shard left`);
      assert.deepEqual(await listDir(out), [], `${name}: no output`);
    }
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("embed config: section defaults, params for a named model, unknown keys rejected", () => {
  const s = embedSection.parse({});
  assert.deepEqual(s.models, []);
  assert.equal(s.imageBatch, 32);
  const s2 = embedSection.parse({
    models: [{ name: "siglip2-b16", path: "/m/siglip2", maxLength: 64 }],
    source: { format: "csv", path: "pairs.csv" },
  });
  const p = embedParamsFor(s2, "siglip2-b16");
  assert.equal(p.model.path, "/m/siglip2");
  assert.equal(p.source.imageColumn, "image");
  assert.equal(p.evalFraction, 0.2);
  assert.throws(() => embedParamsFor(s2, "clip"), /no model named "clip"/);
  assert.throws(() => embedSection.parse({ modles: [] }));
  assert.throws(() => embedSection.parse({ models: [{ name: "x", path: "p", family: "vit" }] }));
});
