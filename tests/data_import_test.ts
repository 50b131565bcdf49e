/**
 * Importers: `.npy`/`.npz` decoding against bytes written by NumPy itself, pairs tables (JSON and
 * CSV), the three array layouts, Parquet, the COCO-500 CLIP fixture's published figures, and every
 * bad-input case (its error, and nothing written).
 */
import assert from "node:assert/strict";
import { testContext } from "./helpers/stage_context.ts";
import { exists, missing } from "./helpers/prerequisites.ts";
import { join } from "node:path";
import { decodeNpy, encodeNpy, halfToFloat } from "../data/npy.ts";
import { normalizeRows } from "../data/rows.ts";
import { decodeNpz, encodeNpz } from "../data/npz.ts";
import { parsePairsCsv, parsePairsJson } from "../data/pairs_table.ts";
import { importNpy } from "../data/import_npy.ts";
import { readEmbeddings, writeEmbeddings } from "../data/embeddings_io.ts";
import { centroidDistance, topOneRetrieval } from "../data/geometry.ts";
import type { EmbeddingSet } from "../data/embeddings.ts";
import { type DatasetSection, datasetSection } from "../tasks/config/dataset.ts";
import { datasetRawInputs, datasetStage } from "../tasks/dataset.ts";
import { UserError } from "../pipeline/errors.ts";

const FIXTURE = "../shared/data/coco500-clip-vitb16";

/** np.savez(b, image=float16 (2,3), text=float32 (3,3)), written by NumPy 2.4 (ZIP64 members). */
const NUMPY_SAVEZ =
  "UEsDBC0AAAAAAAAAIQCmUvtu//////////8JABQAaW1hZ2UubnB5AQAQAIwAAAAAAAAAjAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICc8ZjInLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCgA+AMAANP97AAQAgFBLAwQtAAAAAAAAACEAwJr6Bf//////////CAAUAHRleHQubnB5AQAQAKQAAAAAAAAApAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCs3MzD3NzEw+mpmZPpW/1rMAAEBAq6qqPgAA4EAAAABBAAAQQVBLAQItAy0AAAAAAAAAIQCmUvtujAAAAIwAAAAJAAAAAAAAAAAAAACAAQAAAABpbWFnZS5ucHlQSwECLQMtAAAAAAAAACEAwJr6BaQAAACkAAAACAAAAAAAAAAAAAAAgAHHAAAAdGV4dC5ucHlQSwUGAAAAAAIAAgBtAAAApQEAAAAA";
/** The same arrays through np.savez_compressed (deflate). */
const NUMPY_SAVEZ_COMPRESSED =
  "UEsDBC0AAAAIAAAAIQCmUvtu//////////8JABQAaW1hZ2UubnB5AQAQAIwAAAAAAAAAUgAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2akrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOgrGmjoKtQpkAy4GO4YDDCb/qxlYGBoAUEsDBC0AAAAIAAAAIQDAmvoF//////////8IABQAdGV4dC5ucHkBABAApAAAAAAAAABsAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TZqKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GsY6CsaaOgq1CmQDrrNnztiePeNjN2vmTLup+69tZmBwcFi9apUdA8MDBwYGBkcGBgFHAFBLAQItAy0AAAAIAAAAIQCmUvtuUgAAAIwAAAAJAAAAAAAAAAAAAACAAQAAAABpbWFnZS5ucHlQSwECLQMtAAAACAAAACEAwJr6BWwAAACkAAAACAAAAAAAAAAAAAAAgAGNAAAAdGV4dC5ucHlQSwUGAAAAAAIAAgBtAAAAMwEAAAAA";
/** np.save(b, text.astype('>f4')): big-endian float32 (3,3). */
const NUMPY_BIG_ENDIAN =
  "k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo9zMzNPkzMzT6ZmZqz1r+VQEAAAD6qqqtA4AAAQQAAAEEQAAA=";
const IMG_VALUES = [1.5, -2.0, 0.25, 65504.0, 6.103515625e-05, -0.0];
const TXT_VALUES = Array.from(
  new Float32Array([0.1, 0.2, 0.3, -1e-7, 3.0, 1 / 3, 7, 8, 9]),
);

