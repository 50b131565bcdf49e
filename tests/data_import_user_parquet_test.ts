/**
 * Users' own vectors as they export them (issue 14, point 5): Parquet tables written by DuckDB
 * (`vector FLOAT[d]` is a list column, not fixed_size_list; float64 lists; no `split` column)
 * import through the dataset stage; a vector of another length is refused naming its row; the
 * footer reader gives rows and d before anything runs, and the plan refuses a c the diets cannot
 * feed to k-means with one error naming the key to change.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { importParquet } from "../data/import_parquet.ts";
import { readParquetFooterCounts } from "../data/table_footer.ts";
import { isUserError } from "../pipeline/errors.ts";
import { loadDataset } from "../tasks/dataset.ts";
import { datasetSection } from "../tasks/config/dataset.ts";
import { studyConfigSchema } from "../tasks/config/mod.ts";
import { buildStudy } from "../tasks/study.ts";
import { writeEmbeddings } from "../data/embeddings_io.ts";
import * as arrow from "apache-arrow";
import { ParquetStreamWriter } from "../data/parquet_file.ts";
import { missing } from "./helpers/prerequisites.ts";

/** DuckDB's Node API, or null where its native binary does not load. */
const duckdb: typeof import("@duckdb/node-api") | null = await import("@duckdb/node-api").catch(
  () => null,
);
const noDuck = missing("duckdb", duckdb !== null);

