import assert from "node:assert/strict";
import { exists, missing } from "./helpers/prerequisites.ts";
import {
  EmbeddingsWriter,
  readEmbeddingBatches,
  readEmbeddings,
  readEmbeddingsInfo,
  writeEmbeddings,
} from "../data/embeddings_io.ts";
import { f32List, writeTable } from "../data/table_io.ts";
import type { Column } from "../data/table_io.ts";
import type { EmbeddingSet, Modality, Split } from "../data/embeddings.ts";
import { Rng } from "../data/random.ts";
import { UserError } from "../pipeline/errors.ts";

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "embeddings_io_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rejectsUser(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
    const msg = (e as Error).message;
    assert.ok(!msg.includes("\n"), `one line: ${msg}`);
    for (const part of parts) assert.ok(msg.includes(part), `"${msg}" lacks "${part}"`);
    return;
  }
  assert.fail("expected a UserError");
}

/** A synthetic set: rows alternate image/text per pair, the last 30% are eval. */
function makeSet(n: number, d: number, seed: number, withSource: boolean): EmbeddingSet {
  const rng = new Rng(seed);
  const vectors = rng.fillNormal(new Float32Array(n * d));
  const ids: string[] = [];
  const pairIds: string[] = [];
  const modality: Modality[] = [];
  const split: Split[] = [];
  const source: (string | null)[] = [];
  for (let i = 0; i < n; i++) {
    const pair = i >> 1;
    ids.push(i % 2 === 0 ? `img-${pair}` : `txt-${pair}`);
    pairIds.push(`img-${pair}`);
    modality.push(i % 2 === 0 ? "image" : "text");
    split.push(pair < Math.floor(0.7 * (n >> 1)) ? "train" : "eval");
    source.push(
      i % 5 === 4 ? null : i % 2 === 0 ? `images/${pair}.jpg` : `A photo ✓ of “thing” #${pair}`,
    );
  }
  return { n, d, vectors, ids, pairIds, modality, split, ...(withSource ? { source } : {}) };
}

/** Reference filter in plain JS. */
function filterSet(s: EmbeddingSet, split?: Split, modality?: Modality): EmbeddingSet {
  const keep: number[] = [];
  for (let i = 0; i < s.n; i++) {
    if ((!split || s.split[i] === split) && (!modality || s.modality[i] === modality)) keep.push(i);
  }
  const vectors = new Float32Array(keep.length * s.d);
  keep.forEach((r, j) => vectors.set(s.vectors.subarray(r * s.d, (r + 1) * s.d), j * s.d));
  return {
    n: keep.length,
    d: s.d,
    vectors,
    ids: keep.map((r) => s.ids[r]),
    pairIds: keep.map((r) => s.pairIds[r]),
    modality: keep.map((r) => s.modality[r]),
    split: keep.map((r) => s.split[r]),
    ...(s.source ? { source: keep.map((r) => s.source![r]) } : {}),
  };
}

function sliceSet(s: EmbeddingSet, a: number, b: number): EmbeddingSet {
  return {
    n: b - a,
    d: s.d,
    vectors: s.vectors.subarray(a * s.d, b * s.d),
    ids: s.ids.slice(a, b),
    pairIds: s.pairIds.slice(a, b),
    modality: s.modality.slice(a, b),
    split: s.split.slice(a, b),
    ...(s.source ? { source: s.source.slice(a, b) } : {}),
  };
}

/** The set as raw columns (to write deliberately broken files through writeTable). */
function columnsOf(s: EmbeddingSet): Record<string, Column> {
  return {
    id: s.ids,
    pair_id: s.pairIds,
    modality: s.modality,
    split: s.split,
    vector: f32List(s.vectors, s.d),
  };
}

