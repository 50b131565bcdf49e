/**
 * NumPy `.npz` archives (`numpy.savez` / `numpy.savez_compressed`): a ZIP of `.npy` members,
 * stored or deflated, ZIP64 extra fields honoured. Decoding only reads the central directory and
 * the members; encoding (stored or deflated, with CRC-32) exists for tests and Python round trips.
 */
import { UserError } from "../pipeline/errors.ts";
import { decodeNpy, type NpyArray } from "./npy.ts";

async function inflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const ds = new DecompressionStream("deflate-raw");
  const out = new Response(new Blob([data as BlobPart]).stream().pipeThrough(ds));
  return new Uint8Array(await out.arrayBuffer());
}

async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const cs = new CompressionStream("deflate-raw");
  const out = new Response(new Blob([data as BlobPart]).stream().pipeThrough(cs));
  return new Uint8Array(await out.arrayBuffer());
}

/**
 * The members of a ZIP archive, uncompressed, by name.
 * @throws UserError when the archive is empty, not a ZIP, or uses an unsupported compression
 */
export async function readZipMembers(
  bytes: Uint8Array,
  name: string,
): Promise<Map<string, Uint8Array>> {
  if (bytes.length === 0) {
    throw new UserError(`${name}: the file is empty; save the arrays again with numpy.savez`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new UserError(`${name}: not a .npz (ZIP) archive; save it with numpy.savez`);
  let entries = dv.getUint16(eocd + 10, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (entries === 0xffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) {
      throw new UserError(`${name}: damaged ZIP64 archive; save it again with numpy.savez`);
    }
    const z64 = Number(dv.getBigUint64(loc + 8, true));
    entries = Number(dv.getBigUint64(z64 + 32, true));
    cdOffset = Number(dv.getBigUint64(z64 + 48, true));
  }
  const out = new Map<string, Uint8Array>();
  let p = cdOffset;
  for (let e = 0; e < entries; e++) {
    if (p + 46 > bytes.length || dv.getUint32(p, true) !== 0x02014b50) {
      throw new UserError(`${name}: damaged ZIP central directory; save it again with numpy.savez`);
    }
    const method = dv.getUint16(p + 10, true);
    let csize = dv.getUint32(p + 20, true);
    let usize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let local = dv.getUint32(p + 42, true);
    const member = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: the 0xFFFFFFFF fields, in order usize, csize, offset.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = dv.getUint16(x, true), len = dv.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (usize === 0xffffffff) (usize = Number(dv.getBigUint64(q, true))), (q += 8);
        if (csize === 0xffffffff) (csize = Number(dv.getBigUint64(q, true))), (q += 8);
        if (local === 0xffffffff) local = Number(dv.getBigUint64(q, true));
      }
      x += 4 + len;
    }
    p = xEnd + commentLen;
    if (dv.getUint32(local, true) !== 0x04034b50) {
      throw new UserError(`${name}: damaged ZIP member ${member}; save it again with numpy.savez`);
    }
    const start = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    const raw = bytes.subarray(start, start + csize);
    if (raw.length !== csize) throw new UserError(`${name}: member ${member} is truncated`);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) data = await inflateRaw(raw);
    else {
      throw new UserError(
        `${name}: member ${member} uses ZIP compression method ${method}; use numpy.savez or numpy.savez_compressed`,
      );
    }
    if (data.length !== usize) {
      throw new UserError(`${name}: member ${member} has ${data.length} bytes, expected ${usize}`);
    }
    out.set(member, data);
  }
  return out;
}

/**
 * Decode every array of a `.npz` archive, keyed by array name (member name without `.npy`).
 * @throws UserError when the archive holds no arrays or a member is not a valid float `.npy`
 */
export async function decodeNpz(bytes: Uint8Array, name: string): Promise<Map<string, NpyArray>> {
  const members = await readZipMembers(bytes, name);
  const out = new Map<string, NpyArray>();
  for (const [member, data] of members) {
    if (!member.endsWith(".npy")) continue;
    const key = member.slice(0, -4);
    out.set(key, decodeNpy(data, `${name}[${key}]`));
  }
  if (out.size === 0) {
    throw new UserError(
      `${name}: the archive holds no arrays; save the embeddings with numpy.savez`,
    );
  }
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ZIP polynomial) of `data`. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Encode members (name → `.npy` bytes) as a ZIP archive like `numpy.savez` (stored) or
 * `numpy.savez_compressed` (deflated). Names get a `.npy` suffix.
 */
export async function encodeNpz(
  arrays: Record<string, Uint8Array>,
  opts: { compress?: boolean } = {},
): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [key, npy] of Object.entries(arrays)) {
    const nameBytes = enc.encode(`${key}.npy`);
    const body = opts.compress ? await deflateRaw(npy) : npy;
    const crc = crc32(npy);
    const method = opts.compress ? 8 : 0;
    const lh = new Uint8Array(30 + nameBytes.length);
    const l = new DataView(lh.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 20, true);
    l.setUint16(8, method, true);
    l.setUint32(14, crc, true);
    l.setUint32(18, body.length, true);
    l.setUint32(22, npy.length, true);
    l.setUint16(26, nameBytes.length, true);
    lh.set(nameBytes, 30);
    const ch = new Uint8Array(46 + nameBytes.length);
    const c = new DataView(ch.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint16(10, method, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, body.length, true);
    c.setUint32(24, npy.length, true);
    c.setUint16(28, nameBytes.length, true);
    c.setUint32(42, offset, true);
    ch.set(nameBytes, 46);
    locals.push(lh, body);
    centrals.push(ch);
    offset += lh.length + body.length;
  }
  const cdSize = centrals.reduce((a, b) => a + b.length, 0);
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, centrals.length, true);
  e.setUint16(10, centrals.length, true);
  e.setUint32(12, cdSize, true);
  e.setUint32(16, offset, true);
  const all = [...locals, ...centrals, end];
  const out = new Uint8Array(all.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const part of all) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}
