/**
 * Models from the hub and external inputs in the embed key, against a local fake hub
 * (tests/helpers/hub_server.ts) serving a tiny dual encoder the test builds: download, verify and
 * embed (same vectors as from the local folder); corrupted bytes refused with nothing cached; a
 * dropped connection resumed with `Range`; a half download left by a killed run resumed; offline
 * mode with a warm cache makes no request, and a cold one names the missing file; 401/403/404 as
 * one-line errors; a changed caption, image or model file (local or on the hub) re-runs `embed` and
 * its descendants only, and `--dry-run`'s reason names the file.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { join } from "node:path";
import { createHash } from "node:crypto";
import * as transformers from "@huggingface/transformers";
import { type FakeHub, readFolder, startFakeHub } from "./helpers/hub_server.ts";
import { writeTinyDualEncoder } from "../embed/testing/tiny_dual_encoder.ts";
import { embedParams, embedStage } from "../tasks/embed.ts";
import type { Stage, StageInstance } from "../pipeline/stage.ts";
import { CacheLayout, readManifest } from "../pipeline/cache.ts";
import { planStudy } from "../pipeline/plan.ts";
import { executeStudy } from "../pipeline/execute.ts";
import { LocalRunner } from "../pipeline/runner.ts";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { Rng } from "../data/random.ts";
import { UserError } from "../pipeline/errors.ts";

const REPO = "test-org/tiny-clip";
const ENV = ["HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE", "CONCEPT_ATLAS_OFFLINE"] as const;

/** A downstream stage: counts the embedding rows. */
const countStage: Stage<Record<string, never>> = {
  name: "count",
  version: 1,
  description: "counts embedding rows",
  inputs: { dataset: "embed" },
  params: z.strictObject({}),
  outputs: ["count.txt"],
  async run(ctx) {
    const e = await readEmbeddings(join(ctx.inputs.dataset.dir, "embeddings.parquet"));
    await Deno.writeTextFile(join(ctx.outDir, "count.txt"), String(e.n));
  },
};

/** An unrelated stage: must stay cached whatever the embed inputs do. */
const otherStage: Stage<Record<string, never>> = {
  name: "other",
  version: 1,
  description: "unrelated",
  inputs: {},
  params: z.strictObject({}),
  outputs: ["x.txt"],
  async run(ctx) {
    await Deno.writeTextFile(join(ctx.outDir, "x.txt"), "x");
  },
};

const stages = new Map<string, Stage<unknown>>(
  // deno-lint-ignore no-explicit-any
  [embedStage, countStage, otherStage].map((s) => [s.name, s as Stage<any>]),
);

interface Fixture {
  dir: string;
  cache: string;
  models: string;
}

/** Three PNG images, a CSV of two captions each, a tiny model folder; env pointed at `hub`. */
async function fixture(hub?: FakeHub): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "embed_hub_" });
  await Deno.mkdir(`${dir}/imgs`);
  const rng = new Rng(3);
  const rows = ["image,caption"];
  for (let i = 0; i < 3; i++) {
    const px = new Uint8ClampedArray(8 * 8 * 3).map(() => rng.int(256));
    await new transformers.RawImage(px, 8, 8, 3).save(`${dir}/imgs/im${i}.png`);
    rows.push(`imgs/im${i}.png,a red cat ${i}`, `imgs/im${i}.png,the blue sky over a house`);
  }
  await Deno.writeTextFile(`${dir}/pairs.csv`, rows.join("\n") + "\n");
  await writeTinyDualEncoder(`${dir}/model`);
  for (const k of ENV) Deno.env.delete(k);
  Deno.env.set("CONCEPT_ATLAS_MODELS", `${dir}/models`);
  if (hub) Deno.env.set("HF_ENDPOINT", hub.endpoint);
  return { dir, cache: `${dir}/cache`, models: `${dir}/models` };
}

async function cleanup(f: Fixture, hub?: FakeHub) {
  for (const k of ENV) Deno.env.delete(k);
  Deno.env.delete("CONCEPT_ATLAS_MODELS");
  await hub?.close();
  await Deno.remove(f.dir, { recursive: true });
}

function study(f: Fixture, model: Record<string, unknown>): StageInstance[] {
  const params = embedParams.parse({
    model: { name: "tiny", ...model },
    source: { format: "csv", path: `${f.dir}/pairs.csv` },
    imageBatch: 2,
    textBatch: 4,
    shardSize: 4,
    threads: 1,
  });
  return [
    { id: "embed[model=tiny]", stage: embedStage, params, inputs: {} },
    { id: "count", stage: countStage, params: {}, inputs: { dataset: "embed[model=tiny]" } },
    { id: "other", stage: otherStage, params: {}, inputs: {} },
  ];
}