Deno.test("embeddings_io: round trip with and without source, filters match a JS reference", async () => {
  await withTmp(async (dir) => {
    for (const withSource of [true, false]) {
      const set = makeSet(403, 16, 5, withSource);
      const path = `${dir}/e${withSource}.parquet`;
      await writeEmbeddings(path, set, { rowGroupSize: 50 });
      assert.deepEqual(await readEmbeddingsInfo(path), {
        n: 403,
        d: 16,
        hasSource: withSource,
        rowGroups: 9,
      });
      assert.deepEqual(await readEmbeddings(path), set);
      for (const split of [undefined, "train", "eval"] as const) {
        for (const modality of [undefined, "image", "text"] as const) {
          const got = await readEmbeddings(path, { split, modality, expectDim: 16 });
          assert.deepEqual(
            got,
            filterSet(set, split, modality),
            `split=${split} modality=${modality}`,
          );
        }
      }
      const noSrc = await readEmbeddings(path, { source: false });
      assert.equal(noSrc.source, undefined);
    }
  });
});

Deno.test("embeddings_io: streaming writer in uneven chunks gives the single-shot bytes; batches = row groups", async () => {
  await withTmp(async (dir) => {
    const set = makeSet(1000, 24, 9, true);
    await writeEmbeddings(`${dir}/one.parquet`, set, { rowGroupSize: 128 });
    const w = await EmbeddingsWriter.create(`${dir}/stream.parquet`, 24, true, {
      rowGroupSize: 128,
    });
    const cuts = [0, 1, 7, 300, 301, 777, 1000];
    for (let i = 0; i + 1 < cuts.length; i++) await w.append(sliceSet(set, cuts[i], cuts[i + 1]));
    await w.append(sliceSet(set, 1000, 1000)); // empty append is fine
    assert.equal(w.rows, 1000);
    await w.close();
    assert.deepEqual(
      await Deno.readFile(`${dir}/stream.parquet`),
      await Deno.readFile(`${dir}/one.parquet`),
    );

    const sizes: number[] = [];
    const parts: EmbeddingSet[] = [];
    for await (const b of readEmbeddingBatches(`${dir}/stream.parquet`)) {
      sizes.push(b.n);
      parts.push(b);
    }
    assert.deepEqual(sizes, [128, 128, 128, 128, 128, 128, 128, 104]);
    const vec = new Float32Array(1000 * 24);
    let at = 0;
    for (const p of parts) {
      vec.set(p.vectors, at * 24);
      at += p.n;
    }
    assert.deepEqual(vec, set.vectors);
    assert.deepEqual(parts.flatMap((p) => p.ids), set.ids);
    assert.deepEqual(parts.flatMap((p) => p.source!), set.source);
    // Filtered batches concatenate to the filtered whole read.
    const evalText: string[] = [];
    for await (
      const b of readEmbeddingBatches(`${dir}/stream.parquet`, { split: "eval", modality: "text" })
    ) {
      assert.ok(b.n > 0);
      evalText.push(...b.ids);
    }
    assert.deepEqual(evalText, filterSet(set, "eval", "text").ids);
  });
});

Deno.test("embeddings_io: an empty table round-trips", async () => {
  await withTmp(async (dir) => {
    const path = `${dir}/empty.parquet`;
    await writeEmbeddings(path, makeSet(0, 8, 1, false));
    assert.deepEqual(await readEmbeddingsInfo(path), {
      n: 0,
      d: 8,
      hasSource: false,
      rowGroups: 0,
    });
    const back = await readEmbeddings(path);
    assert.equal(back.n, 0);
    assert.equal(back.d, 8);
  });
});

