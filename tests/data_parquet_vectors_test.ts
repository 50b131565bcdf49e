/**
 * The direct vector-column reader (data/parquet_vectors.ts): its Thrift and snappy decoders on
 * hand-made bytes (closed forms), bit-identity with the general reader on multi-page, multi-group
 * files, and the fallback on a layout it does not decode.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as arrow from "apache-arrow";
import { openVectorColumn, readThriftStruct, snappyDecompress } from "../data/parquet_vectors.ts";
import { openParquet } from "../data/parquet_file.ts";
import * as pw from "parquet-wasm";
import { readEmbeddings, writeEmbeddings } from "../data/embeddings_io.ts";
import { columnsSliceToTable, f32List } from "../data/table_arrow.ts";
import type { EmbeddingSet } from "../data/embeddings.ts";
import { Rng } from "../data/random.ts";

function set(n: number, d: number, seed: number): EmbeddingSet {
  const rng = new Rng(seed);
  const vectors = rng.fillNormal(new Float32Array(n * d));
  vectors[5] = -0;
  vectors[7] = 1e-42; // subnormal
  const ids = Array.from({ length: n }, (_, i) => `r${i}`);
  return {
    n,
    d,
    vectors,
    ids,
    pairIds: ids.map((s) => `p${s}`),
    modality: ids.map((_, i) => (i % 3 ? "text" : "image")),
    split: ids.map((_, i) => (i % 5 ? "train" : "eval")),
  };
}

Deno.test("snappy: literals and overlapping copies decode to the closed form; corrupt input throws", () => {
  const text = "abcabcabcabcX";
  // varint 13 · literal "abc" · copy1 (length 9, offset 3) · literal "X"
  const block = Uint8Array.from([13, 2 << 2, 97, 98, 99, ((9 - 4) << 2) | 1, 3, 0, 88]);
  const out = new Uint8Array(13);
  snappyDecompress(block, out);
  assert.equal(new TextDecoder().decode(out), text);
  const bad = Uint8Array.from([13, 2 << 2, 97, 98, 99, ((9 - 4) << 2) | 1, 9, 0, 88]);
  assert.throws(() => snappyDecompress(bad, new Uint8Array(13)), RangeError);
  assert.throws(() => snappyDecompress(block, new Uint8Array(12)), RangeError);
});

Deno.test("thrift compact: fields, zigzag ints, binaries, lists and nested structs", () => {
  // {1: i32 −3, 2: binary "hi", 4: list<i32>[1, −1], 20: struct {1: true}} then STOP
  const b = Uint8Array.from([
    0x15,
    0x05, // field 1 (delta 1), i32, zigzag 5 = −3
    0x18,
    0x02,
    104,
    105, // field 2, binary "hi"
    0x29,
    0x25,
    0x02,
    0x01, // field 4 (delta 2), list of 2 i32: 1, −1
    0x0c,
    0x28, // field 20 in long form (zigzag 40), struct
    0x11,
    0x00, // {1: true} STOP
    0x00,
  ]);
  const [s, end] = readThriftStruct(b, 0);
  assert.equal(end, b.length);
  assert.equal(s.get(1), -3);
  assert.equal(new TextDecoder().decode(s.get(2) as Uint8Array), "hi");
  assert.deepEqual(s.get(4), [1, -1]);
  assert.equal((s.get(20) as Map<number, unknown>).get(1), true);
});

Deno.test("vector reader: bit-identical to the general reader over many pages and row groups", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "e.parquet");
    const s = set(5000, 300, 3); // row groups of 1500 rows: 1.8 MB each, two or more pages
    s.vectors[300 * 4000 + 2] = Infinity;
    await writeEmbeddings(path, s, { rowGroupSize: 1500 }).catch(() => {});
    s.vectors[300 * 4000 + 2] = 0.5; // the writer refuses non-finite values
    await writeEmbeddings(path, s, { rowGroupSize: 1500 });
    const src = await openParquet(path);
    const vc = openVectorColumn(path, "vector", 300);
    assert.ok(vc, "the project's own file is read directly");
    try {
      assert.equal(src.rowGroupRows.length, 4);
      let at = 0;
      for (let g = 0; g < 4; g++) {
        const rows = src.rowGroupRows[g];
        const out = new Float32Array(rows * 300);
        assert.equal(vc.readRowGroup(g, out, 0), true);
        const t = await src.readRowGroup(g, ["vector"]);
        const want = t.getChild("vector")!.data[0].children[0].values as Float32Array;
        assert.deepEqual(
          new Uint8Array(out.buffer),
          new Uint8Array(want.buffer, want.byteOffset, rows * 300 * 4),
        );
        assert.deepEqual(out, s.vectors.subarray(at * 300, (at + rows) * 300));
        at += rows;
      }
    } finally {
      vc.close();
      src.close();
    }
    // Through readEmbeddings (filtered and not) as well.
    const all = await readEmbeddings(path);
    assert.deepEqual(all.vectors, s.vectors);
    const ev = await readEmbeddings(path, { split: "eval" });
    const keep = s.split.flatMap((x, i) => (x === "eval" ? [i] : []));
    assert.equal(ev.n, keep.length);
    keep.forEach((r, i) =>
      assert.deepEqual(
        ev.vectors.subarray(i * 300, (i + 1) * 300),
        s.vectors.subarray(r * 300, (r + 1) * 300),
      )
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vector reader: a dictionary-encoded vector column falls back to the general reader", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "dict.parquet");
    const s = set(400, 8, 5);
    for (let i = 0; i < s.vectors.length; i++) s.vectors[i] = (i % 7) / 8; // few distinct values
    const schema = new arrow.Schema([
      new arrow.Field("id", new arrow.Utf8(), false),
      new arrow.Field("pair_id", new arrow.Utf8(), false),
      new arrow.Field("modality", new arrow.Utf8(), false),
      new arrow.Field("split", new arrow.Utf8(), false),
      new arrow.Field(
        "vector",
        new arrow.FixedSizeList(8, new arrow.Field("item", new arrow.Float32(), false)),
        false,
      ),
    ]);
    // parquet-wasm's default properties: dictionary encoding on (the project's writer turns it off).
    const cols = [s.ids, s.pairIds, s.modality, s.split, f32List(s.vectors, 8)];
    const ipc = arrow.tableToIPC(columnsSliceToTable(schema, cols, 0, 400), "stream");
    const props = new pw.WriterPropertiesBuilder().setMaxRowGroupSize(150).build();
    await Deno.writeFile(path, pw.writeParquet(pw.Table.fromIPCStream(ipc), props));
    const vc = openVectorColumn(path, "vector", 8);
    assert.equal(vc, null, "a dictionary page: not for the direct reader");
    const back = await readEmbeddings(path);
    assert.deepEqual(back.vectors, s.vectors);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
