/**
 * Low-level Parquet file access over parquet-wasm 0.8 and apache-arrow 21: a row-group reader
 * that fetches byte ranges from disk (the file is never loaded whole) and a streaming writer
 * that emits row group after row group. Used by data/table_io.ts and data/embeddings_io.ts;
 * stage code should use those instead.
 */
import * as pw from "parquet-wasm";
import * as arrow from "apache-arrow";
import { UserError } from "../pipeline/errors.ts";

/** The `created_by` string written into every file (fixed: no version drift in the bytes). */
export const PARQUET_CREATED_BY = "concept-atlas (parquet-rs via parquet-wasm 0.8)";

/**
 * File key/value metadata key under which the project stores caller metadata, as one JSON
 * object with sorted keys (pyarrow: `json.loads(pq.read_metadata(f).metadata[b"concept_atlas"])`).
 */
export const METADATA_KEY = "concept_atlas";

/** An open Parquet file, read row group by row group. Call {@link ParquetSource.close}. */
export interface ParquetSource {
  /** The file path, as given. */
  readonly path: string;
  /** Total number of rows. */
  readonly numRows: number;
  /** Number of rows in each row group, in file order. */
  readonly rowGroupRows: number[];
  /** The Arrow schema (restored from the file's `ARROW:schema` metadata when present). */
  readonly schema: arrow.Schema;
  /** The file's key/value metadata (includes `ARROW:schema`; the project's JSON entry expanded). */
  readonly metadata: Record<string, string>;
  /**
   * Decode one row group into an Arrow table (only the named top-level columns when given).
   * @param index row-group index, 0 ≤ index < rowGroupRows.length
   */
  readRowGroup(index: number, columns?: string[]): Promise<arrow.Table>;
  /** Release the file handle and the wasm reader. */
  close(): void;
}

/** Decode a parquet-wasm Table (consumed) into an apache-arrow Table. */
function wasmToArrow(t: pw.Table): arrow.Table {
  return arrow.tableFromIPC(t.intoIPCStream());
}

/**
 * Open a Parquet file for row-group reads. Throws {@link UserError} naming the file when it is
 * missing, truncated or not Parquet.
 * @param path file path
 */
