/**
 * The dual encoder against an independent float64 TypeScript computation of the tiny network
 * written in code (embed/testing/tiny_dual_encoder.ts), on generated PNG / JPEG / WebP images
 * and captions, for the split and combined ONNX layouts.
 */
import assert from "node:assert/strict";
import * as transformers from "@huggingface/transformers";
import { DualEncoder } from "../embed/dual_encoder.ts";
import { loadImage } from "../embed/image_preprocessor.ts";
import { writeTinyDualEncoder } from "../embed/testing/tiny_dual_encoder.ts";
import { assertClose, refImage, refText } from "./helpers/tiny_onnx.ts";
import { Rng } from "../data/random.ts";
import { UserError } from "../pipeline/errors.ts";

async function writeImage(path: string, rgb: Uint8ClampedArray, w: number, h: number) {
  await new transformers.RawImage(rgb, w, h, 3).save(path);
}

const CAPTIONS = [
  "A cat on the mat",
  "a red square over a blue sky",
  "The dog runs",
  "zebra unknown words here",
];

for (const layout of ["split", "combined"] as const) {
  Deno.test(`embed encoder: ${layout} layout matches float64 reference to 1e-5`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "embed_enc_" });
    try {
      const w = await writeTinyDualEncoder(`${dir}/model`, { layout });
      const enc = await DualEncoder.load(`${dir}/model`, { threads: 1 });
      assert.equal(enc.preset.family, "clip");
      assert.equal(enc.tokenizer.maxLength, 77);

      // texts
      const tv = await enc.embedTexts(CAPTIONS);
      assert.equal(enc.dim, w.dim);
      CAPTIONS.forEach((c, i) => assertClose(tv, i, refText(w, c, 77), 1e-5));

      // images: random PNG at native size (exact pixels known), JPEG and WebP (lossy; pixels
      // decoded independently by sharp), and a 16×16 solid PNG resized to 8×8 (stays solid).
      const S = w.imageSize;
      const rng = new Rng(3);
      const px = new Uint8ClampedArray(S * S * 3).map(() => rng.int(256));
      await writeImage(`${dir}/a.png`, px, S, S);
      await writeImage(`${dir}/b.jpg`, px, S, S);
      await writeImage(`${dir}/c.webp`, px, S, S);
      const solid = new Uint8ClampedArray(16 * 16 * 3);
      for (let i = 0; i < 16 * 16; i++) solid.set([200, 30, 90], i * 3);
      await writeImage(`${dir}/d.png`, solid, 16, 16);
      const paths = ["a.png", "b.jpg", "c.webp", "d.png"].map((p) => `${dir}/${p}`);
      const imgs = await Promise.all(paths.map(loadImage));
      const iv = await enc.embedPixels(await enc.images.pixels(imgs));
      assertClose(iv, 0, refImage(w, px), 1e-5);
      const jpg = await transformers.RawImage.read(paths[1]);
      assert.equal(jpg.channels, 3);
      assertClose(iv, 1, refImage(w, jpg.data), 1e-5);
      const webp = await transformers.RawImage.read(paths[2]);
      assertClose(iv, 2, refImage(w, webp.rgb().data), 1e-5);
      const solid8 = new Uint8ClampedArray(S * S * 3);
      for (let i = 0; i < S * S; i++) solid8.set([200, 30, 90], i * 3);
      assertClose(iv, 3, refImage(w, solid8), 1e-5);

      // unit norm and batch independence
      const single = await enc.embedPixels(await enc.images.pixels([imgs[0]]));
      for (let j = 0; j < w.dim; j++) assert.ok(Math.abs(single[j] - iv[j]) < 1e-6);
      await enc.release();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("embed encoder: SigLIP preset pads to 64, names pooler_output, lowercases nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "embed_enc_" });
  try {
    const w = await writeTinyDualEncoder(dir, {
      modelType: "siglip",
      imageOutput: "pooler_output",
      textOutput: "pooler_output",
      textUsesMask: false,
    });
    const enc = await DualEncoder.load(dir, { threads: 1 });
    assert.equal(enc.preset.family, "siglip");
    const tokens = enc.tokenizer.encode(["A cat"]);
    assert.equal(tokens.length, 64);
    assert.deepEqual([...tokens.ids.slice(0, 5)].map(Number), [2, w.vocab.a, w.vocab.cat, 3, 0]);
    // without a mask the pad tokens count: the reference sums all 64 positions
    const tv = await enc.embedTexts(["A cat", "the dog"]);
    assertClose(tv, 0, refText(w, "A cat", 64), 1e-5);
    assertClose(tv, 1, refText(w, "the dog", 64), 1e-5);
    // an override of the length changes the result the same way in both
    await enc.release();
    const enc2 = await DualEncoder.load(dir, { threads: 1, overrides: { maxLength: 5 } });
    const t2 = await enc2.embedTexts(["A cat on the mat sits"]);
    // truncated to 5 keeping the final </s>
    const ids = [...enc2.tokenizer.encode(["A cat on the mat sits"]).ids].map(Number);
    assert.deepEqual(ids, [2, w.vocab.a, w.vocab.cat, w.vocab.on, 3]);
    assertClose(t2, 0, refText(w, "A cat on", 5), 1e-5);
    await enc2.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("embed encoder: missing model file, missing output name, bad image give UserError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "embed_enc_" });
  try {
    await writeTinyDualEncoder(dir);
    await Deno.remove(`${dir}/onnx/text_model.onnx`);
    await assert.rejects(() => DualEncoder.load(dir), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /text_model\.onnx: missing/);
      return true;
    });
    await writeTinyDualEncoder(dir, { textOutput: "last_hidden_state" });
    await assert.rejects(() => DualEncoder.load(dir), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /no output "text_embeds" \(outputs: last_hidden_state\)/);
      return true;
    });
    await Deno.remove(`${dir}/tokenizer.json`);
    await assert.rejects(() => DualEncoder.load(dir), /tokenizer\.json is missing/);
    await Deno.writeTextFile(`${dir}/bad.png`, "not an image");
    await assert.rejects(() => loadImage(`${dir}/bad.png`), (e) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /bad\.png cannot be decoded/);
      return true;
    });
    await assert.rejects(() => loadImage(`${dir}/none.png`), /none\.png cannot be read/);
    await assert.rejects(() => DualEncoder.load(`${dir}/nowhere`), /does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
