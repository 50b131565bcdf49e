/**
 * The embeddings table of design.md as Parquet: `id` utf8, `pair_id` utf8, `modality` utf8,
 * `split` utf8, `vector` fixed_size_list<float32>[d], optional `source` utf8 — mapped to the
 * {@link EmbeddingSet} of data/embeddings.ts. Written and read row group by row group, so a
 * 600,000 × 768 table never needs two full copies in memory.
 */
import * as arrow from "apache-arrow";
import { UserError } from "../pipeline/errors.ts";
import type { EmbeddingSet, Modality, Split } from "./embeddings.ts";
import { openParquet, type ParquetSource, ParquetStreamWriter } from "./parquet_file.ts";
import { openVectorColumn, type VectorColumn } from "./parquet_vectors.ts";
import {
  allocColumn,
  arrowTypeMatches,
  castHint,
  columnsSliceToTable,
  type ColumnType,
  copyVectorInto,
  f32List,
  type F32ListColumn,
} from "./table_arrow.ts";

/** Rows per row group by default: about 16 MiB of vectors (d = 768: 5461 rows). */
export function defaultEmbeddingRowGroupSize(d: number): number {
  return Math.max(256, Math.floor((16 * 1024 * 1024) / (4 * Math.max(1, d))));
}

const MODALITIES: readonly Modality[] = ["image", "text"];
const SPLITS: readonly Split[] = ["train", "eval"];

function schemaFor(d: number, hasSource: boolean): arrow.Schema {
  const utf8 = (name: string, nullable: boolean) =>
    new arrow.Field(name, new arrow.Utf8(), nullable);
  const fields = [
    utf8("id", false),
    utf8("pair_id", false),
    utf8("modality", false),
    utf8("split", false),
    new arrow.Field(
      "vector",
      new arrow.FixedSizeList(d, new arrow.Field("item", new arrow.Float32(), false)),
      false,
    ),
  ];
  if (hasSource) fields.push(utf8("source", true));
  return new arrow.Schema(fields);
}

/**
 * Streaming writer of an embeddings table: `create`, any number of `append`, then `close`.
 * Each appended set is checked (dimension, finite values, modality/split values, lengths).
 */
export class EmbeddingsWriter {
  readonly path: string;
  readonly d: number;
  readonly hasSource: boolean;
  #w: ParquetStreamWriter;
  #schema: arrow.Schema;
  #rowGroupSize: number;
  #rows = 0;

  private constructor(
    path: string,
    d: number,
    hasSource: boolean,
    w: ParquetStreamWriter,
    schema: arrow.Schema,
    rg: number,
  ) {
    this.path = path;
    this.d = d;
    this.hasSource = hasSource;
    this.#w = w;
    this.#schema = schema;
    this.#rowGroupSize = rg;
  }

  /**
   * Create (truncate) `path`.
   * @param d vector dimension
   * @param hasSource whether the table has the optional `source` column
   * @param opts.rowGroupSize rows per row group (default {@link defaultEmbeddingRowGroupSize})
   */
  static async create(
    path: string,
    d: number,
    hasSource: boolean,
    opts: { rowGroupSize?: number } = {},
  ): Promise<EmbeddingsWriter> {
    if (!Number.isInteger(d) || d < 1) {
      throw new RangeError(`${path}: dimension d must be a positive integer, got ${d}`);
    }
    const rg = Math.max(1, Math.floor(opts.rowGroupSize ?? defaultEmbeddingRowGroupSize(d)));
    const schema = schemaFor(d, hasSource);
    const w = await ParquetStreamWriter.create(path, schema, {
      rowGroupSize: rg,
      dictionaryColumns: ["modality", "split", "pair_id"],
    });
    return new EmbeddingsWriter(path, d, hasSource, w, schema, rg);
  }

  /** Rows appended so far. */
  get rows(): number {
    return this.#rows;
  }