/** Plan (and unless `dry`, run) the study; status and reason by instance id. */
async function run(
  f: Fixture,
  insts: StageInstance[],
  dry = false,
): Promise<Record<string, { status: string; reason: string; key: string }>> {
  const layout = new CacheLayout(f.cache);
  const plan = await planStudy(insts, layout);
  const out: Record<string, { status: string; reason: string; key: string }> = {};
  for (const p of plan) out[p.instance.id] = { status: p.status, reason: p.reason, key: p.key };
  if (!dry) {
    await executeStudy(plan, new LocalRunner({ stages, quiet: true, sink: () => {} }), {
      cache: f.cache,
      options: { backend: "cpu" },
      codeVersion: "test",
    });
  }
  return out;
}

async function embeddingsOf(f: Fixture, key: string) {
  return await readEmbeddings(`${f.cache}/embed/${key}/embeddings.parquet`);
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (sub: string) => {
    try {
      for await (const e of Deno.readDir(join(dir, sub))) {
        const rel = sub ? `${sub}/${e.name}` : e.name;
        if (e.isDirectory) await walk(rel);
        else out.push(rel);
      }
    } catch { /* absent */ }
  };
  await walk("");
  return out.sort();
}

Deno.test("hub: the embed stage downloads, verifies and embeds; commit and file hashes in key and manifest", async () => {
  const hub = startFakeHub();
  const f = await fixture(hub);
  try {
    const commit = hub.publish(REPO, await readFolder(`${f.dir}/model`));
    const r = await run(f, study(f, { hub: REPO }));
    assert.equal(r["embed[model=tiny]"].status, "run");
    const key = r["embed[model=tiny]"].key;
    const fromHub = await embeddingsOf(f, key);
    // the same model from its local folder gives the same vectors
    const local = await run(
      { ...f, cache: `${f.dir}/cache_local` },
      study(f, { path: `${f.dir}/model` }),
    );
    const fromFolder = await readEmbeddings(
      `${f.dir}/cache_local/embed/${local["embed[model=tiny]"].key}/embeddings.parquet`,
    );
    assert.equal(fromHub.n, 9);
    assert.deepEqual([...fromHub.vectors], [...fromFolder.vectors]);
    const m = await readManifest(new CacheLayout(f.cache), "embed", key);
    assert.deepEqual(m.meta.hub, { repo: REPO, revision: "main", commit, endpoint: hub.endpoint });
    const files = m.meta.model_files as Record<string, { sha256: string; bytes: number }>;
    const onnx = await Deno.readFile(`${f.dir}/model/onnx/text_model.onnx`);
    assert.equal(
      files["onnx/text_model.onnx"].sha256,
      createHash("sha256").update(onnx).digest("hex"),
    );
    assert.ok(files["config.json"] && files["tokenizer.json"] && files["preprocessor_config.json"]);
    assert.equal(
      m.rawInputs.model.path,
      join(f.models, "models--test-org--tiny-clip", "snapshots", commit),
    );
    // the model came through both routes: JSON directly, ONNX via the CDN redirect
    const paths = hub.requests.map((q) => q.path);
    assert.ok(paths.some((p) => p.startsWith(`/api/models/${REPO}/revision/main?blobs=true`)));
    assert.ok(paths.some((p) => p === `/${REPO}/resolve/${commit}/config.json`));
    assert.ok(paths.some((p) => p.startsWith("/cdn/")));
    // a second run is cached and downloads nothing (one metadata request for `main`)
    const before = hub.requests.length;
    const again = await run(f, study(f, { hub: REPO }));
    assert.equal(again["embed[model=tiny]"].status, "cached");
    assert.deepEqual(hub.requests.slice(before).map((q) => q.path), [
      `/api/models/${REPO}/revision/main?blobs=true`,
    ]);
    // a small file damaged in the model cache (same size) is noticed: relinked from its intact
    // blob, else fetched again
    const snapConfig = join(m.rawInputs.model.path, "config.json");
    const good = await Deno.readTextFile(snapConfig);
    const bad = good.replace("clip", "CLIP");
    const mark = hub.requests.length;
    const resolves = () =>
      hub.requests.slice(mark).map((q) => q.path).filter((p) => p.includes("/resolve/"));
    await Deno.remove(snapConfig); // the snapshot's hard link only
    await Deno.writeTextFile(snapConfig, bad);
    await run({ ...f, cache: `${f.dir}/cache_again` }, study(f, { hub: REPO }));
    assert.equal(await Deno.readTextFile(snapConfig), good);
    assert.deepEqual(resolves(), []);
    await Deno.writeTextFile(snapConfig, bad); // through the link: the blob too
    await run({ ...f, cache: `${f.dir}/cache_again2` }, study(f, { hub: REPO }));
    assert.equal(await Deno.readTextFile(snapConfig), good);
    assert.deepEqual(resolves(), [`/${REPO}/resolve/${commit}/config.json`]);
    // a new commit on main that changes a model file re-runs embed and count, not other
    const model = await readFolder(`${f.dir}/model`);
    model["config.json"] = new TextEncoder().encode(
      JSON.stringify({ ...JSON.parse(new TextDecoder().decode(model["config.json"])), note: 1 }),
    );
    hub.publish(REPO, model);
    const moved = await run(f, study(f, { hub: REPO }), true);
    assert.equal(moved["embed[model=tiny]"].status, "run");
    assert.equal(moved["embed[model=tiny]"].reason, "content of config.json changed (input model)");
    assert.equal(moved.count.status, "run");
    assert.equal(moved.other.status, "cached");
  } finally {
    await cleanup(f, hub);
  }
});

