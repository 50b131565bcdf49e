/**
 * Row count and per-column value counts of a Parquet file from its footer alone, read
 * synchronously (a few kilobytes, whatever the file's size): the study checks an imported table
 * against its configuration when the plan is built, before any stage runs. The footer is Thrift
 * compact protocol (parquet-format's `FileMetaData`); it is decoded by data/thrift_compact.ts.
 */
import { readThriftStruct, type ThriftStruct } from "./thrift_compact.ts";

/** What the footer says about a file. */
export interface ParquetFooterCounts {
  /** Rows of the file. */
  rows: number;
  /** Sum over row groups of each leaf column's `num_values`, by dotted path (`vector.list.element`). */
  values: Map<string, number>;
}

/**
 * Read the footer of the Parquet file at `path` (synchronously).
 * @returns null when the file cannot be read or is not Parquet (the stage that reads it reports why)
 */
export function readParquetFooterCounts(path: string): ParquetFooterCounts | null {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return null;
  }
  try {
    const size = file.statSync().size;
    if (size < 12) return null;
    const tail = new Uint8Array(8);
    file.seekSync(size - 8, Deno.SeekMode.Start);
    if (file.readSync(tail) !== 8) return null;
    if (new TextDecoder().decode(tail.subarray(4)) !== "PAR1") return null;
    const len = new DataView(tail.buffer).getUint32(0, true);
    if (len <= 0 || len > size - 12) return null;
    const meta = new Uint8Array(len);
    file.seekSync(size - 8 - len, Deno.SeekMode.Start);
    let got = 0;
    while (got < len) {
      const n = file.readSync(meta.subarray(got));
      if (n === null || n === 0) return null;
      got += n;
    }
    const [fmd] = readThriftStruct(meta, 0);
    const rows = Number(fmd.get(3) ?? 0);
    const values = new Map<string, number>();
    const text = new TextDecoder();
    for (const rg of (fmd.get(4) as ThriftStruct[] | undefined) ?? []) {
      for (const cc of (rg.get(1) as ThriftStruct[] | undefined) ?? []) {
        const md = cc.get(3) as ThriftStruct | undefined;
        if (!md) continue;
        const path = ((md.get(3) as Uint8Array[] | undefined) ?? []).map((p) => text.decode(p))
          .join(".");
        values.set(path, (values.get(path) ?? 0) + Number(md.get(5) ?? 0));
      }
    }
    return { rows, values };
  } catch {
    return null;
  } finally {
    file.close();
  }
}
