/**
 * A direct reader of one kind of Parquet column: a fixed_size_list<float32> (the embeddings'
 * `vector`) stored as PLAIN floats in uncompressed or snappy pages with no nulls — what the
 * project's writer produces. It decodes each page straight into the caller's Float32Array (one
 * copy, no Arrow detour), several times faster than the general reader (data/parquet_file.ts).
 * Anything else (dictionary pages, other encodings or codecs, nulls, a big-endian host) makes
 * {@link openVectorColumn} or {@link VectorColumn.readRowGroup} answer `null`, and the caller
 * falls back to the general reader.
 *
 * Format facts used (Apache Parquet format spec): the footer is Thrift compact protocol
 * (`FileMetaData` → `RowGroup` → `ColumnChunk` → `ColumnMetaData`), each page starts with a
 * Thrift `PageHeader`; a v1 data page's body holds, after decompression, the repetition and
 * definition levels (each a 4-byte length and its RLE bytes) and then the values; a v2 page keeps
 * the levels uncompressed before the (possibly compressed) values. Raw snappy blocks.
 */

import { readThriftStruct, type ThriftStruct } from "./thrift_compact.ts";

export { readThriftStruct };

/**
 * Decompress one raw snappy block into `dst` (which must be exactly the uncompressed size).
 * @throws RangeError on corrupt input
 */
export function snappyDecompress(src: Uint8Array, dst: Uint8Array): void {
  let p = 0;
  let len = 0, shift = 0;
  for (;;) {
    const x = src[p++];
    len += (x & 0x7f) * 2 ** shift;
    if ((x & 0x80) === 0) break;
    shift += 7;
  }
  if (len !== dst.length) {
    throw new RangeError(`snappy: block says ${len} bytes, expected ${dst.length}`);
  }
  let o = 0;
  while (p < src.length) {
    const tag = src[p++];
    const kind = tag & 3;
    if (kind === 0) {
      let n = tag >> 2;
      if (n >= 60) {
        const k = n - 59;
        n = 0;
        for (let i = 0; i < k; i++) n += src[p++] * 2 ** (8 * i);
      }
      n += 1;
      if (p + n > src.length || o + n > dst.length) throw new RangeError("snappy: bad literal");
      dst.set(src.subarray(p, p + n), o);
      p += n;
      o += n;
      continue;
    }
    let n: number, off: number;
    if (kind === 1) {
      n = ((tag >> 2) & 7) + 4;
      off = ((tag >> 5) << 8) | src[p++];
    } else if (kind === 2) {
      n = (tag >> 2) + 1;
      off = src[p] | (src[p + 1] << 8);
      p += 2;
    } else {
      n = (tag >> 2) + 1;
      off = (src[p] | (src[p + 1] << 8) | (src[p + 2] << 16)) + src[p + 3] * 16777216;
      p += 4;
    }
    if (off === 0 || off > o || o + n > dst.length) throw new RangeError("snappy: bad copy");
    if (off >= n) {
      dst.copyWithin(o, o - off, o - off + n);
      o += n;
    } else {
      for (let i = 0; i < n; i++, o++) dst[o] = dst[o - off];
    }
  }
  if (o !== dst.length) throw new RangeError("snappy: short block");
}

/** Where one row group's chunk of the vector column lies in the file. */
interface Chunk {
  rows: number;
  start: number;
  bytes: number;
  codec: number;
  values: number;
}