Deno.test("hub: corrupted bytes are refused and nothing is cached", async () => {
  const hub = startFakeHub();
  const f = await fixture(hub);
  try {
    hub.publish(REPO, await readFolder(`${f.dir}/model`));
    for (const bad of ["onnx/vision_model.onnx", "tokenizer.json"]) {
      hub.corrupt = new Set([bad]);
      await assert.rejects(() => run(f, study(f, { hub: REPO })), (e: Error) => {
        const cause = (e as { cause?: unknown }).cause ?? e;
        assert.ok(cause instanceof UserError, String(e));
        const algo = bad.endsWith(".onnx") ? "sha256" : "git blob sha1";
        assert.match(cause.message, new RegExp(`hub file ${bad.replace(".", "\\.")} of ${REPO}@`));
        assert.match(cause.message, new RegExp(`have ${algo} [0-9a-f]+, the hub lists`));
        assert.ok(!cause.message.includes("\n"));
        return true;
      });
      const blobs = await listFiles(join(f.models, "models--test-org--tiny-clip", "blobs"));
      const snap = await listFiles(join(f.models, "models--test-org--tiny-clip", "snapshots"));
      assert.ok(!blobs.some((b) => b.endsWith(".incomplete")), blobs.join());
      const wrong = bad.endsWith(".onnx") ? "vision_model.onnx" : "tokenizer.json";
      assert.ok(!snap.some((s) => s.endsWith(wrong)), `${bad}: nothing cached (${snap})`);
      assert.deepEqual(await listFiles(join(f.cache, "embed")), []);
    }
    // served correctly, the same cache completes
    hub.corrupt = new Set();
    const r = await run(f, study(f, { hub: REPO }));
    assert.equal(r["embed[model=tiny]"].status, "run");
  } finally {
    await cleanup(f, hub);
  }
});

Deno.test("hub: a dropped connection resumes with Range; so does a half download left by a killed run", async () => {
  const hub = startFakeHub();
  const f = await fixture(hub);
  try {
    const files = await readFolder(`${f.dir}/model`);
    hub.publish(REPO, files);
    const name = "onnx/vision_model.onnx";
    const size = files[name].length;
    hub.dropOnce = new Set([name]);
    await run(f, study(f, { hub: REPO }));
    const cdn = hub.requests.filter((q) =>
      q.path.startsWith("/cdn/") && q.path.endsWith(
        createHash("sha256").update(files[name]).digest("hex"),
      )
    );
    assert.equal(cdn.length, 2, JSON.stringify(cdn));
    assert.equal(cdn[0].range, null);
    const from = Number(/^bytes=(\d+)-$/.exec(cdn[1].range ?? "")?.[1]);
    assert.ok(from > 0 && from < size, `resumed from ${cdn[1].range} of ${size}`);

    // a killed run leaves blobs/<sha>.incomplete; the next run asks only for the rest
    const g = await fixture(hub);
    try {
      const text = "onnx/text_model.onnx";
      const sha = createHash("sha256").update(files[text]).digest(
        "hex",
      );
      const blobs = join(g.models, "models--test-org--tiny-clip", "blobs");
      await Deno.mkdir(blobs, { recursive: true });
      const cut = Math.floor(files[text].length / 3);
      await Deno.writeFile(`${blobs}/${sha}.incomplete`, files[text].subarray(0, cut));
      const before = hub.requests.length;
      await run(g, study(g, { hub: REPO }));
      const asked = hub.requests.slice(before).filter((q) => q.path === `/cdn/${sha}`);
      assert.deepEqual(asked.map((q) => q.range), [`bytes=${cut}-`]);
      const got = await Deno.readFile(
        join(g.models, "models--test-org--tiny-clip", "blobs", sha),
      );
      assert.deepEqual(got, files[text]);
    } finally {
      await Deno.remove(g.dir, { recursive: true });
    }
  } finally {
    await cleanup(f, hub);
  }
});