Deno.test("embeddings_io: validation errors name file, column and first bad row", async () => {
  await withTmp(async (dir) => {
    const set = makeSet(2000, 4, 3, false);
    const p = (name: string) => `${dir}/${name}.parquet`;

    const { split: _split, ...noSplit } = columnsOf(set);
    await writeTable(p("nosplit"), noSplit);
    await rejectsUser(readEmbeddings(p("nosplit")), p("nosplit"), "`split`", "missing");

    await writeTable(p("f64"), { ...columnsOf(set), vector: new Float64Array(2000) });
    await rejectsUser(readEmbeddings(p("f64")), p("f64"), "`vector`", "Float64", "fixed_size_list");

    await writeTable(p("intid"), { ...columnsOf(set), id: new Int32Array(2000) });
    await rejectsUser(readEmbeddingsInfo(p("intid")), p("intid"), "`id`", "Int32", "expected utf8");

    await writeEmbeddings(p("ok"), set);
    await rejectsUser(
      readEmbeddings(p("ok"), { expectDim: 512 }),
      p("ok"),
      "`vector`",
      "dimension 4",
      "expected 512",
    );

    const nan = set.vectors.slice();
    nan[1234 * 4 + 2] = NaN;
    nan[1500 * 4] = Infinity;
    await writeTable(p("nan"), { ...columnsOf(set), vector: f32List(nan, 4) }, {
      rowGroupSize: 500,
    });
    await rejectsUser(
      readEmbeddings(p("nan")),
      p("nan"),
      "column `vector`, row 1234:",
      "NaN",
      "not finite",
    );
    // The batch reader reports the same first bad row (a file row, not a row within the group).
    await rejectsUser(
      (async () => {
        for await (const _ of readEmbeddingBatches(p("nan"))) { /* drain */ }
      })(),
      "column `vector`, row 1234:",
    );

    const mod = set.modality.slice() as string[];
    mod[777] = "audio";
    await writeTable(p("mod"), { ...columnsOf(set), modality: mod }, { rowGroupSize: 300 });
    await rejectsUser(
      readEmbeddings(p("mod"), { split: "eval" }),
      p("mod"),
      "column `modality`, row 777:",
      '"audio"',
      "image|text",
    );

    const spl = set.split.slice() as string[];
    spl[5] = "test";
    await writeTable(p("spl"), { ...columnsOf(set), split: spl });
    await rejectsUser(readEmbeddings(p("spl")), "column `split`, row 5:", '"test"', "train|eval");

    const ids: (string | null)[] = set.ids.slice();
    ids[42] = null;
    await writeTable(p("nullid"), { ...columnsOf(set), id: ids });
    await rejectsUser(readEmbeddings(p("nullid")), "column `id`, row 42:", "null");

    const dup = set.ids.slice();
    dup[99] = dup[10];
    await writeTable(p("dup"), { ...columnsOf(set), id: dup });
    await rejectsUser(
      readEmbeddings(p("dup")),
      p("dup"),
      "`id`",
      JSON.stringify(dup[10]),
      "rows 10 and 99",
    );

    const bytes = await Deno.readFile(p("ok"));
    await Deno.writeFile(p("trunc"), bytes.subarray(0, Math.floor(bytes.length / 2)));
    await rejectsUser(readEmbeddings(p("trunc")), p("trunc"), "not a readable Parquet");
    await rejectsUser(
      readEmbeddingsInfo(`${dir}/absent.parquet`),
      `${dir}/absent.parquet`,
      "not found",
    );
  });
});

Deno.test("embeddings_io: the writer refuses bad rows", async () => {
  await withTmp(async (dir) => {
    const set = makeSet(20, 4, 2, false);
    set.vectors[13 * 4 + 1] = NaN;
    await rejectsUser(
      writeEmbeddings(`${dir}/a.parquet`, set),
      "column `vector`, row 13",
      "not finite",
    );
    const w = await EmbeddingsWriter.create(`${dir}/b.parquet`, 8, false);
    await rejectsUser(w.append(makeSet(4, 4, 1, false)), "dimension 4", "dimension 8");
    await w.abort();
    const bad = makeSet(6, 4, 1, false);
    (bad.modality as string[])[3] = "video";
    await rejectsUser(
      writeEmbeddings(`${dir}/c.parquet`, bad),
      "column `modality`, row 3",
      "video",
    );
  });
});