/** The same .npy bytes relabelled as `<i4` (same item size): an unsupported dtype. */
function asInt32(npy: Uint8Array): Uint8Array {
  const out = npy.slice();
  const at = new TextDecoder().decode(out.subarray(0, 128)).indexOf("<f4") + 1;
  out[at] = "i".charCodeAt(0);
  return out;
}

const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

function ctxFor(params: DatasetSection, outDir: string, lines: string[]) {
  const rawInputs = datasetRawInputs(params);
  const ctx = testContext(params, outDir, { id: "dataset", rawInputs, lines });
  return { ctx, meta: ctx.meta };
}

/** Random unit rows (n×d), deterministic. */
function unitRows(n: number, d: number, seed: number): Float32Array {
  const v = new Float32Array(n * d);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < v.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    v[i] = (x / 2 ** 32) - 0.5;
  }
  return normalizeRows(v, n, d);
}

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out;
}

Deno.test("npy: decodes NumPy's float16, float32 and big-endian bytes exactly", async () => {
  for (const src of [NUMPY_SAVEZ, NUMPY_SAVEZ_COMPRESSED]) {
    const arrays = await decodeNpz(b64(src), "numpy.npz");
    assert.deepEqual([...arrays.keys()].sort(), ["image", "text"]);
    assert.deepEqual(arrays.get("image")!.shape, [2, 3]);
    assert.equal(arrays.get("image")!.dtype, "<f2");
    assert.deepEqual(Array.from(arrays.get("image")!.data), IMG_VALUES);
    assert.deepEqual(arrays.get("text")!.shape, [3, 3]);
    assert.deepEqual(Array.from(arrays.get("text")!.data), TXT_VALUES);
  }
  const be = decodeNpy(b64(NUMPY_BIG_ENDIAN), "be.npy");
  assert.deepEqual(Array.from(be.data), TXT_VALUES);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.equal(halfToFloat(0x0001), 2 ** -24);
});

Deno.test("npy/npz: encode → decode round trip (stored and deflated)", async () => {
  const a = unitRows(5, 7, 1);
  const npy = encodeNpy(a, [5, 7]);
  assert.equal((npy.length - a.length * 4) % 64, 0, "header padded to 64 bytes");
  assert.deepEqual(decodeNpy(npy, "a.npy").data, a);
  for (const compress of [false, true]) {
    const z = await encodeNpz({ image: npy, text: encodeNpy(a.subarray(0, 14), [2, 7]) }, {
      compress,
    });
    const back = await decodeNpz(z, "a.npz");
    assert.deepEqual(back.get("image")!.data, a);
    assert.deepEqual(back.get("text")!.shape, [2, 7]);
  }
});

Deno.test("pairs tables: JSON and CSV (quotes, commas, CRLF, empty fields)", () => {
  const j = parsePairsJson(
    '[{"image_id": 5, "caption": "a dog"}, {"image_id": "x", "caption": null}]',
    "p.json",
  );
  assert.deepEqual(j.columns, ["image_id", "caption"]);
  assert.deepEqual(j.rows, [{ image_id: "5", caption: "a dog" }, { image_id: "x", caption: null }]);
  const c = parsePairsCsv(
    'image_id,caption,image\r\n1,"a dog, running","x.jpg"\r\n1,"said ""hi""",\r\n2,plain,y.jpg\n',
    "p.csv",
  );
  assert.deepEqual(c.columns, ["image_id", "caption", "image"]);
  assert.deepEqual(c.rows, [
    { image_id: "1", caption: "a dog, running", image: "x.jpg" },
    { image_id: "1", caption: 'said "hi"', image: null },
    { image_id: "2", caption: "plain", image: "y.jpg" },
  ]);
  assert.throws(() => parsePairsCsv("a,b\n1,2,3\n", "p.csv"), /line 2 has 3 fields/);
  assert.throws(() => parsePairsJson("", "p.json"), UserError);
  assert.throws(() => parsePairsJson("[]", "p.json"), /no rows/);
});

