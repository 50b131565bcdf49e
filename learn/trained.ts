/**
 * A trained dictionary after training: loading it back from a `train` key folder and running its
 * encoder or decoder over many rows, block by block (CSR codes concatenated in row order).
 */
import { UserError } from "../pipeline/errors.ts";
import { readSafetensors } from "../data/safetensors.ts";
import type { Backend } from "../kernels/backend.ts";
import type { FittedDictionary, HostSparseCodes } from "./learner.ts";
import { loadMethod } from "./registry.ts";

/** Concatenate CSR code blocks (same `cols`) into one, rows in block order. */
export function concatCodes(blocks: HostSparseCodes[], cols: number): HostSparseCodes {
  const rows = blocks.reduce((s, b) => s + b.rows, 0);
  const nnz = blocks.reduce((s, b) => s + b.rowPtr[b.rows], 0);
  const rowPtr = new Int32Array(rows + 1);
  const index = new Int32Array(nnz);
  const value = new Float32Array(nnz);
  let r = 0;
  let p = 0;
  for (const b of blocks) {
    const m = b.rowPtr[b.rows];
    index.set(b.index.subarray(0, m), p);
    value.set(b.value.subarray(0, m), p);
    for (let i = 1; i <= b.rows; i++) rowPtr[r + i] = p + b.rowPtr[i];
    r += b.rows;
    p += m;
  }
  return { rows, cols, rowPtr, index, value };
}

/** Rows per encode/decode block. */
export const CODE_BLOCK_ROWS = 4096;

/** Encode X (n×d, row-major) block by block into CSR codes (n×c); `onBlock(rows)` after each. */
export async function encodeAll(
  model: FittedDictionary,
  x: Float32Array,
  n: number,
  backend: Backend,
  onBlock?: (rows: number) => void,
): Promise<HostSparseCodes> {
  const d = model.d;
  const blocks: HostSparseCodes[] = [];
  for (let s = 0; s < n; s += CODE_BLOCK_ROWS) {
    const m = Math.min(CODE_BLOCK_ROWS, n - s);
    blocks.push(await model.encode(x.subarray(s * d, (s + m) * d), m, backend));
    onBlock?.(m);
  }
  return concatCodes(blocks, model.c);
}

/** Decode CSR codes (rows×c) block by block into Â (rows×d, row-major). */
export async function decodeAll(
  model: FittedDictionary,
  z: HostSparseCodes,
  backend: Backend,
): Promise<Float32Array> {
  const d = model.d;
  const out = new Float32Array(z.rows * d);
  for (let s = 0; s < z.rows; s += CODE_BLOCK_ROWS) {
    const m = Math.min(CODE_BLOCK_ROWS, z.rows - s);
    const base = z.rowPtr[s];
    const rowPtr = new Int32Array(m + 1);
    for (let i = 0; i <= m; i++) rowPtr[i] = z.rowPtr[s + i] - base;
    const end = z.rowPtr[s + m];
    const block: HostSparseCodes = {
      rows: m,
      cols: z.cols,
      rowPtr,
      index: z.index.subarray(base, end),
      value: z.value.subarray(base, end),
    };
    out.set(await model.decode(block, backend), s * d);
  }
  return out;
}

/** Files of a trained dictionary in a `train` key folder (written by the train stage). */
export const trainedFiles = {
  /** The decoder directions, c×d (data/dictionary_io.ts). */
  dictionary: "dictionary.parquet",
  /** Every weight of the model, loadable from Python (scripts/load_weights.py). */
  weights: "weights.safetensors",
  /** Method, sizes and options of the fit. */
  config: "config.json",
  /** One row per epoch/iteration. */
  log: "log.parquet",
} as const;

/** Load a trained dictionary from a train key folder (config.json + weights.safetensors). */
export async function loadTrained(dir: string): Promise<FittedDictionary> {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await Deno.readTextFile(`${dir}/${trainedFiles.config}`));
  } catch {
    throw new UserError(
      `${dir}/${trainedFiles.config}: missing or not JSON; re-run train (--force train)`,
    );
  }
  const { tensors } = await readSafetensors(`${dir}/${trainedFiles.weights}`);
  return loadMethod(config, tensors);
}
