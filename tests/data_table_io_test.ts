import assert from "node:assert/strict";
import { missing } from "./helpers/prerequisites.ts";
import * as arrow from "apache-arrow";
import { f32List, readTable, readTableInfo, writeTable } from "../data/table_io.ts";
import { UserError } from "../pipeline/errors.ts";
import { Rng } from "../data/random.ts";

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "table_io_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Bit patterns of a float array (so NaN payloads and -0 compare exactly). */
function bits(a: Float32Array | Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

async function rejectsUser(p: Promise<unknown>, ...parts: (string | RegExp)[]): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
    const msg = (e as Error).message;
    assert.ok(!msg.includes("\n"), `message must be one line: ${msg}`);
    for (const part of parts) {
      if (typeof part === "string") assert.ok(msg.includes(part), `"${msg}" lacks "${part}"`);
      else assert.match(msg, part);
    }
    return msg;
  }
  assert.fail("expected a UserError");
}

function sampleColumns(n: number, seed: number) {
  const rng = new Rng(seed);
  const f32 = new Float32Array(n);
  const f64 = new Float64Array(n);
  const i32 = new Int32Array(n);
  const specials32 = [NaN, -0, Infinity, -Infinity, 1.4e-45, 3.4028234663852886e38, -1e-40];
  const specials64 = [NaN, -0, Infinity, Number.MIN_VALUE, Number.MAX_VALUE, -1e-310];
  for (let i = 0; i < n; i++) {
    f32[i] = i < specials32.length ? specials32[i] : rng.normal() * 1e3;
    f64[i] = i < specials64.length ? specials64[i] : rng.normal() * 1e-7;
    i32[i] = i === 0 ? -2147483648 : i === 1 ? 2147483647 : (rng.nextUint32() | 0);
  }
  const texts = [
    "",
    "plain",
    "é✓ naïve",
    "日本語のキャプション",
    "emoji 🐱‍👤 𝔘",
    "a\u0000b",
    "quote \" ' < & >",
    "e\u0301",
  ];
  const str: (string | null)[] = [];
  for (let i = 0; i < n; i++) {
    str.push(i % 7 === 3 ? null : texts[i % texts.length] + (i > 8 ? String(i) : ""));
  }
  const bool: boolean[] = [];
  for (let i = 0; i < n; i++) bool.push(rng.uniform() < 0.5);
  const L = 5;
  const list = new Float32Array(n * L);
  rng.fillNormal(list);
  return { f32, f64, i32, str, bool, list: f32List(list, L) };
}

Deno.test("table_io: every column type round-trips bit-exactly across row groups", async () => {
  await withTmp(async (dir) => {
    const n = 1000;
    const c = sampleColumns(n, 7);
    const path = `${dir}/t.parquet`;
    await writeTable(path, c, { rowGroupSize: 128 });
    const info = await readTableInfo(path);
    assert.equal(info.numRows, n);
    assert.equal(info.rowGroups, Math.ceil(n / 128));
    const back = await readTable(path);
    assert.deepEqual(Object.keys(back), ["f32", "f64", "i32", "str", "bool", "list"]);
    assert.ok(back.f32 instanceof Float32Array);
    assert.deepEqual(bits(back.f32 as Float32Array), bits(c.f32));
    assert.ok(back.f64 instanceof Float64Array);
    assert.deepEqual(bits(back.f64 as Float64Array), bits(c.f64));
    assert.deepEqual(back.i32, c.i32);
    assert.deepEqual(back.str, c.str);
    assert.equal((back.str as (string | null)[])[3], null);
    assert.equal((back.str as (string | null)[])[0], "");
    assert.deepEqual(back.bool, c.bool);
    const list = back.list as { listSize: number; values: Float32Array };
    assert.equal(list.listSize, 5);
    assert.deepEqual(bits(list.values), bits(c.list.values));
  });
});

Deno.test("table_io: spec reads a typed subset of columns", async () => {
  await withTmp(async (dir) => {
    const c = sampleColumns(50, 1);
    const path = `${dir}/t.parquet`;
    await writeTable(path, c);
    const t = await readTable(path, { list: "fsl_f32", i32: "i32" });
    assert.deepEqual(Object.keys(t).sort(), ["i32", "list"]);
    assert.equal(t.list.listSize, 5);
    assert.deepEqual(t.i32, c.i32);
  });
});