Deno.test({
  name: "import: COCO-500 CLIP fixture reproduces 0.851 and 0.55 / 0.51",
  ignore: missing("coco500", await exists(join(FIXTURE, "image_text_embeddings.npy"))),
}, async () => {
  await withDir(async (dir) => {
    // The documented one-block config.
    const params = datasetSection.parse({
      kind: "npy",
      path: `${FIXTURE}/image_text_embeddings.npy`,
      pairs: `${FIXTURE}/pairs.json`,
    });
    const lines: string[] = [];
    const { ctx, meta } = ctxFor(params, dir, lines);
    await datasetStage.run(ctx);
    assert.deepEqual(await listDir(dir), ["embeddings.parquet"]);
    assert.ok(!lines.some((l) => l.startsWith("warning:")), "fixture rows are unit-norm");
    const set = await readEmbeddings(join(dir, "embeddings.parquet"));
    assert.equal(set.n, 1000);
    assert.equal(set.d, 512);
    assert.equal(set.ids[0], "179765");
    assert.equal(set.ids[500], "179765#0");
    assert.equal(set.pairIds[500], "179765");
    assert.equal(set.modality[500], "text");
    assert.equal(set.source![500], "A motorcycle with its brake extended standing outside");
    assert.equal(set.source![0], "http://images.cocodataset.org/val2017/000000179765.jpg");
    const r = topOneRetrieval(set, 500);
    assert.equal(centroidDistance(set).toFixed(3), "0.851");
    assert.equal(r.imageToText.toFixed(2), "0.55");
    assert.equal(r.textToImage.toFixed(2), "0.51");
    assert.equal((meta.centroid_distance as number).toFixed(3), "0.851");
    assert.deepEqual(meta.counts, {
      train: { image: 400, text: 400 },
      eval: { image: 100, text: 100 },
    });
    // The random-weights control of the same fixture: gap but no semantics (1.136, 0.00).
    const control = await importNpy({
      path: `${FIXTURE}/random_init_control.npy`,
      pairs: `${FIXTURE}/pairs.json`,
    });
    assert.equal(centroidDistance(control).toFixed(3), "1.136");
    assert.equal(topOneRetrieval(control, 500).imageToText.toFixed(2), "0.00");
  });
});

Deno.test("import: image + caption arrays with several captions per image (npz, CSV)", async () => {
  await withDir(async (dir) => {
    const d = 6;
    const img = unitRows(3, d, 2), txt = unitRows(5, d, 3);
    const npz = join(dir, "e.npz");
    await Deno.writeFile(
      npz,
      await encodeNpz({ images: encodeNpy(img, [3, d]), texts: encodeNpy(txt, [5, d]) }),
    );
    const csv = join(dir, "pairs.csv");
    await Deno.writeTextFile(
      csv,
      "image_id,caption,file_name\na,one,a.jpg\nb,two,b.jpg\na,three,a.jpg\nc,four,c.jpg\nc,five,c.jpg\n",
    );
    const set = await importNpy({ path: npz, pairs: csv });
    assert.equal(set.n, 8);
    assert.deepEqual(set.ids, ["a", "b", "c", "a#0", "b#0", "a#1", "c#0", "c#1"]);
    assert.deepEqual(set.pairIds, ["a", "b", "c", "a", "b", "a", "c", "c"]);
    assert.deepEqual(set.source, [
      "a.jpg",
      "b.jpg",
      "c.jpg",
      "one",
      "two",
      "three",
      "four",
      "five",
    ]);
    assert.deepEqual(set.vectors.subarray(3 * d), txt);
    assert.deepEqual(set.vectors.subarray(0, 3 * d), img);
    // Two .npy files give the same rows.
    await Deno.writeFile(join(dir, "i.npy"), encodeNpy(img, [3, d]));
    await Deno.writeFile(join(dir, "t.npy"), encodeNpy(txt, [5, d]));
    const two = await importNpy({
      path: join(dir, "i.npy"),
      textPath: join(dir, "t.npy"),
      pairs: csv,
    });
    assert.deepEqual(two, set);
  });
});