Deno.test("hub: offline with a warm cache makes no request; a missing file is one error naming it", async () => {
  const hub = startFakeHub();
  const f = await fixture(hub);
  try {
    hub.publish(REPO, await readFolder(`${f.dir}/model`));
    const first = await run(f, study(f, { hub: REPO }));
    Deno.env.set("HF_HUB_OFFLINE", "1");
    const before = hub.requests.length;
    // cached study: plans offline
    const r = await run(f, study(f, { hub: REPO }));
    assert.equal(r["embed[model=tiny]"].key, first["embed[model=tiny]"].key);
    assert.equal(r["embed[model=tiny]"].status, "cached");
    // a fresh cache: the stage runs from the model cache alone
    const g = { ...f, cache: `${f.dir}/cache2` };
    const r2 = await run(g, study(g, { hub: REPO }));
    assert.equal(r2["embed[model=tiny]"].status, "run");
    assert.equal(hub.requests.length, before, "no request offline");
    // a file missing from the model cache
    const snap = join(f.models, "models--test-org--tiny-clip");
    for (const d of ["snapshots", "blobs"]) {
      for (const x of await listFiles(join(snap, d))) {
        if (x.endsWith("text_model.onnx") || (d === "blobs" && x.length === 64)) {
          await Deno.remove(join(snap, d, x));
        }
      }
    }
    const h = { ...f, cache: `${f.dir}/cache3` };
    await assert.rejects(() => run(h, study(h, { hub: REPO })), (e: Error) => {
      const cause = (e as { cause?: unknown }).cause ?? e;
      assert.ok(cause instanceof UserError, String(e));
      assert.match(
        cause.message,
        /^hub file onnx\/text_model\.onnx of test-org\/tiny-clip@[0-9a-f]{12} is not in the model cache .* offline mode/,
      );
      return true;
    });
    // an unknown repository offline: one error at planning
    await assert.rejects(
      () => run(h, study(h, { hub: "test-org/other" }), true),
      /hub model test-org\/other@main is not in the model cache/,
    );
    assert.equal(hub.requests.length, before, "no request offline");
  } finally {
    await cleanup(f, hub);
  }
});