Deno.test("table_io: output bytes are deterministic (no clock, metadata order irrelevant)", async () => {
  await withTmp(async (dir) => {
    const c = sampleColumns(3000, 3);
    await writeTable(`${dir}/a.parquet`, c, { rowGroupSize: 1000, metadata: { b: "2", a: "1" } });
    await writeTable(`${dir}/b.parquet`, c, { rowGroupSize: 1000, metadata: { a: "1", b: "2" } });
    const a = await Deno.readFile(`${dir}/a.parquet`);
    const b = await Deno.readFile(`${dir}/b.parquet`);
    assert.deepEqual(a, b);
    // A different row-group size gives a different (but again valid) file.
    await writeTable(`${dir}/c.parquet`, c, { rowGroupSize: 999 });
    assert.notDeepEqual(await Deno.readFile(`${dir}/c.parquet`), a);
    // No wall-clock anywhere: a file written a moment later is identical.
    await new Promise((r) => setTimeout(r, 1100));
    await writeTable(`${dir}/d.parquet`, c, { rowGroupSize: 1000, metadata: { a: "1", b: "2" } });
    assert.deepEqual(await Deno.readFile(`${dir}/d.parquet`), a);
  });
});

Deno.test("table_io: metadata and the Arrow schema (FixedSizeList) are stored in the file", async () => {
  await withTmp(async (dir) => {
    const path = `${dir}/t.parquet`;
    await writeTable(path, {
      concept: new Int32Array([0, 1]),
      direction: f32List(new Float32Array(6), 3),
    }, {
      metadata: { stage: "train", "k": "32" },
    });
    const info = await readTableInfo(path);
    assert.deepEqual(info.metadata, { k: "32", stage: "train" });
    assert.equal(info.columns[1].arrowType, "FixedSizeList[3]<Float32>");
    assert.equal(info.columns[1].listSize, 3);
    // Decode the ARROW:schema entry independently of our reader: base64 IPC schema message.
    const bytes = await Deno.readFile(path);
    const text = new TextDecoder("latin1").decode(bytes);
    const m = /ARROW:schema.{0,8}?([A-Za-z0-9+/=]{40,})/.exec(text);
    assert.ok(m, "ARROW:schema entry present in the footer");
    const raw = Uint8Array.from(atob(m[1]), (ch) => ch.charCodeAt(0));
    const schema = arrow.RecordBatchReader.from(raw).open().schema;
    const dir2 = schema.fields.find((f) => f.name === "direction")!;
    assert.equal(dir2.type.typeId, arrow.Type.FixedSizeList);
    assert.equal((dir2.type as arrow.FixedSizeList).listSize, 3);
    assert.equal(schema.fields.find((f) => f.name === "concept")!.type.typeId, arrow.Type.Int);
  });
});

Deno.test("table_io: empty table round-trips", async () => {
  await withTmp(async (dir) => {
    const path = `${dir}/e.parquet`;
    await writeTable(path, {
      a: new Float32Array(0),
      s: [] as string[],
      v: f32List(new Float32Array(0), 4),
    });
    const t = await readTable(path, { a: "f32", s: "utf8", v: "fsl_f32" });
    assert.equal(t.a.length, 0);
    assert.deepEqual(t.s, []);
    assert.equal(t.v.listSize, 4);
    assert.equal((await readTableInfo(path)).numRows, 0);
  });
});