Deno.test("import: one 2-D array with a modality column; Parquet with its own split", async () => {
  await withDir(async (dir) => {
    const d = 4;
    const v = unitRows(4, d, 5);
    await Deno.writeFile(join(dir, "e.npy"), encodeNpy(v, [4, d]));
    await Deno.writeTextFile(
      join(dir, "rows.json"),
      JSON.stringify([
        { pair_id: "p", modality: "image" },
        { pair_id: "p", modality: "text", caption: "x" },
        { pair_id: "q", modality: "image" },
        { pair_id: "q", modality: "text", caption: "y", caption_id: "cap-q" },
      ]),
    );
    const set = await importNpy({ path: join(dir, "e.npy"), pairs: join(dir, "rows.json") });
    assert.deepEqual(set.ids, ["p", "p#0", "q", "cap-q"]);
    assert.deepEqual(set.modality, ["image", "text", "image", "text"]);

    const pq: EmbeddingSet = { ...set, split: ["eval", "eval", "train", "train"] };
    await writeEmbeddings(join(dir, "in.parquet"), pq);
    const out = join(dir, "out");
    await Deno.mkdir(out);
    const params = datasetSection.parse({
      kind: "parquet",
      path: join(dir, "in.parquet"),
      keepSplit: true,
    });
    await datasetStage.run(ctxFor(params, out, []).ctx);
    const back = await readEmbeddings(join(out, "embeddings.parquet"));
    assert.deepEqual(back.split, ["eval", "eval", "train", "train"]);
    assert.deepEqual(back.vectors, v);
  });
});

Deno.test("import: rows that are not unit-norm are normalised with a warning saying how many", async () => {
  await withDir(async (dir) => {
    const d = 3;
    const v = unitRows(4, d, 9);
    for (let i = 0; i < d; i++) {
      v[i] *= 2;
      v[d + i] *= 0.5;
    }
    await Deno.writeFile(join(dir, "e.npy"), encodeNpy(v, [2, 2, d]));
    await Deno.writeTextFile(
      join(dir, "p.json"),
      JSON.stringify([{ image_id: 1 }, { image_id: 2 }]),
    );
    const out = join(dir, "out");
    await Deno.mkdir(out);
    const lines: string[] = [];
    const params = datasetSection.parse({
      kind: "npy",
      path: join(dir, "e.npy"),
      pairs: join(dir, "p.json"),
    });
    await datasetStage.run(ctxFor(params, out, lines).ctx);
    assert.ok(
      lines.some((l) => /^warning: .*2 of 4 rows were not unit-norm; normalised/.test(l)),
      lines.join("\n"),
    );
    const back = await readEmbeddings(join(out, "embeddings.parquet"));
    for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += back.vectors[r * d + i] ** 2;
      assert.ok(Math.abs(s - 1) < 1e-6);
    }
  });
});

