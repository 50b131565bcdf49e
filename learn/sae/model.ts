/**
 * A trained SAE as a {@link FittedDictionary}: encode, decode, export, and {@link loadSae} to
 * rebuild one from exported weights. Encoding semantics at inference (method.md §2):
 * relu → ReLU; topk → per-row top-k; batchtopk and matryoshka → one learned threshold θ;
 * jumprelu → per-concept θ_j. Codes keep the pre-activation value of every kept entry.
 */
import type { Backend, SparseCodes, Tensor } from "../../kernels/backend.ts";
import type { EpochLog, FittedDictionary, HostSparseCodes } from "../learner.ts";
import { UserError } from "../../pipeline/errors.ts";
import { type SaeMethod, saeMethods, saeVariant } from "./variants/mod.ts";
import type { SaeEncoding } from "./variant.ts";

/** Host-side weights of an SAE (row-major float32). */
export interface SaeWeights {
  method: SaeMethod;
  /** Inference rule (the variant's {@link SaeEncoding}). */
  encoding: SaeEncoding;
  /** Number of concepts. */
  c: number;
  /** Embedding dimension. */
  d: number;
  /** Codes per row (topk), or the training target ℓ0 of the other variants. */
  k: number;
  /** Encoder W_enc, d×c. */
  wEnc: Float32Array;
  /** Encoder bias b_enc, c. */
  bEnc: Float32Array;
  /** Decoder / dictionary W_dec = D, c×d with unit rows. */
  wDec: Float32Array;
  /** Decoder bias b_dec, d (subtracted before encoding, added after decoding), or null. */
  bDec: Float32Array | null;
  /** Inference threshold: c values (jumprelu), 1 value (batchtopk, matryoshka, relu = 0), or null (topk). */
  threshold: Float32Array | null;
}

/** Rows per encode chunk so that a dense chunk×c pre-activation stays near 4M floats. */
function chunkRows(c: number): number {
  return Math.max(1, Math.min(4096, Math.floor((1 << 22) / c)));
}

/**
 * Codes of X (n×d) under weights `w` on `backend`: pre = (X − b_dec)·W_enc + b_enc, then the
 * method's sparsifier (see module doc). Processes rows in chunks; returns host CSR codes.
 */
export async function encodeSae(
  w: SaeWeights,
  x: Float32Array,
  n: number,
  backend: Backend,
): Promise<HostSparseCodes> {
  const { c, d } = w;
  if (x.length !== n * d) {
    throw new UserError(`encode: input has ${x.length} values, expected n·d = ${n}·${d}`);
  }
  const rows = Math.min(chunkRows(c), Math.max(1, n));
  const perRow = w.encoding === "topk_per_row";
  const W = backend.upload(w.wEnc, [d, c]);
  const b = backend.upload(w.bEnc, [c]);
  const bDec = w.bDec ? backend.upload(w.bDec, [d]) : null;
  const theta = w.threshold ? backend.upload(w.threshold, [w.threshold.length]) : null;
  const pieces: { ptr: Int32Array; index: Int32Array; value: Float32Array }[] = [];
  const held: Tensor[] = [W, b];
  if (bDec) held.push(bDec);
  if (theta) held.push(theta);
  const sized = new Map<number, { xb: Tensor; pre: Tensor; z: SparseCodes }>();
  try {
    for (let start = 0; start < n; start += rows) {
      const m = Math.min(rows, n - start);
      let s = sized.get(m);
      if (!s) {
        const cap = perRow ? m * w.k : m * c;
        s = {
          xb: backend.zeros([m, d]),
          pre: backend.zeros([m, c]),
          z: backend.sparse(m, c, cap),
        };
        sized.set(m, s);
      }
      const chunk = x.subarray(start * d, (start + m) * d);
      if (bDec) {
        const centred = new Float32Array(chunk);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < d; j++) centred[i * d + j] -= w.bDec![j];
        }
        backend.write(s.xb, centred);
      } else backend.write(s.xb, chunk);
      backend.linear(s.xb, W, b, s.pre);
      if (perRow) backend.topkRows(s.pre, w.k, s.z);
      else backend.threshold(s.pre, theta!, s.z);
      const ptr = (await backend.read(s.z.rowPtr)) as Int32Array;
      const nnz = ptr[m];
      const index = ((await backend.read(s.z.index)) as Int32Array).slice(0, nnz);
      const value = ((await backend.read(s.z.value)) as Float32Array).slice(0, nnz);
      pieces.push({ ptr: Int32Array.from(ptr), index, value });
    }
  } finally {
    for (const t of held) backend.dispose(t);
    for (const s of sized.values()) {
      backend.dispose(s.xb);
      backend.dispose(s.pre);
      backend.disposeSparse(s.z);
    }
  }
  return concatCsr(pieces, n, c);
}

function concatCsr(
  pieces: { ptr: Int32Array; index: Int32Array; value: Float32Array }[],
  n: number,
  c: number,
): HostSparseCodes {
  let total = 0;
  for (const p of pieces) total += p.index.length;
  const rowPtr = new Int32Array(n + 1);
  const index = new Int32Array(total);
  const value = new Float32Array(total);
  let row = 0;
  let off = 0;
  for (const p of pieces) {
    const m = p.ptr.length - 1;
    for (let i = 0; i < m; i++) rowPtr[row + i] = off + p.ptr[i];
    index.set(p.index, off);
    value.set(p.value, off);
    row += m;
    off += p.index.length;
  }
  rowPtr[n] = off;
  return { rows: n, cols: c, rowPtr, index, value };
}