Deno.test("embeddings_io: a 50,000 × 512 table streams through writer and batch reader", async () => {
  await withTmp(async (dir) => {
    const n = 50_000;
    const d = 512;
    const chunk = 4096;
    const path = `${dir}/big.parquet`;
    const w = await EmbeddingsWriter.create(path, d, false);
    const rng = new Rng(123);
    let refSum = 0;
    const refRow = new Float32Array(d);
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      const vectors = rng.fillNormal(new Float32Array(m * d));
      for (let j = 0; j < vectors.length; j++) refSum += vectors[j] * ((s * d + j) % 7);
      if (s <= 31_337 && 31_337 < s + m) {
        refRow.set(vectors.subarray((31_337 - s) * d, (31_338 - s) * d));
      }
      const ids = Array.from({ length: m }, (_, i) => `r${s + i}`);
      await w.append({
        n: m,
        d,
        vectors,
        ids,
        pairIds: ids,
        modality: ids.map((_, i) => ((s + i) % 2 ? "text" : "image")),
        split: ids.map(() => "train"),
      });
    }
    await w.close();
    const info = await readEmbeddingsInfo(path);
    assert.equal(info.n, n);
    assert.equal(info.d, d);
    assert.ok(info.rowGroups >= 4, `several row groups (${info.rowGroups})`);
    let sum = 0;
    let rows = 0;
    for await (const b of readEmbeddingBatches(path, { expectDim: d })) {
      const v = b.vectors;
      for (let j = 0; j < v.length; j++) sum += v[j] * ((rows * d + j) % 7);
      if (rows <= 31_337 && 31_337 < rows + b.n) {
        assert.equal(b.ids[31_337 - rows], "r31337");
        assert.deepEqual(v.subarray((31_337 - rows) * d, (31_338 - rows) * d), refRow);
      }
      rows += b.n;
    }
    assert.equal(rows, n);
    assert.equal(sum, refSum); // same values, same order of summation: exact
    const text = await readEmbeddings(path, { modality: "text" });
    assert.equal(text.n, n / 2);
    assert.equal(text.ids[0], "r1");
  });
});

const COCO_DIR = new URL("../../shared/data/coco500-clip-vitb16/", import.meta.url);

Deno.test({
  name: "embeddings_io: the real COCO-500 CLIP embeddings survive a round trip",
  ignore: missing("coco500", await exists(new URL("pairs.json", COCO_DIR))),
}, async () => {
  const dir = COCO_DIR;
  const npy = await Deno.readFile(new URL("image_text_embeddings.npy", dir));
  const pairs: { image_id: number | string; caption: string }[] = JSON.parse(
    await Deno.readTextFile(new URL("pairs.json", dir)),
  );
  const headerLen = new DataView(npy.buffer, npy.byteOffset).getUint16(8, true);
  const header = new TextDecoder().decode(npy.subarray(10, 10 + headerLen));
  assert.match(header, /'descr': '<f4'/);
  assert.match(header, /\(2, 500, 512\)/);
  const raw = new Float32Array(npy.slice(10 + headerLen).buffer, 0, 2 * 500 * 512);
  const n = 1000;
  const d = 512;
  const set: EmbeddingSet = {
    n,
    d,
    vectors: new Float32Array(n * d),
    ids: [],
    pairIds: [],
    modality: [],
    split: [],
    source: [],
  };
  for (let i = 0; i < 500; i++) {
    for (const m of [0, 1]) {
      const r = 2 * i + m;
      set.vectors.set(raw.subarray((m * 500 + i) * d, (m * 500 + i + 1) * d), r * d);
      set.ids.push(m === 0 ? `coco-${pairs[i].image_id}` : `coco-${pairs[i].image_id}-cap`);
      set.pairIds.push(`coco-${pairs[i].image_id}`);
      set.modality.push(m === 0 ? "image" : "text");
      set.split.push(i < 400 ? "train" : "eval");
      set.source!.push(m === 0 ? null : pairs[i].caption);
    }
  }
  await withTmp(async (tmp) => {
    await writeEmbeddings(`${tmp}/coco.parquet`, set, { rowGroupSize: 256 });
    const back = await readEmbeddings(`${tmp}/coco.parquet`, { expectDim: 512 });
    assert.deepEqual(back, set);
    // The README's figure: centroid distance between modalities 0.851.
    const img = await readEmbeddings(`${tmp}/coco.parquet`, { modality: "image" });
    const txt = await readEmbeddings(`${tmp}/coco.parquet`, { modality: "text" });
    const ci = new Float64Array(d);
    const ct = new Float64Array(d);
    for (let r = 0; r < 500; r++) {
      for (let j = 0; j < d; j++) {
        ci[j] += img.vectors[r * d + j] / 500;
        ct[j] += txt.vectors[r * d + j] / 500;
      }
    }
    let dist = 0;
    for (let j = 0; j < d; j++) dist += (ci[j] - ct[j]) ** 2;
    assert.ok(Math.abs(Math.sqrt(dist) - 0.851) < 0.002, `centroid distance ${Math.sqrt(dist)}`);
  });
});
