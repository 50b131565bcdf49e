/**
 * Thrift compact protocol, read side: enough to decode Parquet's footer (`FileMetaData`) and page
 * headers (Apache Parquet format spec). Shared by the direct vector reader
 * (data/parquet_vectors.ts) and the footer counts the plan reads (data/table_footer.ts).
 */

/** A decoded Thrift compact struct: field id → value (structs nested, lists as arrays). */
export type ThriftStruct = Map<number, unknown>;

/** Read a Thrift compact-protocol struct from `b` at `pos`; returns it and the end position. */
export function readThriftStruct(b: Uint8Array, pos: number): [ThriftStruct, number] {
  let p = pos;
  const varint = (): number => {
    let shift = 0, out = 0;
    for (;;) {
      if (p >= b.length) throw new RangeError("thrift: truncated varint");
      const x = b[p++];
      out += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) return out;
      shift += 7;
      if (shift > 63) throw new RangeError("thrift: varint too long");
    }
  };
  const zigzag = (): number => {
    const v = varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  };
  const value = (type: number): unknown => {
    switch (type) {
      case 1:
        return true;
      case 2:
        return false;
      case 3:
        return (b[p++] << 24) >> 24;
      case 4:
      case 5:
      case 6:
        return zigzag();
      case 7:
        p += 8;
        return new DataView(b.buffer, b.byteOffset + p - 8, 8).getFloat64(0, true);
      case 8: {
        const n = varint();
        p += n;
        if (p > b.length) throw new RangeError("thrift: truncated binary");
        return b.subarray(p - n, p);
      }
      case 9:
      case 10: {
        const h = b[p++];
        const n = (h >> 4) === 15 ? varint() : h >> 4;
        const et = h & 15;
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) out.push(et === 1 || et === 2 ? b[p++] === 1 : value(et));
        return out;
      }
      case 11: {
        const n = varint();
        if (n === 0) return new Map();
        const kv = b[p++];
        const m = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) m.set(value(kv >> 4), value(kv & 15));
        return m;
      }
      case 12:
        return struct();
      default:
        throw new RangeError(`thrift: unknown compact type ${type}`);
    }
  };
  const struct = (): ThriftStruct => {
    const out: ThriftStruct = new Map();
    let last = 0;
    for (;;) {
      if (p >= b.length) throw new RangeError("thrift: truncated struct");
      const h = b[p++];
      if (h === 0) return out;
      const delta = h >> 4, type = h & 15;
      const id = delta === 0 ? zigzag() : last + delta;
      last = id;
      out.set(id, value(type));
    }
  };
  const s = struct();
  return [s, p];
}