/** The vector column of an open Parquet file, read row group by row group. */
export interface VectorColumn {
  /** List size d. */
  readonly listSize: number;
  /**
   * Decode row group `g` into `out` from row `at` (out must hold rows·d values from `at·d`).
   * @returns false when a page is of a kind this reader does not decode (use the general reader)
   */
  readRowGroup(g: number, out: Float32Array, at: number): boolean;
  /** Close the file. */
  close(): void;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const FLOAT = 4, REQUIRED = 0, REPEATED = 2;

/**
 * Open column `name` of the Parquet file at `path` for direct decoding, or null when it is not a
 * list of required float32 of one fixed size `listSize` with plain/snappy chunks (then use the
 * general reader). Reads only the footer.
 */
export function openVectorColumn(
  path: string,
  name: string,
  listSize: number,
): VectorColumn | null {
  if (!LITTLE_ENDIAN) return null;
  const file = Deno.openSync(path, { read: true });
  let ok = false;
  try {
    const size = file.statSync().size;
    const readAt = (start: number, n: number): Uint8Array => {
      const buf = new Uint8Array(n);
      file.seekSync(start, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        const k = file.readSync(buf.subarray(got));
        if (k === null || k === 0) throw new RangeError(`${path}: short read`);
        got += k;
      }
      return buf;
    };
    if (size < 12) return null;
    const tail = readAt(size - 8, 8);
    const footerLen = tail[0] | (tail[1] << 8) | (tail[2] << 16) | (tail[3] << 24);
    if (footerLen <= 0 || footerLen > size - 12) return null;
    const [meta] = readThriftStruct(readAt(size - 8 - footerLen, footerLen), 0);
    // Levels of the column from the schema path: name (group) → repeated → leaf.
    const schema = meta.get(2) as ThriftStruct[];
    const idx = schema.findIndex((e, i) =>
      i > 0 && new TextDecoder().decode(e.get(4) as Uint8Array) === name
    );
    if (idx < 0) return null;
    const group = schema[idx], rep = schema[idx + 1], leaf = schema[idx + 2];
    if (
      !rep || !leaf || group.get(5) !== 1 || rep.get(5) !== 1 || leaf.get(5) !== undefined ||
      rep.get(3) !== REPEATED || leaf.get(3) !== REQUIRED || leaf.get(1) !== FLOAT
    ) return null;
    const maxDef = (group.get(3) === REQUIRED ? 0 : 1) + 1;
    const chunks: Chunk[] = [];
    for (const rg of meta.get(4) as ThriftStruct[]) {
      const cols = rg.get(1) as ThriftStruct[];
      const c = cols.find((cc) => {
        const md = cc.get(3) as ThriftStruct | undefined;
        const pth = md?.get(3) as Uint8Array[] | undefined;
        return pth !== undefined && new TextDecoder().decode(pth[0]) === name;
      });
      const md = c?.get(3) as ThriftStruct | undefined;
      if (!md || md.get(1) !== FLOAT || md.get(11) !== undefined) return null;
      const codec = md.get(4) as number;
      if (codec !== 0 && codec !== 1) return null;
      chunks.push({
        rows: rg.get(3) as number,
        start: md.get(9) as number,
        bytes: md.get(7) as number,
        codec,
        values: md.get(5) as number,
      });
    }
    ok = true;
    let scratch = new Uint8Array(0);
    return {
      listSize,
      readRowGroup(g: number, out: Float32Array, at: number): boolean {
        const ch = chunks[g];
        if (ch.values !== ch.rows * listSize) return false;
        const raw = readAt(ch.start, ch.bytes);
        const dst = new Uint8Array(out.buffer, out.byteOffset + at * listSize * 4, ch.values * 4);
        let p = 0, o = 0;
        while (p < raw.length) {
          const [h, body] = readThriftStruct(raw, p);
          const csize = h.get(3) as number, usize = h.get(2) as number;
          const type = h.get(1) as number;
          const page = raw.subarray(body, body + csize);
          p = body + csize;
          let values: Uint8Array;
          if (type === 0) {
            const dh = h.get(5) as ThriftStruct;
            const RLE = 3;
            if (dh.get(2) !== 0 || dh.get(3) !== RLE || dh.get(4) !== RLE) return false;
            let u = page;
            if (ch.codec === 1) {
              if (scratch.length < usize) scratch = new Uint8Array(usize);
              u = scratch.subarray(0, usize);
              snappyDecompress(page, u);
            }
            // Repetition levels, then definition levels: each a 4-byte length and its bytes.
            let q = 0;
            for (let k = 0; k < 2; k++) {
              if (k === 1 && maxDef === 0) break;
              const n = u[q] | (u[q + 1] << 8) | (u[q + 2] << 16) | (u[q + 3] << 24);
              q += 4 + n;
            }
            values = u.subarray(q);
            if (values.length !== 4 * (dh.get(1) as number)) return false; // nulls or empties
          } else if (type === 3) {
            const dh = h.get(8) as ThriftStruct;
            if (dh.get(4) !== 0 || (dh.get(2) as number) !== 0) return false;
            const lv = (dh.get(5) as number) + (dh.get(6) as number);
            const compressed = dh.get(7) !== false && ch.codec === 1;
            values = page.subarray(lv);
            if (compressed) {
              const n = usize - lv;
              if (scratch.length < n) scratch = new Uint8Array(n);
              const u = scratch.subarray(0, n);
              snappyDecompress(values, u);
              values = u;
            }
            if (values.length !== 4 * (dh.get(1) as number)) return false;
          } else {
            return false; // dictionary or index page
          }
          if (o + values.length > dst.length) return false;
          dst.set(values, o);
          o += values.length;
        }
        return o === dst.length;
      },
      close() {
        file.close();
      },
    };
  } catch {
    return null;
  } finally {
    if (!ok) file.close();
  }
}
