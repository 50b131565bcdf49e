/**
 * Raw-input content hashes (pipeline/content_hash.ts): the (path, size, mtime, inode) state file
 * re-hashes only what changed and never memoises a file modified within the racy window; listing
 * changes in words; a raw input given as a path (the npy importer's) re-runs on a content change
 * and the reason says the content changed.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { createHash } from "node:crypto";
import {
  describeListingChange,
  FileHashState,
  listingDigest,
  RACY_WINDOW_MS,
} from "../pipeline/content_hash.ts";
import type { Stage } from "../pipeline/stage.ts";
import { CacheLayout } from "../pipeline/cache.ts";
import { planStudy } from "../pipeline/plan.ts";
import { executeStudy } from "../pipeline/execute.ts";
import { LocalRunner } from "../pipeline/runner.ts";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** Set a file's mtime `ago` ms in the past. */
function age(path: string, ago: number) {
  const t = new Date(Date.now() - ago);
  Deno.utimeSync(path, t, t);
}

Deno.test("file hash state: stat'ed, not re-read; re-hashes only changed files; racy files not memoised", async () => {
  const dir = await Deno.makeTempDir({ prefix: "content_hash_" });
  try {
    const files = ["a", "b", "c"].map((n) => `${dir}/${n}.txt`);
    files.forEach((p, i) => Deno.writeTextFileSync(p, `file ${i}`));
    files.forEach((p) => age(p, 60_000));
    const hashed: string[] = [];
    const state = `${dir}/state.json`;
    const open = () => FileHashState.open(state, { onHash: (p) => hashed.push(p) });
    let s = await open();
    assert.deepEqual(await s.hashFiles(files), ["file 0", "file 1", "file 2"].map(sha));
    assert.equal(hashed.length, 3);
    assert.ok(await s.save());
    // a new process: nothing re-read
    s = await open();
    assert.equal(s.size, 3);
    assert.deepEqual(await s.hashFiles(files), ["file 0", "file 1", "file 2"].map(sha));
    assert.equal(hashed.length, 3);
    // same size, other bytes, older mtime than before: re-hashed (the mtime differs)
    Deno.writeTextFileSync(files[1], "file X");
    age(files[1], 30_000);
    assert.deepEqual(await s.hashFiles(files), ["file 0", "file X", "file 2"].map(sha));
    assert.deepEqual(hashed.slice(3), [files[1]]);
    // replaced by another file (new inode) with the old mtime and size: re-hashed
    const old = Deno.statSync(files[2]).mtime!;
    Deno.writeTextFileSync(`${dir}/tmp`, "file Y");
    Deno.utimeSync(`${dir}/tmp`, old, old);
    Deno.renameSync(`${dir}/tmp`, files[2]);
    assert.deepEqual(await s.hashFiles(files), ["file 0", "file X", "file Y"].map(sha));
    assert.deepEqual(hashed.slice(4), [files[2]]);
    await s.save();
    // a file modified just now is hashed but not remembered: a same-size change in the same
    // timestamp tick would otherwise go unseen
    Deno.writeTextFileSync(files[0], "file Z");
    s = await open();
    await s.hashFiles(files);
    await s.save();
    Deno.writeTextFileSync(files[0], "file W");
    const t = Deno.statSync(files[0]).mtime!;
    s = await open();
    assert.equal((await s.hashFiles([files[0]]))[0], sha("file W"));
    assert.ok(Date.now() - t.getTime() < RACY_WINDOW_MS);
    assert.deepEqual(hashed.slice(5), [files[0], files[0]]);
    // missing file: NotFound naming it
    await assert.rejects(() => s.hashFiles([`${dir}/nope.png`]), /nope\.png does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listing changes in words", () => {
  const describe = (role: string, p: Record<string, string> | null, c: Record<string, string>) =>
    describeListingChange(role, p && new Map(Object.entries(p)), new Map(Object.entries(c)));
  const digest = (o: Record<string, string>) => listingDigest(new Map(Object.entries(o)));
  const a = { "@commit": "c1", "x.json": "1", "img/b.png": "2", "img/c.png": "3" };
  assert.equal(
    describe("images", a, { ...a, "img/b.png": "9" }),
    "content of img/b.png changed (input images)",
  );
  assert.equal(
    describe("images", a, { ...a, "img/b.png": "9", "img/c.png": "8" }),
    "content of img/b.png and 1 more changed (input images)",
  );
  assert.equal(
    describe("images", a, { ...a, "img/d.png": "4" }),
    "img/d.png added (input images)",
  );
  const { "img/c.png": _, ...less } = a;
  assert.equal(describe("images", a, less), "img/c.png removed (input images)");
  assert.equal(
    describe("model", a, { ...a, "@commit": "c2" }),
    "@commit of input model changed (c1 → c2)",
  );
  assert.equal(
    describe("path", { "/d/a.npy": "1" }, { "/d/b.npy": "2" }),
    "input path now reads /d/b.npy (was /d/a.npy)",
  );
  assert.equal(describe("path", null, { x: "1" }), "content of input path changed");
  assert.notEqual(digest({ a: "1", b: "2" }), digest({ a: "1", b: "3" }));
  assert.equal(digest({ a: "1", b: "2" }), digest({ b: "2", a: "1" }));
});

Deno.test("raw input paths: a content change re-runs the stage and the reason says the content changed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "content_hash_raw_" });
  try {
    const stage: Stage<Record<string, never>> = {
      name: "import",
      version: 1,
      description: "reads a file",
      inputs: {},
      params: z.strictObject({}),
      outputs: ["copy.bin"],
      async run(ctx) {
        await Deno.copyFile(ctx.rawInputs.path, `${ctx.outDir}/copy.bin`);
      },
    };
    const file = `${dir}/data.npy`;
    await Deno.writeTextFile(file, "aaaa");
    const layout = new CacheLayout(`${dir}/cache`);
    const insts = [{ id: "import", stage, params: {}, inputs: {}, rawInputs: { path: file } }];
    const plan = await planStudy(insts, layout);
    assert.equal(plan[0].rawHashes.path, sha("aaaa"), "a single file's digest is its sha256");
    await executeStudy(
      plan,
      new LocalRunner({ stages: new Map([["import", stage]]), quiet: true, sink: () => {} }),
      { cache: layout.root, options: { backend: "cpu" }, codeVersion: "test" },
    );
    assert.equal((await planStudy(insts, layout))[0].status, "cached");
    await Deno.writeTextFile(file, "bbbb");
    const again = await planStudy(insts, layout);
    assert.equal(again[0].status, "run");
    assert.equal(again[0].reason, `content of ${file} changed (input path)`);
    await Deno.remove(file);
    await assert.rejects(
      () => planStudy(insts, layout),
      /stage import: input file .*data\.npy \(path\) does not exist/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
