/** Unit tests of the embed wing's small parts: CSV, presets, split by pair, L2, shard store. */
import assert from "node:assert/strict";
import { detectFamily, familyPreset, resolvePreset } from "../embed/presets.ts";
import { planFolderName, ShardStore } from "../embed/shard_store.ts";
import { machineTag } from "../pipeline/task.ts";
import { DualEncoder } from "../embed/dual_encoder.ts";
import { writeTinyDualEncoder } from "../embed/testing/tiny_dual_encoder.ts";
import { UserError } from "../pipeline/errors.ts";

Deno.test("embed presets: families from config.json, lengths, overrides, unknown model", () => {
  assert.equal(detectFamily({ model_type: "clip" }), "clip");
  assert.equal(detectFamily({ model_type: "siglip" }), "siglip");
  assert.equal(detectFamily({ model_type: "siglip2" }), "siglip2");
  assert.equal(
    detectFamily({ model_type: "siglip" }, { tokenizer_class: "GemmaTokenizerFast" }),
    "siglip2",
  );
  assert.equal(detectFamily({ model_type: "aimv2" }), "aimv2");
  assert.equal(detectFamily({ architectures: ["CLIPModel"] }), "clip");
  assert.equal(detectFamily({ model_type: "bert" }), null);
  assert.equal(familyPreset("clip").maxLength, 77);
  assert.equal(familyPreset("siglip").maxLength, 64);
  assert.equal(familyPreset("siglip2").maxLength, 64);
  assert.equal(familyPreset("siglip2").lowercase, true);
  assert.equal(familyPreset("aimv2").maxLength, 77);
  assert.equal(familyPreset("siglip").outputs.image, "pooler_output");
  const p = resolvePreset({ model_type: "clip" }, "c.json", {
    maxLength: 32,
    outputs: { text: "pooled" },
    image: { image_mean: [0, 0, 0] },
  });
  assert.equal(p.maxLength, 32);
  assert.equal(p.outputs.text, "pooled");
  assert.equal(p.outputs.image, "image_embeds");
  assert.deepEqual(p.imageOverrides.image_mean, [0, 0, 0]);
  assert.deepEqual(p.image.image_mean, familyPreset("clip").image.image_mean);
  assert.equal(
    resolvePreset({ model_type: "bert" }, "c.json", { family: "siglip" }).family,
    "siglip",
  );
  assert.throws(
    () => resolvePreset({ model_type: "bert" }, "/m/config.json"),
    (e) => e instanceof UserError && /\/m\/config\.json: model_type "bert"/.test(e.message),
  );
});

Deno.test("embed shard store: round trip, a folder per plan, only abandoned temporary files removed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "embed_shards_" });
  try {
    const s = await ShardStore.open(dir, { a: 1 });
    assert.equal(s.dir, `${dir}/${planFolderName(JSON.stringify({ a: 1 }))}`);
    assert.equal(await Deno.readTextFile(`${s.dir}/plan.json`), '{"a":1}');
    const v = new Float32Array([1, 2, 3, 4, 5, 6]);
    await s.write(0, { kind: "text", first: 0, n: 2, d: 3, vectors: v });
    assert.equal(await s.has("text", 0), true);
    assert.equal(await s.has("image", 0), false);
    const r = await s.read("text", 0);
    assert.deepEqual([...r.vectors], [...v]);
    assert.equal(r.d, 3);
    assert.deepEqual(await s.list(), ["text-000000.shard"], "no temporary file left");
    // A live writer's temporary file (this process) survives another open; a dead one's goes.
    const me = machineTag();
    const live = `image-000001.shard.${me}.${Deno.pid}.aaaa.tmp`;
    const dead = `image-000002.shard.${me}.999999999.bbbb.tmp`;
    const foreign = `image-000003.shard.other_host_1234.42.cccc.tmp`;
    for (const f of [live, dead, foreign]) await Deno.writeTextFile(`${s.dir}/${f}`, "half");
    const s2 = await ShardStore.open(dir, { a: 1 });
    assert.equal(s2.dir, s.dir);
    const names = [...Deno.readDirSync(s.dir)].map((e) => e.name).sort();
    assert.deepEqual(names, [live, foreign, "plan.json", "text-000000.shard"].sort());
    // Another plan gets a folder of its own; the first plan's shards stay.
    const s3 = await ShardStore.open(dir, { a: 2 });
    assert.notEqual(s3.dir, s.dir);
    assert.deepEqual(await s3.list(), []);
    assert.deepEqual(await s2.list(), ["text-000000.shard"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("embed tokenizer: SigLIP2 preset lowercases, longest padding, empty caption rejected", async () => {
  const dir = await Deno.makeTempDir({ prefix: "embed_tok_" });
  try {
    const w = await writeTinyDualEncoder(dir, {
      modelType: "siglip2",
      imageOutput: "pooler_output",
      textOutput: "pooler_output",
      lowercaseNormalizer: false,
    });
    const enc = await DualEncoder.load(dir, { threads: 1 });
    const enc2 = await DualEncoder.load(dir, { threads: 1, overrides: { padding: "longest" } });
    const enc3 = await DualEncoder.load(dir, { threads: 1, overrides: { lowercase: false } });
    // tokenizer.json does not lowercase: the SigLIP2 preset does, the override turns it off
    assert.equal(Number(enc3.tokenizer.encode(["CAT"]).ids[1]), 1);
    await enc3.release();
    const t = enc2.tokenizer.encode(["CAT", "the red dog"]);
    assert.equal(t.length, 5);
    assert.deepEqual([...t.ids.slice(0, 5)].map(Number), [2, w.vocab.cat, 3, 0, 0]);
    assert.deepEqual([...t.mask.slice(0, 5)].map(Number), [1, 1, 1, 0, 0]);
    assert.equal(enc.preset.lowercase, true);
    assert.throws(() => enc.tokenizer.encode(["ok", "  "]), UserError);
    await enc.release();
    await enc2.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