Deno.test("hub: HF_TOKEN is sent as a bearer token; 401, 403 and 404 are one-line errors", async () => {
  const hub = startFakeHub();
  const f = await fixture(hub);
  try {
    hub.publish(REPO, await readFolder(`${f.dir}/model`));
    hub.token = "secret";
    const expectError = async (pattern: RegExp, model = REPO) => {
      await assert.rejects(() => run(f, study(f, { hub: model }), true), (e: Error) => {
        assert.ok(e instanceof UserError, String(e));
        assert.match(e.message, pattern);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
    };
    await expectError(/401 Unauthorized .*set HF_TOKEN/);
    Deno.env.set("HF_TOKEN", "wrong");
    await expectError(
      /403 Forbidden .*accept its terms at http:\/\/127\.0\.0\.1:\d+\/test-org\/tiny-clip/,
    );
    Deno.env.set("HF_TOKEN", "secret");
    await expectError(
      /hub model test-org\/nothing revision main: 404 Not Found/,
      "test-org/nothing",
    );
    const r = await run(f, study(f, { hub: REPO }));
    assert.equal(r["embed[model=tiny]"].status, "run");
    assert.ok(
      hub.requests.filter((q) => q.path.includes("/resolve/")).every((q) =>
        q.auth === "Bearer secret"
      ),
    );
  } finally {
    await cleanup(f, hub);
  }
});

Deno.test("embed inputs: a changed caption, image or model file re-runs embed and its descendants only", async () => {
  const f = await fixture();
  try {
    const insts = () => study(f, { path: `${f.dir}/model` });
    const first = await run(f, insts());
    assert.deepEqual(Object.values(first).map((x) => x.status), ["run", "run", "run"]);
    const same = await run(f, insts(), true);
    assert.deepEqual(Object.values(same).map((x) => x.status), ["cached", "cached", "cached"]);
    const check = async (reason: string) => {
      const r = await run(f, insts());
      assert.equal(r["embed[model=tiny]"].status, "run");
      assert.equal(r["embed[model=tiny]"].reason, reason);
      assert.equal(r.count.status, "run");
      assert.equal(r.other.status, "cached");
      const after = await run(f, insts(), true);
      assert.deepEqual(Object.values(after).map((x) => x.status), ["cached", "cached", "cached"]);
    };
    // a caption (same length: only the content differs)
    const csv = await Deno.readTextFile(`${f.dir}/pairs.csv`);
    await Deno.writeTextFile(`${f.dir}/pairs.csv`, csv.replace("a red cat 1", "a big dog 1"));
    await check("content of pairs.csv changed (input source)");
    // an image
    const img = await Deno.readFile(`${f.dir}/imgs/im2.png`);
    const rng = new Rng(9);
    const px = new Uint8ClampedArray(8 * 8 * 3).map(() => rng.int(256));
    await new transformers.RawImage(px, 8, 8, 3).save(`${f.dir}/imgs/im2.png`);
    assert.notDeepEqual(await Deno.readFile(`${f.dir}/imgs/im2.png`), img);
    await check("content of imgs/im2.png changed (input images)");
    // a model file: other weights, same path
    await writeTinyDualEncoder(`${f.dir}/model2`, { seed: 8 });
    await Deno.copyFile(
      `${f.dir}/model2/onnx/text_model.onnx`,
      `${f.dir}/model/onnx/text_model.onnx`,
    );
    await check("content of onnx/text_model.onnx changed (input model)");
    // a file the run does not read changes nothing
    await Deno.writeTextFile(`${f.dir}/model/README.md`, "notes");
    await Deno.writeTextFile(`${f.dir}/imgs/unused.png`, "x");
    const still = await run(f, insts(), true);
    assert.deepEqual(Object.values(still).map((x) => x.status), ["cached", "cached", "cached"]);
    // a missing image is one error at planning, naming it
    await Deno.remove(`${f.dir}/imgs/im0.png`);
    await assert.rejects(
      () => run(f, insts(), true),
      /stage embed\[model=tiny\]: input file .*imgs\/im0\.png \(images\) does not exist/,
    );
  } finally {
    await cleanup(f);
  }
});

Deno.test("hub: --offline on the command line uses the model cache only (one error line when cold)", async () => {
  const hub = startFakeHub();
  const f = await fixture(hub);
  try {
    hub.publish(REPO, await readFolder(`${f.dir}/model`));
    const config = `${f.dir}/study.yaml`;
    await Deno.writeTextFile(
      config,
      [
        "embed:",
        "  models:",
        `    - { name: tiny, hub: ${REPO} }`,
        `  source: { format: csv, path: ${f.dir}/pairs.csv }`,
      ].join("\n") + "\n",
    );
    const cli = async (...extra: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", "main.ts", "--config", config, "--cache", f.cache, ...extra],
        env: { CONCEPT_ATLAS_MODELS: f.models, HF_ENDPOINT: hub.endpoint },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = (b: Uint8Array) => new TextDecoder().decode(b);
      return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
    };
    const cold = await cli("--offline", "--dry-run");
    assert.notEqual(cold.code, 0);
    assert.equal(hub.requests.length, 0, "no request offline");
    const lines = cold.stderr.trim().split("\n");
    assert.equal(lines.length, 1, cold.stderr);
    assert.match(lines[0], /^error: hub model test-org\/tiny-clip@main is not in the model cache/);
    const online = await cli("--dry-run");
    assert.equal(online.code, 0, online.stderr);
    assert.match(online.stdout, /would-run embed\[model=tiny\] {2}\(new\)/);
    assert.equal(hub.requests.length, 1, "one metadata request");
    const warm = await cli("--offline", "--dry-run");
    assert.equal(warm.code, 0, warm.stderr);
    assert.equal(hub.requests.length, 1, "no request offline");
  } finally {
    await cleanup(f, hub);
  }
});