export async function openParquet(path: string): Promise<ParquetSource> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(
        `${path}: file not found; check the path or re-run the stage that writes it`,
      );
    }
    throw new UserError(
      `${path}: cannot open (${(e as Error).message}); check the path and permissions`,
    );
  }
  let closed = false;
  const size = (await file.stat()).size;
  const readRange = (start: number, end: number): ArrayBuffer => {
    if (closed) throw new Error(`${path}: read after close`);
    const s = Math.max(0, Math.min(start, size));
    const e = Math.max(s, Math.min(end, size));
    const buf = new Uint8Array(e - s);
    // Synchronous seek + read: atomic with respect to other JS tasks, so concurrent range
    // requests from the wasm reader cannot interleave their seeks.
    file.seekSync(s, Deno.SeekMode.Start);
    let off = 0;
    while (off < buf.length) {
      const got = file.readSync(buf.subarray(off));
      if (got === null || got === 0) break;
      off += got;
    }
    return buf.buffer;
  };
  // A duck-typed Blob: parquet-wasm only calls `.size` and `.slice(a, b).arrayBuffer()`.
  const blobLike = {
    size,
    slice(start: number, end: number) {
      return { arrayBuffer: () => Promise.resolve(readRange(start, end)) };
    },
  };
  let pf: pw.ParquetFile;
  try {
    if (size < 12) throw new Error(`only ${size} bytes`);
    const magic = new Uint8Array(readRange(0, 4));
    const tail = new Uint8Array(readRange(size - 4, size));
    const par1 = (b: Uint8Array) =>
      b[0] === 0x50 && b[1] === 0x41 && b[2] === 0x52 && b[3] === 0x31;
    if (!par1(magic)) throw new Error("no PAR1 magic at the start");
    if (!par1(tail)) throw new Error("no PAR1 magic at the end (truncated?)");
    pf = await pw.ParquetFile.fromFile(blobLike as unknown as Blob);
  } catch (e) {
    closed = true;
    file.close();
    const why = e instanceof Error ? e.message : String(e);
    throw new UserError(
      `${path}: not a readable Parquet file (${
        why.split("\n")[0]
      }); it is truncated or corrupt, delete it and re-run the stage that writes it`,
    );
  }
  let schema: arrow.Schema;
  let metadata: Record<string, string>;
  let rowGroupRows: number[];
  try {
    const meta = pf.metadata();
    rowGroupRows = [];
    for (let i = 0; i < meta.numRowGroups(); i++) rowGroupRows.push(meta.rowGroup(i).numRows());
    metadata = {};
    const kv = meta.fileMetadata().keyValueMetadata();
    for (const [k, v] of kv) metadata[String(k)] = String(v);
    if (metadata[METADATA_KEY] !== undefined) {
      try {
        const obj = JSON.parse(metadata[METADATA_KEY]);
        delete metadata[METADATA_KEY];
        for (const [k, v] of Object.entries(obj)) metadata[k] = String(v);
      } catch { /* not ours: keep the raw entry */ }
    }
    schema = arrow.RecordBatchReader.from(pf.schema().intoIPCStream()).open().schema;
  } catch (e) {
    closed = true;
    pf.free();
    file.close();
    throw new UserError(
      `${path}: cannot read the Parquet metadata (${
        (e as Error).message.split("\n")[0]
      }); re-create the file`,
    );
  }
  const numRows = rowGroupRows.reduce((a, b) => a + b, 0);
  return {
    path,
    numRows,
    rowGroupRows,
    schema,
    metadata,
    async readRowGroup(index: number, columns?: string[]): Promise<arrow.Table> {
      if (closed) throw new Error(`${path}: read after close`);
      if (!(index >= 0 && index < rowGroupRows.length)) {
        throw new RangeError(
          `${path}: row group ${index} out of range 0..${rowGroupRows.length - 1}`,
        );
      }
      try {
        const t = await pf.read({
          rowGroups: [index],
          batchSize: Math.max(1, rowGroupRows[index]),
          ...(columns ? { columns } : {}),
        });
        return wasmToArrow(t);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new UserError(
          `${path}: row group ${index} cannot be decoded (${
            why.split("\n")[0]
          }); the file is corrupt, re-create it`,
        );
      }
    },
    close() {
      if (closed) return;
      closed = true;
      pf.free();
      file.close();
    },
  };
}

/** Writer options shared by every table the project writes. */
export interface ParquetWriteOptions {
  /** Maximum rows per row group. */
  rowGroupSize: number;
  /** Extra file key/value metadata (deterministic strings only: no timestamps). */
  metadata?: Record<string, string>;
  /** Columns that get dictionary encoding (low-cardinality strings); all others are plain. */
  dictionaryColumns?: string[];
}

function writerProperties(opts: ParquetWriteOptions): pw.WriterProperties {
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression.SNAPPY)
    .setCreatedBy(PARQUET_CREATED_BY)
    .setMaxRowGroupSize(Math.max(1, Math.floor(opts.rowGroupSize)))
    .setDictionaryEnabled(false);
  for (const c of opts.dictionaryColumns ?? []) b = b.setColumnDictionaryEnabled(c, true);
  const md = opts.metadata ?? {};
  const keys = Object.keys(md).sort();
  if (keys.length > 0) {
    // parquet-wasm passes key/value metadata through a Rust HashMap (random iteration order),
    // so several keys would make the bytes vary between runs. One key holding canonical JSON
    // (sorted keys) keeps files byte-identical; readers expand it (see METADATA_KEY).
    const canonical: Record<string, string> = {};
    for (const k of keys) canonical[k] = String(md[k]);
    b = b.setKeyValueMetadata(new Map([[METADATA_KEY, JSON.stringify(canonical)]]));
  }
  return b.build();
}

/**
 * Streaming Parquet writer: Arrow tables go in, row groups of `rowGroupSize` rows go to disk
 * as soon as they fill. Memory held: the row group in progress (inside wasm) plus one batch.
 * Output bytes depend only on the data, the row-group size and the metadata (deterministic).
 */