/** Â (n×d) = Z·W_dec (+ b_dec) on `backend`, for host codes Z (n×c). */
export async function decodeSae(
  w: SaeWeights,
  z: HostSparseCodes,
  backend: Backend,
): Promise<Float32Array> {
  const { c, d } = w;
  if (z.cols !== c) throw new UserError(`decode: codes have ${z.cols} columns, the SAE has ${c}`);
  const n = z.rows;
  const out = new Float32Array(n * d);
  if (n === 0) return out;
  const D = backend.upload(w.wDec, [c, d]);
  const bias = w.bDec ? backend.upload(w.bDec, [d]) : null;
  try {
    const rows = 4096;
    for (let start = 0; start < n; start += rows) {
      const m = Math.min(rows, n - start);
      const lo = z.rowPtr[start];
      const hi = z.rowPtr[start + m];
      const nnz = hi - lo;
      const zs = backend.sparse(m, c, Math.max(1, nnz));
      const ptr = new Int32Array(m + 1);
      for (let i = 0; i <= m; i++) ptr[i] = z.rowPtr[start + i] - lo;
      backend.write(zs.rowPtr, ptr);
      if (nnz > 0) {
        backend.write(zs.index, z.index.subarray(lo, hi));
        backend.write(zs.value, z.value.subarray(lo, hi));
      }
      const o = backend.zeros([m, d]);
      backend.sparseDecode(zs, D, bias, o);
      out.set((await backend.read(o)) as Float32Array, start * d);
      backend.dispose(o);
      backend.disposeSparse(zs);
    }
  } finally {
    backend.dispose(D);
    if (bias) backend.dispose(bias);
  }
  return out;
}

/** Wrap host weights (and the training log) as a {@link FittedDictionary}. */
export function saeDictionary(w: SaeWeights, log: EpochLog[] = []): FittedDictionary {
  return {
    method: w.method,
    c: w.c,
    d: w.d,
    dictionary: w.wDec,
    encode: (x, n, backend) => encodeSae(w, x, n, backend),
    decode: (z, backend) => decodeSae(w, z, backend),
    exportWeights: () => exportSae(w),
    log,
  };
}

/**
 * Named tensors (W_enc d×c, b_enc c, W_dec c×d, b_dec d when on, threshold c or 1 when the
 * method has one) and a JSON config describing how to encode:
 * pre = (x − b_dec)·W_enc + b_enc; keep pre > threshold (or the top k per row for topk).
 */
export function exportSae(w: SaeWeights): {
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
  config: Record<string, unknown>;
} {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {
    W_enc: { shape: [w.d, w.c], data: w.wEnc },
    b_enc: { shape: [w.c], data: w.bEnc },
    W_dec: { shape: [w.c, w.d], data: w.wDec },
  };
  if (w.bDec) tensors.b_dec = { shape: [w.d], data: w.bDec };
  if (w.threshold) tensors.threshold = { shape: [w.threshold.length], data: w.threshold };
  return {
    tensors,
    config: {
      method: w.method,
      c: w.c,
      d: w.d,
      k: w.k,
      decoder_bias: w.bDec !== null,
      encoding: w.encoding,
    },
  };
}

function tensorOf(
  tensors: Record<string, { shape: number[]; data: Float32Array }>,
  name: string,
  shape: number[],
): Float32Array {
  const t = tensors[name];
  if (!t) throw new UserError(`weights: tensor '${name}' is missing; re-export the SAE`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new UserError(
      `weights: tensor '${name}' has shape [${t.shape}], expected [${shape}]; re-export the SAE`,
    );
  }
  if (t.data.length !== size) {
    throw new UserError(
      `weights: tensor '${name}' holds ${t.data.length} values, expected ${size}`,
    );
  }
  return t.data;
}

/**
 * Rebuild an SAE from its exported config and tensors (see {@link exportSae}).
 * Throws {@link UserError} naming the config key or tensor at fault.
 */
export function loadSae(
  config: Record<string, unknown>,
  tensors: Record<string, { shape: number[]; data: Float32Array }>,
): FittedDictionary {
  const method = config.method;
  if (typeof method !== "string" || !(saeMethods as readonly string[]).includes(method)) {
    throw new UserError(
      `config.json: 'method' is ${JSON.stringify(method)}; expected one of ${
        saeMethods.join(", ")
      }`,
    );
  }
  const int = (key: string): number => {
    const v = config[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
      throw new UserError(
        `config.json: '${key}' must be a positive integer, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const c = int("c");
  const d = int("d");
  const k = int("k");
  const m = method as SaeMethod;
  const hasBias = config.decoder_bias === true || "b_dec" in tensors;
  let threshold: Float32Array | null = null;
  const encoding = saeVariant(m)!.encoding;
  if (encoding === "per_concept_threshold") threshold = tensorOf(tensors, "threshold", [c]);
  else if (encoding === "global_threshold") threshold = tensorOf(tensors, "threshold", [1]);
  else if (encoding === "relu") {
    threshold = tensors.threshold ? tensorOf(tensors, "threshold", [1]) : new Float32Array(1);
  }
  return saeDictionary({
    method: m,
    encoding,
    c,
    d,
    k,
    wEnc: tensorOf(tensors, "W_enc", [d, c]),
    bEnc: tensorOf(tensors, "b_enc", [c]),
    wDec: tensorOf(tensors, "W_dec", [c, d]),
    bDec: hasBias ? tensorOf(tensors, "b_dec", [d]) : null,
    threshold,
  });
}
