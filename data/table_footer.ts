/**
 * Row count and per-column value counts of a Parquet file from its footer alone, read
 * synchronously (a few kilobytes, whatever the file's size): the study checks an imported table
 * against its configuration when the plan is built, before any stage runs. The footer is Thrift
 * compact protocol (parquet-format's `FileMetaData`); this reads only what it needs.
 */

/** What the footer says about a file. */
export interface ParquetFooterCounts {
  /** Rows of the file. */
  rows: number;
  /** Sum over row groups of each leaf column's `num_values`, by dotted path (`vector.list.element`). */
  values: Map<string, number>;
}

type Thrift = number | boolean | Uint8Array | Thrift[] | Map<number, Thrift> | null;

/** A cursor over Thrift compact-protocol bytes. */
class Compact {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  byte(): number {
    if (this.pos >= this.b.length) throw new RangeError("parquet footer: unexpected end");
    return this.b[this.pos++];
  }
  varint(): number {
    let out = 0, scale = 1;
    for (;;) {
      const x = this.byte();
      out += (x & 0x7f) * scale;
      if (!(x & 0x80)) return out;
      scale *= 128;
      if (scale > 2 ** 70) throw new RangeError("parquet footer: varint too long");
    }
  }
  zigzag(): number {
    const n = this.varint();
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }
  value(type: number): Thrift {
    switch (type) {
      case 1:
        return true;
      case 2:
        return false;
      case 3:
        return this.byte();
      case 4:
      case 5:
      case 6:
        return this.zigzag();
      case 7:
        this.pos += 8;
        return null;
      case 8: {
        const n = this.varint();
        const out = this.b.subarray(this.pos, this.pos + n);
        this.pos += n;
        return out;
      }
      case 9:
      case 10: {
        const h = this.byte();
        const size = (h >> 4) === 15 ? this.varint() : h >> 4;
        const et = h & 15;
        const out: Thrift[] = [];
        for (let i = 0; i < size; i++) {
          out.push(et === 1 || et === 2 ? this.byte() === 1 : this.value(et));
        }
        return out;
      }
      case 11: {
        const size = this.varint();
        if (size > 0) {
          const h = this.byte();
          for (let i = 0; i < size; i++) {
            this.value(h >> 4);
            this.value(h & 15);
          }
        }
        return null;
      }
      case 12:
        return this.struct();
      default:
        throw new RangeError(`parquet footer: unknown thrift type ${type}`);
    }
  }
  struct(): Map<number, Thrift> {
    const out = new Map<number, Thrift>();
    let last = 0;
    for (;;) {
      const h = this.byte();
      if (h === 0) return out;
      const delta = h >> 4;
      const id = delta === 0 ? this.zigzag() : last + delta;
      last = id;
      out.set(id, this.value(h & 15));
    }
  }
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
    const fmd = new Compact(meta).struct();
    const rows = Number(fmd.get(3) ?? 0);
    const values = new Map<string, number>();
    const text = new TextDecoder();
    for (const rg of (fmd.get(4) as Map<number, Thrift>[] | undefined) ?? []) {
      for (const cc of (rg.get(1) as Map<number, Thrift>[] | undefined) ?? []) {
        const md = cc.get(3) as Map<number, Thrift> | undefined;
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
