/**
 * The safetensors file format (https://github.com/huggingface/safetensors), float32 only:
 * 8-byte little-endian header length N, then N bytes of JSON header
 * `{"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}`
 * (padded with spaces so the data starts 8-byte aligned), then the raw little-endian tensor bytes.
 * Offsets are relative to the start of the data section.
 */
import { UserError } from "../pipeline/errors.ts";

/** One named float32 tensor: `data.length` = product of `shape` (row-major, C order). */
export interface SafeTensor {
  shape: number[];
  data: Float32Array;
}

/** Parsed contents of a safetensors file. */
export interface SafeTensorsContent {
  tensors: Record<string, SafeTensor>;
  /** The optional `__metadata__` map (string → string). */
  metadata: Record<string, string>;
}

function product(shape: number[]): number {
  let p = 1;
  for (const s of shape) p *= s;
  return p;
}

/**
 * Serialise float32 tensors (names in sorted order, as the reference writer does) with optional
 * string metadata into safetensors bytes. Throws on a shape/length mismatch.
 */
export function encodeSafetensors(
  tensors: Record<string, SafeTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") {
      throw new Error("safetensors: tensor name __metadata__ is reserved");
    }
    const t = tensors[name];
    if (!t.shape.every((s) => Number.isInteger(s) && s >= 0)) {
      throw new Error(`safetensors: tensor ${name} has an invalid shape [${t.shape}]`);
    }
    if (product(t.shape) !== t.data.length) {
      throw new Error(
        `safetensors: tensor ${name} has ${t.data.length} values but shape [${t.shape}]`,
      );
    }
    const bytes = t.data.length * 4;
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const name of names) {
    const data = tensors[name].data;
    const dst = new DataView(out.buffer, pos, data.length * 4);
    for (let i = 0; i < data.length; i++) dst.setFloat32(i * 4, data[i], true);
    pos += data.length * 4;
  }
  return out;
}

/**
 * Parse safetensors bytes (F32 tensors only). `source` names the file in error messages.
 * Throws {@link UserError} on a malformed file or another dtype.
 */
export function decodeSafetensors(bytes: Uint8Array, source = "<bytes>"): SafeTensorsContent {
  const bad = (what: string) =>
    new UserError(`${source}: not a valid float32 safetensors file (${what}); re-export it`);
  if (bytes.length < 8) throw bad("shorter than 8 bytes");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > bytes.length - 8) throw bad(`header length ${n} exceeds the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch {
    throw bad("header is not JSON");
  }
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const tensors: Record<string, SafeTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: number[] };
    if (e.dtype !== "F32") throw bad(`tensor ${name} has dtype ${e.dtype}, only F32 is supported`);
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw bad(`tensor ${name} lacks shape or data_offsets`);
    }
    const [b, end] = e.data_offsets;
    if (!(b >= 0 && end >= b && end <= dataLen) || end - b !== product(e.shape) * 4) {
      throw bad(`tensor ${name} has inconsistent data_offsets`);
    }
    const count = (end - b) / 4;
    const data = new Float32Array(count);
    const src = new DataView(bytes.buffer, bytes.byteOffset + dataStart + b, end - b);
    for (let i = 0; i < count; i++) data[i] = src.getFloat32(i * 4, true);
    tensors[name] = { shape: e.shape.slice(), data };
  }
  return { tensors, metadata };
}

/** Write float32 tensors to a `.safetensors` file at `path`. */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, SafeTensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await Deno.writeFile(path, encodeSafetensors(tensors, metadata));
}

/** Read a float32 `.safetensors` file. Throws {@link UserError} naming `path` when malformed or absent. */
export async function readSafetensors(path: string): Promise<SafeTensorsContent> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch {
    throw new UserError(`${path}: cannot read the weights file; check the path or re-run train`);
  }
  return decodeSafetensors(bytes, path);
}