async function withDuck(
  fn: (run: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<void>,
) {
  const duck = duckdb!;
  const inst = await duck.DuckDBInstance.create(":memory:");
  const con = await inst.connect();
  try {
    await fn(async (sql) =>
      (await con.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[]
    );
  } finally {
    con.closeSync();
    inst.closeSync();
  }
}

/** 2·pairs rows (an image and one caption per pair), vectors of length d as DuckDB computes them. */
function rowsSql(pairs: number, d: number, type: string): string {
  return `SELECT 'r' || i AS id, 'p' || (i // 2) AS pair_id,
            CASE WHEN i % 2 = 0 THEN 'image' ELSE 'text' END AS modality,
            list_transform(range(${d}), j -> sin(i * 7 + j) + 0.1)::${type} AS vector
          FROM range(${2 * pairs}) t(i) ORDER BY i`;
}

async function rejectsUser(p: Promise<unknown>, ...parts: string[]) {
  await assert.rejects(p, (e) => {
    assert.ok(isUserError(e), `not a UserError: ${e}`);
    for (const s of parts) {
      assert.ok((e as Error).message.includes(s), `"${(e as Error).message}" lacks "${s}"`);
    }
    return true;
  });
}

Deno.test({
  name: "import: DuckDB FLOAT[d] (a list column), float64 lists, no split column",
  ignore: noDuck,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "atlas-duck-" });
  try {
    await withDuck(async (sql) => {
      const f32 = join(dir, "f32.parquet"), f64 = join(dir, "f64.parquet");
      await sql(
        `COPY (${rowsSql(30, 12, "FLOAT[12]")}) TO '${f32}' (FORMAT parquet, ROW_GROUP_SIZE 16)`,
      );
      await sql(`COPY (${rowsSql(30, 12, "DOUBLE[]")}) TO '${f64}' (FORMAT parquet)`);
      const types = await sql(
        `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${f32}'))`,
      );
      assert.equal(
        types.find((r) => r.column_name === "vector")?.column_type,
        "FLOAT[]",
        "DuckDB writes a list",
      );
      const ref = await sql(
        `SELECT id, vector::DOUBLE[] v FROM read_parquet('${f64}') ORDER BY file_row_number`
          .replace("ORDER BY file_row_number", ""),
      );
      for (const [file, what] of [[f32, "float32"], [f64, "float64"]]) {
        const set = await importParquet(file);
        assert.equal(set.n, 60, what);
        assert.equal(set.d, 12, what);
        assert.deepEqual(
          set.split,
          new Array(60).fill("train"),
          "no split column: every row reads as train",
        );
        for (let r = 0; r < 60; r++) {
          assert.equal(set.ids[r], `r${r}`);
          assert.equal(set.modality[r], r % 2 === 0 ? "image" : "text");
          const want = ref[r].v as number[];
          for (let j = 0; j < 12; j++) {
            // float32 values are exactly representable; float64 ones round to float32 once
            assert.equal(
              set.vectors[r * 12 + j],
              Math.fround(want[j]),
              `${what} row ${r} dim ${j}`,
            );
          }
        }
      }
      // Through the dataset stage: splits assigned by pair, rows normalised.
      const p = datasetSection.parse({ kind: "parquet", path: f32, evalFraction: 0.2 });
      const warnings: string[] = [];
      const { set } = await loadDataset(
        p,
        { path: f32, textPath: "", pairs: "" },
        (w) => warnings.push(w),
      );
      assert.equal(set.split.filter((s) => s === "eval").length, 12, "6 of 30 pairs held out");
      for (let r = 0; r < 60; r += 2) {
        assert.equal(set.split[r], set.split[r + 1], "a pair stays together");
      }
      assert.match(warnings.join("\n"), /60 of 60 rows were not unit-norm/);
      // keepSplit without a split column: one error naming the key.
      await rejectsUser(
        loadDataset({ ...p, keepSplit: true }, { path: f32, textPath: "", pairs: "" }, () => {}),
        "f32.parquet",
        "`split` is missing",
        "dataset.keepSplit",
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "import: a vector of another length is refused naming its row; nulls and bad types too",
  ignore: noDuck,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "atlas-duck-" });
  try {
    await withDuck(async (sql) => {
      const ragged = join(dir, "ragged.parquet");
      await sql(
        `COPY (SELECT * REPLACE (CASE WHEN id = 'r37' THEN vector[1:7] ELSE vector END AS vector)
                 FROM (${
          rowsSql(30, 8, "FLOAT[]")
        })) TO '${ragged}' (FORMAT parquet, ROW_GROUP_SIZE 16)`,
      );
      await rejectsUser(
        importParquet(ragged),
        "ragged.parquet",
        "`vector`",
        "row 37",
        "has 7 values",
        "first row has 8",
      );
      const nul = join(dir, "null.parquet");
      await sql(`COPY (SELECT * REPLACE (CASE WHEN id = 'r5' THEN NULL ELSE vector END AS vector)
                 FROM (${rowsSql(10, 8, "FLOAT[]")})) TO '${nul}' (FORMAT parquet)`);
      await rejectsUser(importParquet(nul), "`vector`", "row 5", "null");
      const strs = join(dir, "strings.parquet");
      await sql(
        `COPY (SELECT id, pair_id, modality, 'x' AS vector FROM (${
          rowsSql(3, 4, "FLOAT[]")
        })) TO '${strs}' (FORMAT parquet)`,
      );
      await rejectsUser(importParquet(strs), "`vector`", "list of floats");
      const badSplit = join(dir, "split.parquet");
      await sql(
        `COPY (SELECT *, CASE WHEN id = 'r3' THEN 'test' ELSE 'train' END AS split FROM (${
          rowsSql(3, 4, "FLOAT[4]")
        })) TO '${badSplit}' (FORMAT parquet)`,
      );
      await rejectsUser(importParquet(badSplit), "`split`", "row 3", "train|eval");
      const intIds = join(dir, "ints.parquet");
      await sql(
        `COPY (SELECT i AS id, i // 2 AS pair_id, CASE WHEN i % 2 = 0 THEN 'image' ELSE 'text' END AS modality,
                 [1.0, i]::FLOAT[2] AS vector FROM range(6) t(i)) TO '${intIds}' (FORMAT parquet)`,
      );
      const set = await importParquet(intIds);
      assert.deepEqual(set.ids, ["0", "1", "2", "3", "4", "5"]);
      assert.deepEqual(set.pairIds, ["0", "0", "1", "1", "2", "2"]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("import: the project's own fixed_size_list tables read as before (split kept)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atlas-fsl-" });
  try {
    const path = join(dir, "own.parquet");
    const n = 6, d = 3;
    const vectors = Float32Array.from({ length: n * d }, (_, i) => Math.fround(Math.cos(i)));
    await writeEmbeddings(path, {
      n,
      d,
      vectors,
      ids: ["a", "b", "c", "d", "e", "f"],
      pairIds: ["a", "a", "c", "c", "e", "e"],
      modality: ["image", "text", "image", "text", "image", "text"],
      split: ["train", "train", "eval", "eval", "train", "train"],
      source: ["x", null, "y", null, "z", null],
    });
    const set = await importParquet(path, { requireSplit: true });
    assert.deepEqual(set.vectors, vectors);
    assert.deepEqual(set.split, ["train", "train", "eval", "eval", "train", "train"]);
    assert.deepEqual(set.source, ["x", null, "y", null, "z", null]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "plan: rows and d from a DuckDB file's footer; k-means with too large a c fails before anything runs",
  ignore: noDuck,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "atlas-plan-" });
  try {
    await withDuck(async (sql) => {
      // 1,126 pairs of one image and one caption, d = 64 (the set had 1,126 pairs).
      const path = join(dir, "user.parquet");
      await sql(
        `COPY (${
          rowsSql(1126, 64, "FLOAT[64]")
        }) TO '${path}' (FORMAT parquet, ROW_GROUP_SIZE 1000)`,
      );
      const footer = readParquetFooterCounts(path)!;
      assert.equal(footer.rows, 2252);
      const vec = [...footer.values].find(([k]) => k.startsWith("vector"))!;
      assert.equal(vec[1] / footer.rows, 64);
      const config = (over: Record<string, unknown>) =>
        studyConfigSchema.parse({ dataset: { kind: "parquet", path }, ...over });
      // c = 32·64 = 2048 > the ≈1081 rows a diet of four ratios can hold: one error, the key named.
      assert.throws(() => buildStudy(config({ train: { expansionFactor: 32 } }), dir), (e) => {
        assert.ok(isUserError(e));
        const m = (e as Error).message;
        for (const s of ["train.expansionFactor", "k-means", "c = 2048", "1081", "train.methods"]) {
          assert.ok(m.includes(s), `"${m}" lacks "${s}"`);
        }
        return true;
      });
      // The default expansion (c = 4·64 = 256) plans; k above c is refused naming train.k.
      assert.ok(buildStudy(config({}), dir).length > 0);
      assert.throws(
        () => buildStudy(config({ train: { c: 16, k: [8, 32], methods: ["topk"] } }), dir),
        /train\.k: k = 32 exceeds the c = 16 concepts/,
      );
      assert.equal(readParquetFooterCounts(join(dir, "missing.parquet")), null);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("import: pyarrow's layout (list<item: double>, list<item: float>) across row groups", async () => {
  const dir = await Deno.makeTempDir({ prefix: "atlas-arrow-" });
  try {
    const n = 25, d = 5;
    const rows = Array.from(
      { length: n },
      (_, i) => Array.from({ length: d }, (_, j) => Math.sin(3 * i + j) / 3),
    );
    for (
      const [name, type] of [["f64", new arrow.Float64()], ["f32", new arrow.Float32()]] as const
    ) {
      const listType = new arrow.List(new arrow.Field("item", type, true));
      const vector = arrow.vectorFromArray(rows, listType);
      const table = new arrow.Table({
        id: arrow.vectorFromArray(rows.map((_, i) => `row-${i}`), new arrow.Utf8()),
        pair_id: arrow.vectorFromArray(rows.map((_, i) => `pair-${i >> 1}`), new arrow.Utf8()),
        modality: arrow.vectorFromArray(
          rows.map((_, i) => (i % 2 ? "text" : "image")),
          new arrow.Utf8(),
        ),
        vector,
      });
      const path = join(dir, `${name}.parquet`);
      const w = await ParquetStreamWriter.create(path, table.schema, { rowGroupSize: 7 });
      await w.write(table.slice(0, 11));
      await w.write(table.slice(11));
      await w.close();
      const set = await importParquet(path);
      assert.equal(set.d, d);
      assert.equal(set.n, n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < d; j++) {
          assert.equal(
            set.vectors[i * d + j],
            Math.fround(rows[i][j]),
            `${name} row ${i} dim ${j}`,
          );
        }
      }
      assert.equal(set.ids[24], "row-24");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