Deno.test("import: every bad input gives its error and writes nothing", async () => {
  await withDir(async (dir) => {
    const d = 4;
    const w = async (name: string, data: Uint8Array | string) => {
      const p = join(dir, name);
      if (typeof data === "string") await Deno.writeTextFile(p, data);
      else await Deno.writeFile(p, data);
      return p;
    };
    const good = unitRows(4, d, 1);
    const pairs2 = await w(
      "pairs2.json",
      JSON.stringify([{ image_id: "a", caption: "x" }, { image_id: "b", caption: "y" }]),
    );
    const stacked = await w("stacked.npy", encodeNpy(good, [2, 2, d]));
    const nan = good.slice();
    nan[5] = NaN;
    const inf = good.slice();
    inf[9] = -Infinity;
    const dupParquet: EmbeddingSet = {
      n: 2,
      d,
      vectors: good.slice(0, 2 * d),
      ids: ["x", "x"],
      pairIds: ["x", "x"],
      modality: ["image", "text"],
      split: ["train", "train"],
    };
    await writeEmbeddings(join(dir, "dup.parquet"), dupParquet);
    const orphanParquet: EmbeddingSet = { ...dupParquet, ids: ["x", "y"], pairIds: ["x", "z"] };
    await writeEmbeddings(join(dir, "orphan.parquet"), orphanParquet);

    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        "dimension mismatch between image and caption arrays",
        {
          path: await w("i.npy", encodeNpy(unitRows(2, 4, 2), [2, 4])),
          textPath: await w("t.npy", encodeNpy(unitRows(2, 3, 2), [2, 3])),
          pairs: pairs2,
        },
        /image rows have dimension 4 but caption rows 3/,
      ],
      [
        "dimension other than expectDim",
        { path: stacked, pairs: pairs2, expectDim: 512 },
        /dimension 4, dataset\.expectDim is 512/,
      ],
      [
        "NaN",
        { path: await w("nan.npy", encodeNpy(nan, [2, 2, d])), pairs: pairs2 },
        /row 1 .* holds NaN at dimension 1/,
      ],
      [
        "Inf",
        { path: await w("inf.npy", encodeNpy(inf, [2, 2, d])), pairs: pairs2 },
        /row 2 .* holds -Infinity/,
      ],
      [
        "duplicate pair id in a stacked layout",
        {
          path: stacked,
          pairs: await w("dup.json", JSON.stringify([{ image_id: "a" }, { image_id: "a" }])),
        },
        /"a" occurs twice \(rows 0 and 1\)/,
      ],
      [
        "duplicate caption ids",
        {
          path: stacked,
          pairs: await w(
            "dupcap.json",
            JSON.stringify([{ image_id: "a", caption_id: "c" }, {
              image_id: "b",
              caption_id: "c",
            }]),
          ),
        },
        /id "c" occurs twice/,
      ],
      [
        "duplicate ids in Parquet",
        { kind: "parquet", path: join(dir, "dup.parquet") },
        /"x" occurs twice/,
      ],
      [
        "caption whose image is missing (Parquet)",
        { kind: "parquet", path: join(dir, "orphan.parquet") },
        /caption "y" \(row 1\) belongs to image "z", which has no image row/,
      ],
      [
        "caption whose image is missing (row table)",
        {
          path: await w("rows.npy", encodeNpy(good.slice(0, 2 * d), [2, d])),
          pairs: await w(
            "rows.json",
            JSON.stringify([{ pair_id: "a", modality: "image" }, {
              pair_id: "b",
              modality: "text",
            }]),
          ),
        },
        /belongs to image "b", which has no image row/,
      ],
      [
        "captions naming more images than the image array holds",
        {
          path: await w("i2.npy", encodeNpy(unitRows(1, d, 3), [1, d])),
          textPath: await w("t2.npy", encodeNpy(unitRows(2, d, 3), [2, d])),
          pairs: pairs2,
        },
        /caption row 1 \(image "b"\) has no image embedding/,
      ],
      ["caption without an image id", {
        path: stacked,
        pairs: await w("noid.json", JSON.stringify([{ image_id: "a" }, { image_id: null }])),
      }, /row 1 has no `image_id`/],
      ["pairs count mismatch", {
        path: stacked,
        pairs: await w("one.json", JSON.stringify([{ image_id: "a" }])),
      }, /has 1 rows but .* holds 2 pairs/],
      [
        "empty .npy file",
        { path: await w("empty.npy", new Uint8Array(0)), pairs: pairs2 },
        /empty\.npy: the file is empty/,
      ],
      ["empty array", {
        path: await w("zero.npy", encodeNpy(new Float32Array(0), [2, 0, d])),
        pairs: await w("zero.csv", "image_id,caption\n"),
      }, /header but no rows/],
      [
        "empty .npz file",
        { path: await w("empty.npz", new Uint8Array(0)), pairs: pairs2 },
        /empty\.npz: the file is empty/,
      ],
      [
        "empty pairs file",
        { path: stacked, pairs: await w("empty.json", "") },
        /empty\.json: the pairs file is empty/,
      ],
      [
        "empty Parquet file",
        { kind: "parquet", path: await w("empty.parquet", new Uint8Array(0)) },
        /empty\.parquet: the file is empty/,
      ],
      [
        "missing file",
        { path: join(dir, "nope.npy"), pairs: pairs2 },
        /nope\.npy: cannot read the file; check dataset\.path/,
      ],
      [
        "unsupported dtype (int32)",
        { path: await w("int.npy", asInt32(encodeNpy(good, [2, 2, d]))), pairs: pairs2 },
        /dtype <i4 is not supported/,
      ],
      ["no pair id column", {
        path: stacked,
        pairs: await w("nocol.json", JSON.stringify([{ img: 1 }, { img: 2 }])),
      }, /no column `pair_id` or `image_id`.*set dataset\.pairIdColumn/],
    ];
    for (const [what, over, re] of cases) {
      const out = join(dir, `out-${what.replace(/[^a-z0-9]+/gi, "_")}`);
      await Deno.mkdir(out);
      const params = datasetSection.parse({ kind: "npy", ...over });
      await assert.rejects(
        () => datasetStage.run(ctxFor(params, out, []).ctx),
        (e: unknown) => {
          assert.ok(e instanceof UserError, `${what}: expected a UserError, got ${e}`);
          assert.match(e.message, re, `${what}`);
          assert.ok(!e.message.includes("\n"), `${what}: one line`);
          return true;
        },
      );
      assert.deepEqual(await listDir(out), [], `${what}: nothing written`);
    }
  });
});