  /**
   * Append the rows of `set` (same d and same presence of `source` as the writer).
   * @param onProgress called after each row group with the rows of `set` written so far
   */
  async append(set: EmbeddingSet, onProgress?: (rows: number) => void): Promise<void> {
    checkSetForWrite(this.path, set, this.d, this.hasSource, this.#rows);
    const cols = [
      set.ids,
      set.pairIds,
      set.modality,
      set.split,
      f32List(set.vectors.subarray(0, set.n * set.d), set.d),
      ...(this.hasSource ? [set.source!] : []),
    ];
    try {
      for (let s = 0; s < set.n; s += this.#rowGroupSize) {
        const e = Math.min(set.n, s + this.#rowGroupSize);
        await this.#w.write(columnsSliceToTable(this.#schema, cols, s, e));
        onProgress?.(e);
      }
    } catch (e) {
      await this.#w.abort();
      throw e;
    }
    this.#rows += set.n;
  }

  /** Finish the file. */
  async close(): Promise<void> {
    await this.#w.close();
  }

  /** Stop and delete the partial file. */
  async abort(): Promise<void> {
    await this.#w.abort();
  }
}

function checkSetForWrite(
  path: string,
  set: EmbeddingSet,
  d: number,
  hasSource: boolean,
  rowBase: number,
): void {
  const where = (col: string, i: number) =>
    `${path}: refusing to write column \`${col}\`, row ${rowBase + i}`;
  if (set.d !== d) {
    throw new UserError(
      `${path}: refusing to write vectors of dimension ${set.d} into a table of dimension ${d}; write one table per model`,
    );
  }
  if (set.vectors.length < set.n * set.d) {
    throw new RangeError(
      `${path}: vectors has ${set.vectors.length} values, expected n·d = ${set.n * set.d}`,
    );
  }
  for (
    const [name, arr] of [["id", set.ids], ["pair_id", set.pairIds], ["modality", set.modality], [
      "split",
      set.split,
    ]] as const
  ) {
    if (arr.length !== set.n) {
      throw new RangeError(
        `${path}: column \`${name}\` has ${arr.length} rows, expected n = ${set.n}`,
      );
    }
  }
  if (hasSource !== (set.source !== undefined)) {
    throw new RangeError(
      `${path}: the writer was created ${
        hasSource ? "with" : "without"
      } a source column but the set ${set.source ? "has" : "has no"} source`,
    );
  }
  if (set.source && set.source.length !== set.n) {
    throw new RangeError(
      `${path}: column \`source\` has ${set.source.length} rows, expected n = ${set.n}`,
    );
  }
  for (let i = 0; i < set.n; i++) {
    if (typeof set.ids[i] !== "string") {
      throw new UserError(`${where("id", i)}: id must be a string`);
    }
    if (typeof set.pairIds[i] !== "string") {
      throw new UserError(`${where("pair_id", i)}: pair_id must be a string`);
    }
    if (set.modality[i] !== "image" && set.modality[i] !== "text") {
      throw new UserError(
        `${where("modality", i)}: value ${JSON.stringify(set.modality[i])} is not image|text`,
      );
    }
    if (set.split[i] !== "train" && set.split[i] !== "eval") {
      throw new UserError(
        `${where("split", i)}: value ${JSON.stringify(set.split[i])} is not train|eval`,
      );
    }
  }
  const v = set.vectors;
  for (let j = 0; j < set.n * d; j++) {
    if (!Number.isFinite(v[j])) {
      throw new UserError(
        `${where("vector", Math.floor(j / d))}: value ${v[j]} is not finite; fix the embedding`,
      );
    }
  }
}

/**
 * Write an {@link EmbeddingSet} to `path` (row group by row group).
 * @param opts.rowGroupSize rows per row group (default {@link defaultEmbeddingRowGroupSize})
 * @param opts.onProgress called after each row group with the rows written so far
 */
export async function writeEmbeddings(
  path: string,
  set: EmbeddingSet,
  opts: { rowGroupSize?: number; onProgress?: (rows: number) => void } = {},
): Promise<void> {
  const w = await EmbeddingsWriter.create(path, set.d, set.source !== undefined, opts);
  try {
    await w.append(set, opts.onProgress);
  } catch (e) {
    await w.abort();
    throw e;
  }
  await w.close();
}

/** Options of {@link readEmbeddings} and {@link readEmbeddingBatches}. */
export interface ReadEmbeddingsOptions {
  /** Keep only rows of this split. */
  split?: Split;
  /** Keep only rows of this modality. */
  modality?: Modality;
  /** The dimension the caller expects; a different one is a {@link UserError}. */
  expectDim?: number;
  /** Read the optional `source` column when present (default true). */
  source?: boolean;
  /** Called after each row group with the file rows read so far and the file's row count. */
  onProgress?: (rows: number, total: number) => void;
}

const REQUIRED: [string, ColumnType][] = [
  ["id", "utf8"],
  ["pair_id", "utf8"],
  ["modality", "utf8"],
  ["split", "utf8"],
  ["vector", "fsl_f32"],
];

/** Open and check the schema; returns the source, d and whether `source` is present. */
async function openEmbeddings(
  path: string,
  expectDim?: number,
): Promise<{ src: ParquetSource; d: number; hasSource: boolean }> {
  const src = await openParquet(path);
  try {
    const fields = new Map(src.schema.fields.map((f) => [f.name, f]));
    for (const [name, type] of REQUIRED) {
      const f = fields.get(name);
      if (!f) {
        throw new UserError(
          `${path}: column \`${name}\` is missing; an embeddings table needs id, pair_id, modality, split, vector (and optional source)`,
        );
      }
      if (!arrowTypeMatches(f.type, type)) {
        throw new UserError(
          `${path}: column \`${name}\` has type ${f.type}, expected ${type}; ${castHint(type)}`,
        );
      }
    }
    const sf = fields.get("source");
    if (sf && !arrowTypeMatches(sf.type, "utf8")) {
      throw new UserError(
        `${path}: column \`source\` has type ${sf.type}, expected utf8; ${
          castHint("utf8")
        } or drop it`,
      );
    }
    const d = (fields.get("vector")!.type as arrow.FixedSizeList).listSize;
    if (expectDim !== undefined && d !== expectDim) {
      throw new UserError(
        `${path}: column \`vector\` has dimension ${d}, expected ${expectDim}; use embeddings of the configured model`,
      );
    }
    return { src, d, hasSource: sf !== undefined };
  } catch (e) {
    src.close();
    throw e;
  }
}

/** Size and layout of an embeddings table, read from its footer only. */
export async function readEmbeddingsInfo(
  path: string,
): Promise<{ n: number; d: number; hasSource: boolean; rowGroups: number }> {
  const { src, d, hasSource } = await openEmbeddings(path);
  try {
    return { n: src.numRows, d, hasSource, rowGroups: src.rowGroupRows.length };
  } finally {
    src.close();
  }
}

/** One decoded, validated row group (all rows, before filtering). */
interface Group {
  n: number;
  ids: (string | null)[];
  pairIds: (string | null)[];
  modality: (string | null)[];
  split: (string | null)[];
  vector: F32ListColumn | null;
  source: (string | null)[] | null;
}

/**
 * Decode row group g (only `cols`) and validate it; `rowBase` = file row of its first row.
 * The `vector` column goes through `direct` when given and it can decode the group (else the
 * general reader), into `vectorBuf` when that is large enough.
 */
async function readGroup(
  src: ParquetSource,
  g: number,
  d: number,
  cols: string[],
  rowBase: number,
  direct: VectorColumn | null = null,
  vectorBuf: Float32Array | null = null,
): Promise<Group> {
  const path = src.path;
  const n = src.rowGroupRows[g];
  let vector: F32ListColumn | null = null;
  if (direct && cols.includes("vector")) {
    const values = vectorBuf && vectorBuf.length >= n * d
      ? vectorBuf.subarray(0, n * d)
      : new Float32Array(n * d);
    let ok = false;
    try {
      ok = direct.readRowGroup(g, values, 0);
    } catch { /* corrupt: the general reader reports it */ }
    if (ok) vector = { listSize: d, values };
  }
  const t = await src.readRowGroup(g, vector ? cols.filter((c) => c !== "vector") : cols);
  const get = (name: string, type: ColumnType) => {
    const vec = t.getChild(name);
    if (!vec) {
      throw new UserError(`${path}: row group ${g} lacks column \`${name}\`; re-create the file`);
    }
    const out = allocColumn(type, n, d);
    const got = copyVectorInto(vec, type, out, 0, { file: path, column: name, rowBase });
    if (got !== n) {
      throw new UserError(
        `${path}: row group ${g} column \`${name}\` has ${got} rows, expected ${n}; re-create the file`,
      );
    }
    return out;
  };
  const grp: Group = {
    n,
    ids: cols.includes("id") ? get("id", "utf8") as (string | null)[] : [],
    pairIds: cols.includes("pair_id") ? get("pair_id", "utf8") as (string | null)[] : [],
    modality: get("modality", "utf8") as (string | null)[],
    split: get("split", "utf8") as (string | null)[],
    vector: vector ?? (cols.includes("vector") ? get("vector", "fsl_f32") as F32ListColumn : null),
    source: cols.includes("source") ? get("source", "utf8") as (string | null)[] : null,
  };
  const bad = (col: string, i: number, msg: string) =>
    new UserError(`${path}: column \`${col}\`, row ${rowBase + i}: ${msg}`);
  for (let i = 0; i < n; i++) {
    const m = grp.modality[i];
    if (m !== "image" && m !== "text") {
      throw bad(
        "modality",
        i,
        `value ${JSON.stringify(m)} is not one of image|text; fix the value or drop the row`,
      );
    }
    const s = grp.split[i];
    if (s !== "train" && s !== "eval") {
      throw bad(
        "split",
        i,
        `value ${JSON.stringify(s)} is not one of train|eval; fix the value or drop the row`,
      );
    }
  }
  for (const [col, arr] of [["id", grp.ids], ["pair_id", grp.pairIds]] as const) {
    for (let i = 0; i < arr.length; i++) {
      if (arr[i] === null) throw bad(col, i, "value is null; every row needs one");
    }
  }
  if (grp.vector) {
    const v = grp.vector.values;
    for (let j = 0; j < v.length; j++) {
      if (!Number.isFinite(v[j])) {
        throw bad("vector", Math.floor(j / d), `value ${v[j]} is not finite; fix or drop the row`);
      }
    }
  }
  return grp;
}

function keepMask(grp: Group, opts: ReadEmbeddingsOptions): Uint8Array | null {
  if (!opts.split && !opts.modality) return null;
  const keep = new Uint8Array(grp.n);
  for (let i = 0; i < grp.n; i++) {
    keep[i] = (!opts.split || grp.split[i] === opts.split) &&
        (!opts.modality || grp.modality[i] === opts.modality)
      ? 1
      : 0;
  }
  return keep;
}

function allColumns(hasSource: boolean, opts: ReadEmbeddingsOptions): string[] {
  const cols = ["id", "pair_id", "modality", "split", "vector"];
  if (hasSource && opts.source !== false) cols.push("source");
  return cols;
}

/** Copy the kept rows of a group into `out` from row `at`; returns rows copied. */
function copyKept(grp: Group, keep: Uint8Array | null, out: EmbeddingSet, at: number): number {
  const d = out.d;
  let r = at;
  for (let i = 0; i < grp.n; i++) {
    if (keep && !keep[i]) continue;
    out.ids[r] = grp.ids[i] as string;
    out.pairIds[r] = grp.pairIds[i] as string;
    out.modality[r] = grp.modality[i] as Modality;
    out.split[r] = grp.split[i] as Split;
    if (out.source && grp.source) out.source[r] = grp.source[i];
    r++;
  }
  const v = grp.vector!.values;
  if (!keep) {
    out.vectors.set(v, at * d);
  } else {
    let w = at;
    for (let i = 0; i < grp.n; i++) {
      if (keep[i]) out.vectors.set(v.subarray(i * d, (i + 1) * d), (w++) * d);
    }
  }
  return r - at;
}

function emptySet(n: number, d: number, withSource: boolean): EmbeddingSet {
  return {
    n,
    d,
    vectors: new Float32Array(n * d),
    ids: new Array<string>(n),
    pairIds: new Array<string>(n),
    modality: new Array<Modality>(n),
    split: new Array<Split>(n),
    ...(withSource ? { source: new Array<string | null>(n).fill(null) } : {}),
  };
}

/**
 * Read an embeddings table (optionally only one split and/or modality) into one
 * {@link EmbeddingSet}. Decodes one row group at a time into the preallocated output.
 * Errors ({@link UserError}) name the file, the column and the first bad row (0-based file row):
 * missing column, wrong type, wrong dimension, non-finite value, bad modality/split, null or
 * duplicate id.
 */
export async function readEmbeddings(
  path: string,
  opts: ReadEmbeddingsOptions = {},
): Promise<EmbeddingSet> {
  const { src, d, hasSource } = await openEmbeddings(path, opts.expectDim);
  let direct: VectorColumn | null = null;
  try {
    const cols = allColumns(hasSource, opts);
    const filtered = opts.split !== undefined || opts.modality !== undefined;
    // Pass 1 (filtered reads only): count kept rows from the small modality/split columns.
    let n = src.numRows;
    if (filtered) {
      n = 0;
      let base = 0;
      for (let g = 0; g < src.rowGroupRows.length; g++) {
        const grp = await readGroup(src, g, d, ["modality", "split"], base);
        const keep = keepMask(grp, opts)!;
        for (let i = 0; i < grp.n; i++) n += keep[i];
        base += grp.n;
      }
    }
    const out = emptySet(n, d, cols.includes("source"));
    let at = 0;
    let base = 0;
    direct = openVectorColumn(path, "vector", d);
    const buf = new Float32Array(Math.max(0, ...src.rowGroupRows) * d);
    for (let g = 0; g < src.rowGroupRows.length; g++) {
      const grp = await readGroup(src, g, d, cols, base, direct, buf);
      at += copyKept(grp, keepMask(grp, opts), out, at);
      base += grp.n;
      opts.onProgress?.(base, src.numRows);
    }
    if (at !== n) throw new UserError(`${path}: the file changed while it was read; re-run`);
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const prev = seen.get(out.ids[i]);
      if (prev !== undefined) {
        throw new UserError(
          `${path}: column \`id\`: value ${
            JSON.stringify(out.ids[i])
          } occurs twice (rows ${prev} and ${i} of the rows read); ids must be unique`,
        );
      }
      seen.set(out.ids[i], i);
    }
    return out;
  } finally {
    direct?.close();
    src.close();
  }
}

/**
 * Read an embeddings table row group by row group: yields one {@link EmbeddingSet} per row group
 * (after the split/modality filter; groups with no kept rows are skipped). Memory held: one
 * decoded row group. Validation as in {@link readEmbeddings} (except the duplicate-id check).
 */
export async function* readEmbeddingBatches(
  path: string,
  opts: ReadEmbeddingsOptions = {},
): AsyncGenerator<EmbeddingSet> {
  const { src, d, hasSource } = await openEmbeddings(path, opts.expectDim);
  let direct: VectorColumn | null = null;
  try {
    const cols = allColumns(hasSource, opts);
    let base = 0;
    direct = openVectorColumn(path, "vector", d);
    for (let g = 0; g < src.rowGroupRows.length; g++) {
      const grp = await readGroup(src, g, d, cols, base, direct);
      base += grp.n;
      const keep = keepMask(grp, opts);
      let k = grp.n;
      if (keep) {
        k = 0;
        for (let i = 0; i < grp.n; i++) k += keep[i];
      }
      if (k === 0) continue;
      const out = emptySet(k, d, cols.includes("source"));
      copyKept(grp, keep, out, 0);
      yield out;
    }
  } finally {
    direct?.close();
    src.close();
  }
}

export { MODALITIES as EMBEDDING_MODALITIES, SPLITS as EMBEDDING_SPLITS };
