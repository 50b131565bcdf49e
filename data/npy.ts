/**
 * NumPy `.npy` files (format versions 1.0, 2.0, 3.0): decode float16/float32/float64 arrays of
 * any shape into a row-major Float32Array, and encode a float32 array (for Python round trips).
 */
import { UserError } from "../pipeline/errors.ts";

/** A decoded array: `shape` and row-major (C order) float32 `data` of length Π shape. */
export interface NpyArray {
  shape: number[];
  data: Float32Array;
  /** The dtype string of the file, e.g. `<f4`. */
  dtype: string;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** float16 bits → number (IEEE 754 binary16, subnormals, ±Inf, NaN). */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * Decode a `.npy` file.
 * @param bytes the whole file
 * @param name file name for error messages
 * @throws UserError on a bad magic, an unsupported dtype, Fortran order, or truncated data
 */
export function decodeNpy(bytes: Uint8Array, name: string): NpyArray {
  if (bytes.length === 0) {
    throw new UserError(`${name}: the file is empty; export the embeddings again with numpy.save`);
  }
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new UserError(`${name}: not a NumPy .npy file (bad magic); save it with numpy.save`);
  }
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number, start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new UserError(`${name}: truncated .npy header`);
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new UserError(`${name}: .npy format version ${major} is not supported; use numpy.save`);
  }
  if (start + headerLen > bytes.length) throw new UserError(`${name}: truncated .npy header`);
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(start, start + headerLen),
  );
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new UserError(`${name}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  }
  if (fortran === "True") {
    throw new UserError(
      `${name}: the array is in Fortran order; save numpy.ascontiguousarray(x) instead`,
    );
  }
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (shape.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new UserError(`${name}: bad shape (${shapeText}) in the .npy header`);
  }
  const m = /^([<>|=])([fiu])(\d+)$/.exec(descr);
  const kind = m?.[2], size = Number(m?.[3]);
  if (!m || kind !== "f" || ![2, 4, 8].includes(size)) {
    throw new UserError(
      `${name}: dtype ${descr} is not supported; save the embeddings as float32 or float16`,
    );
  }
  const little = m[1] !== ">";
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (bytes.length < offset + count * size) {
    throw new UserError(
      `${name}: the file holds ${bytes.length - offset} data bytes, shape (${
        shape.join(", ")
      }) of ${descr} needs ${count * size}; the file is truncated`,
    );
  }
  const data = new Float32Array(count);
  if (size === 4 && little && (bytes.byteOffset + offset) % 4 === 0) {
    data.set(new Float32Array(bytes.buffer, bytes.byteOffset + offset, count));
  } else {
    for (let i = 0; i < count; i++) {
      const o = offset + i * size;
      data[i] = size === 2
        ? halfToFloat(dv.getUint16(o, little))
        : size === 4
        ? dv.getFloat32(o, little)
        : dv.getFloat64(o, little);
    }
  }
  return { shape, data, dtype: descr };
}

/**
 * Encode a float32 array as a `.npy` v1.0 file (`<f4`, C order).
 * @param data row-major values, length Π shape
 * @param shape array shape
 */
export function encodeNpy(data: Float32Array, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new RangeError(`encodeNpy: shape (${shape}) needs ${count} values, got ${data.length}`);
  }
  const shapeText = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shapeText}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += " ".repeat(pad % 64) + "\n";
  const out = new Uint8Array(10 + header.length + count * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const dv = new DataView(out.buffer);
  const base = 10 + header.length;
  for (let i = 0; i < count; i++) dv.setFloat32(base + 4 * i, data[i], true);
  return out;
}