Deno.test("table_io: errors name the file and column and say what to do", async () => {
  await withTmp(async (dir) => {
    const path = `${dir}/t.parquet`;
    await writeTable(path, { concept: new Int32Array([1, 2, 3]), energy: new Float64Array(3) });
    await rejectsUser(
      readTable(path, { frequency: "f32" }),
      path,
      "`frequency`",
      "missing",
      "`concept`",
    );
    await rejectsUser(
      readTable(path, { energy: "f32" }),
      path,
      "`energy`",
      "Float64",
      "f32",
      "cast",
    );
    await rejectsUser(
      readTable(path, { concept: "fsl_f32" }),
      path,
      "`concept`",
      "fixed_size_list",
    );
    // Truncated: drop the footer.
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(`${dir}/trunc.parquet`, bytes.subarray(0, bytes.length - 20));
    await rejectsUser(
      readTable(`${dir}/trunc.parquet`),
      `${dir}/trunc.parquet`,
      "not a readable Parquet",
    );
    // Damaged footer with intact magic bytes.
    const bad = bytes.slice();
    for (let i = bad.length - 60; i < bad.length - 8; i++) bad[i] = 0xff;
    await Deno.writeFile(`${dir}/bad.parquet`, bad);
    await rejectsUser(readTable(`${dir}/bad.parquet`), `${dir}/bad.parquet`);
    await Deno.writeTextFile(`${dir}/text.parquet`, "id,value\n1,2\n");
    await rejectsUser(
      readTableInfo(`${dir}/text.parquet`),
      `${dir}/text.parquet`,
      "not a readable Parquet",
    );
    await rejectsUser(readTable(`${dir}/absent.parquet`), `${dir}/absent.parquet`, "not found");
    await assert.rejects(
      writeTable(`${dir}/x.parquet`, { a: new Float32Array(2), b: new Int32Array(3) }),
      /`b` has 3 rows/,
    );
    await rejectsUser(
      writeTable(`${dir}/no/such/dir/x.parquet`, { a: new Float32Array(2) }),
      "cannot create",
    );
  });
});

/** DuckDB's Node API, or null where its native binary does not load. */
const duckdb: typeof import("@duckdb/node-api") | null = await import("@duckdb/node-api").catch(
  () => null,
);

Deno.test({
  name: "table_io: files read back in DuckDB with standard types",
  ignore: missing("duckdb", duckdb !== null),
}, async () => {
  const duck = duckdb!;
  await withTmp(async (dir) => {
    const path = `${dir}/t.parquet`;
    const n = 300;
    const c = sampleColumns(n, 11);
    const f32 = c.f32.map((v) => (Number.isFinite(v) ? v : 0)); // DuckDB sums: keep finite
    await writeTable(path, { ...c, f32 }, { rowGroupSize: 64 });
    const inst = await duck.DuckDBInstance.create(":memory:");
    const con = await inst.connect();
    const desc = (await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${path}')`))
      .getRowObjectsJson()
      .map((r) => `${r.column_name}:${r.column_type}`);
    assert.deepEqual(desc, [
      "f32:FLOAT",
      "f64:DOUBLE",
      "i32:INTEGER",
      "str:VARCHAR",
      "bool:BOOLEAN",
      "list:FLOAT[]",
    ]);
    const rows = (await con.runAndReadAll(
      `SELECT count(*)::INTEGER n, count(str)::INTEGER nn, sum(i32::BIGINT)::VARCHAR si, sum(f32::DOUBLE) sf,
              sum(bool::INTEGER)::INTEGER nb, list[3] l3, len(list)::INTEGER ll, str s
       FROM read_parquet('${path}') GROUP BY ALL ORDER BY ALL LIMIT 1`,
    )).getRowObjectsJson();
    assert.equal(rows.length, 1);
    const agg = (await con.runAndReadAll(
      `SELECT count(*)::INTEGER n, count(str)::INTEGER nn, sum(i32::BIGINT)::VARCHAR si,
              sum(f32::DOUBLE) sf, sum(bool::INTEGER)::INTEGER nb, max(len(list))::INTEGER ll
       FROM read_parquet('${path}')`,
    )).getRowObjectsJson()[0];
    assert.equal(agg.n, n);
    assert.equal(agg.nn, c.str.filter((s) => s !== null).length);
    let si = 0n;
    for (const v of c.i32) si += BigInt(v);
    assert.equal(agg.si, si.toString());
    let sf = 0;
    for (const v of f32) sf += v;
    assert.ok(Math.abs((agg.sf as number) - sf) <= 1e-9 * Math.max(1, Math.abs(sf)) + 1e-6);
    assert.equal(agg.nb, c.bool.filter((b) => b).length);
    assert.equal(agg.ll, 5);
    // Row 17 (a text row past the first row group), element 3 of its list.
    const r17 = (await con.runAndReadAll(
      `SELECT str, list[3]::DOUBLE v FROM read_parquet('${path}', file_row_number = true) WHERE file_row_number = 70`,
    )).getRowObjectsJson()[0];
    assert.equal(r17.str, c.str[70]);
    assert.equal(r17.v, c.list.values[70 * 5 + 2]);
    con.closeSync();
    inst.closeSync();
  });
});