export class ParquetStreamWriter {
  #path: string;
  #schema: arrow.Schema;
  #ctrl!: ReadableStreamDefaultController<pw.RecordBatch>;
  #pullWaiters: (() => void)[] = [];
  #done: Promise<void>;
  #failure: unknown = null;
  #wrote = false;
  #closed = false;

  private constructor(
    path: string,
    schema: arrow.Schema,
    opts: ParquetWriteOptions,
    file: Deno.FsFile,
  ) {
    this.#path = path;
    this.#schema = schema;
    const input = new ReadableStream<pw.RecordBatch>({
      start: (c) => {
        this.#ctrl = c;
      },
      pull: () => {
        const w = this.#pullWaiters.splice(0);
        for (const f of w) f();
      },
    }, { highWaterMark: 1 });
    this.#done = (async () => {
      const out = await pw.transformParquetStream(input, writerProperties(opts));
      await out.pipeTo(file.writable);
    })();
    this.#done.catch((e) => {
      this.#failure = e;
      const w = this.#pullWaiters.splice(0);
      for (const f of w) f();
    });
  }

  /**
   * Create (truncate) `path` and start a writer for tables of `schema`.
   * @param path output file
   * @param schema Arrow schema every written table must have
   */
  static async create(
    path: string,
    schema: arrow.Schema,
    opts: ParquetWriteOptions,
  ): Promise<ParquetStreamWriter> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { write: true, create: true, truncate: true });
    } catch (e) {
      throw new UserError(
        `${path}: cannot create (${
          (e as Error).message
        }); check that the folder exists and is writable`,
      );
    }
    return new ParquetStreamWriter(path, schema, opts, file);
  }

  /** Append the rows of an Arrow table (its schema must equal the writer's). */
  async write(table: arrow.Table): Promise<void> {
    if (this.#closed) throw new Error(`${this.#path}: write after close`);
    this.#throwIfFailed();
    if (table.numRows === 0 && this.#wrote) return;
    const wt = pw.Table.fromIPCStream(arrow.tableToIPC(table, "stream"));
    const batches = wt.recordBatches();
    wt.free();
    for (const b of batches) {
      this.#ctrl.enqueue(b);
      this.#wrote = true;
      while ((this.#ctrl.desiredSize ?? 1) <= 0 && this.#failure === null) {
        await new Promise<void>((r) => this.#pullWaiters.push(r));
      }
      this.#throwIfFailed();
    }
  }

  /** Finish the file (writes the footer). A writer that got no rows writes an empty table. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (!this.#wrote) {
      const empty = new arrow.Table(
        this.#schema,
        new arrow.RecordBatch(
          this.#schema,
          arrow.makeData({
            type: new arrow.Struct(this.#schema.fields),
            length: 0,
            nullCount: 0,
            children: this.#schema.fields.map((f) => emptyData(f.type)),
          }),
        ),
      );
      await this.write(empty);
    }
    this.#closed = true;
    this.#ctrl.close();
    try {
      await this.#done;
    } catch (e) {
      throw new UserError(
        `${this.#path}: writing Parquet failed (${
          (e as Error)?.message ?? e
        }); check free disk space and re-run`,
      );
    }
  }

  /** Abort: stop writing and delete the partial file (best effort). */
  async abort(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#ctrl.error(new Error("aborted"));
    } catch { /* already errored */ }
    await this.#done.catch(() => {});
    await Deno.remove(this.#path).catch(() => {});
  }

  #throwIfFailed(): void {
    if (this.#failure !== null) {
      const e = this.#failure as Error;
      throw new UserError(
        `${this.#path}: writing Parquet failed (${
          e?.message ?? e
        }); check free disk space and re-run`,
      );
    }
  }
}

// deno-lint-ignore no-explicit-any
function emptyData(type: arrow.DataType): arrow.Data<any> {
  if (type instanceof arrow.FixedSizeList) {
    return arrow.makeData({
      type,
      length: 0,
      nullCount: 0,
      child: emptyData(type.children[0].type),
    });
  }
  return arrow.makeVector(arrow.vectorFromArray([], type)).data[0];
}
